import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL cluster from Debian's packages (`apt-get install postgresql`): initdb into
 * a temp dir, pg_ctl start on a free port on 127.0.0.1, trust auth for user `postgres`. PostgreSQL
 * refuses to run as root, so under root every server command runs as the `postgres` system user
 * (created by the Debian package) and the temp dir is handed to it.
 */
export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly dataDir: string;
  /** PG* variables that point a client at this server. */
  readonly env: Record<string, string>;
  /** A connected client (caller ends it). */
  connect(): Promise<pg.Client>;
  /** Runs SQL on a fresh connection. */
  sql(text: string, params?: unknown[]): Promise<pg.QueryResult>;
  /** Stops the server (fast mode: open connections are terminated). */
  stop(): void;
  /** Starts it again on the same port and data dir. */
  start(): void;
  /** Stops it for good and deletes the data dir. */
  destroy(): void;
}

export type StartResult = { ok: true; server: PostgresServer } | { ok: false; reason: string };

function findBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function serverUser(): { uid: number; gid: number; name: string } | null {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root and there is no "postgres" system user to run the server as');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()), name: 'postgres' };
}

/** Starts a fresh cluster, or says why it cannot. */
export async function startPostgres(): Promise<StartResult> {
  const bin = findBinDir();
  if (!bin) return { ok: false, reason: 'no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)' };
  let asUser: ReturnType<typeof serverUser>;
  try {
    asUser = serverUser();
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-pg-'));
  const dataDir = join(dir, 'data');
  if (asUser) chownSync(dir, asUser.uid, asUser.gid);
  const run = (cmd: string, args: string[]): void => {
    const full = join(bin, cmd);
    const [file, argv] = asUser ? ['runuser', ['-u', asUser.name, '--', full, ...args]] : [full, args];
    execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, timeout: 60_000 });
  };
  const port = await freePort();
  // Durability is irrelevant for a throwaway cluster; turning it off keeps start-up and writes fast.
  const serverOpts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=30 -c shared_buffers=16MB`;
  const start = (): void => run('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-o', serverOpts, '-w', '-t', '30', 'start']);
  const stop = (): void => {
    try {
      run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    } catch {
      // already stopped
    }
  };
  try {
    run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    start();
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    stop();
    rmSync(dir, { recursive: true, force: true });
    return { ok: false, reason: `PostgreSQL did not start: ${e.stderr?.toString().trim() || e.message}` };
  }
  let destroyed = false;
  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    try {
      run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A test worker that dies without afterAll must not leave a server behind.
  process.once('exit', destroy);
  const env = { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  return {
    ok: true,
    server: {
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      dataDir,
      env,
      connect,
      async sql(text, params) {
        const c = await connect();
        try {
          return await c.query(text, params);
        } finally {
          await c.end();
        }
      },
      stop,
      start,
      destroy,
    },
  };
}

/**
 * For test files: start a server, or skip with the reason — unless CI_REQUIRE_POSTGRES=1
 * (set by .ci/run), where a server that cannot start is a failure, never a silent skip.
 */
export async function startPostgresOrSkip(): Promise<PostgresServer | null> {
  const r = await startPostgres();
  if (r.ok) return r.server;
  if (process.env.CI_REQUIRE_POSTGRES === '1') throw new Error(`CI_REQUIRE_POSTGRES=1 but ${r.reason}`);
  console.warn(`SKIPPING PostgreSQL tests: ${r.reason}`);
  return null;
}
