import type { SourceConfig } from './sources-config.js';

/**
 * Which environment variables the configured sources may read. Free of the drivers on purpose:
 * every `ibpipe run` and the daemon pick the variables before knowing whether a source runs.
 */

/** Environment variables a PostgreSQL source may read (plus its own `url_env`). */
export const PG_ENV_NAMES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE', 'PGSSLMODE'] as const;

/** Only the variables the configured sources read, out of an environment (the CLI passes process.env). */
export function pickSourceEnv(sources: readonly SourceConfig[], env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  return Object.fromEntries(sourceEnvNames(sources).map((n) => [n, env[n]]));
}

/** Names of the environment variables the configured sources read (for the CLI to pass down). */
export function sourceEnvNames(sources: readonly SourceConfig[]): string[] {
  const names = new Set<string>();
  for (const s of sources) {
    if (s.type === 'module') for (const n of s.env) names.add(n);
    if (s.type !== 'postgres') continue;
    if (s.url_env !== undefined) names.add(s.url_env);
    else for (const n of PG_ENV_NAMES) names.add(n);
  }
  return [...names];
}
