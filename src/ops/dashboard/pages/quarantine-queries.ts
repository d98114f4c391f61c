import { existsSync } from 'node:fs';
import { InputError } from '../../../core/errors.js';
import { sqlString } from '../../../core/sql.js';
import { TRANSFORM_SOURCE_DATASET } from '../../../pipelines/transform-pipeline.js';
import type { LakeRow } from '../../../storage/lake.js';
import { NAME, checkDate, type DashboardContext } from '../dashboard-context.js';

// The quarantine page: rejected rows of a date.

export interface QuarantineView {
  readonly date: string;
  readonly dataset: string;
  readonly symbol: string | null;
  readonly rule: string | null;
  readonly total: number;
  readonly rows: LakeRow[];
  readonly byRule: { rule: string; stage: string; n: number }[];
}

/** Quarantined rows of a date, optionally one symbol and/or rule (at most `limit` rows listed). */
export async function quarantineView(ctx: DashboardContext, date: string, opts: { symbol?: string | null; rule?: string | null; dataset?: string | null; limit?: number } = {}): Promise<QuarantineView> {
  checkDate(date);
  const dataset = opts.dataset ?? TRANSFORM_SOURCE_DATASET;
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(dataset)) throw new InputError(`invalid dataset ${JSON.stringify(dataset)}`);
  const symbol = opts.symbol ? ctx.checkSymbol(opts.symbol) : null;
  const rule = opts.rule ?? null;
  if (rule !== null && !NAME.test(rule)) throw new InputError(`invalid rule name ${JSON.stringify(rule)}`);
  const file = ctx.quarantineFile(date, dataset);
  if (!existsSync(file)) return { date, dataset, symbol, rule, total: 0, rows: [], byRule: [] };
  const rel = `read_parquet(${sqlString(file)}, hive_partitioning = false)`;
  const where = [symbol ? `symbol = ${sqlString(symbol)}` : null, rule ? `rule = ${sqlString(rule)}` : null].filter(Boolean).join(' AND ');
  const cond = where ? `WHERE ${where}` : '';
  const limit = Math.max(1, Math.min(5000, opts.limit ?? 500));
  const rows = await ctx.src.lake.query(
    `SELECT symbol, ts, stage, rule, reason, other_rules, open, high, low, close, volume, batch_id, ingestion_ts FROM ${rel} ${cond} ORDER BY symbol, ts NULLS FIRST, stage, rule LIMIT ${limit}`,
  );
  const byRule = await ctx.src.lake.query<{ rule: string; stage: string; n: number }>(`SELECT rule, stage, count(*) AS n FROM ${rel} ${cond} GROUP BY ALL ORDER BY n DESC, rule`);
  return { date, dataset, symbol, rule, total: byRule.reduce((s, r) => s + r.n, 0), rows, byRule };
}
