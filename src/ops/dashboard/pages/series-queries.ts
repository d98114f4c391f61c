import { existsSync, readdirSync } from 'node:fs';
import { InputError } from '../../../core/errors.js';
import { sqlIdent, sqlString } from '../../../core/sql.js';
import type { LakeRow } from '../../../storage/lake.js';
import { NAME, checkDate, compare, dateDirs, type DashboardContext } from '../dashboard-context.js';

// The series page: a session's closes, one feature overlaid, the latest predictions.

const COLUMN = /^[a-z][a-z0-9_]{0,62}$/;

export interface FeatureChoice {
  readonly group: string;
  readonly version: string;
  readonly column: string;
}

export interface SeriesView {
  readonly symbol: string;
  readonly date: string;
  readonly timezone: string;
  readonly feature: FeatureChoice | null;
  readonly catalog: FeatureChoice[];
  readonly ts: number[];
  readonly close: (number | null)[];
  readonly imputed: boolean[];
  readonly imputation: (string | null)[];
  readonly featureValues: (number | null)[] | null;
  readonly featureMissing: string | null;
  readonly predictions: { model: string; date: string; columns: { name: string; type: string }[]; rows: LakeRow[] }[];
}

/** Every feature column of every registered group version that has files on disk. */
export function featureCatalog(ctx: DashboardContext): FeatureChoice[] {
  const out: FeatureChoice[] = [];
  const seen = new Set<string>();
  for (const r of [...ctx.featureRegistry.readAll()].reverse()) {
    const key = `${r.group}|${r.version}`;
    if (seen.has(key) || !NAME.test(r.group) || !NAME.test(r.version)) continue;
    seen.add(key);
    if (!existsSync(ctx.src.lake.path('features', r.group, `v=${r.version}`))) continue;
    for (const c of r.columns) if (COLUMN.test(c)) out.push({ group: r.group, version: r.version, column: c });
  }
  return out.sort((a, b) => compare(a.group, b.group) || compare(b.version, a.version) || compare(a.column, b.column));
}

/** Curated close of one session with imputed bars marked, one feature overlaid, latest predictions. */
export async function seriesView(ctx: DashboardContext, symbol: string, date: string | null, feature: string | null): Promise<SeriesView> {
  ctx.checkSymbol(symbol);
  const d = date ? checkDate(date) : (ctx.curatedDates().at(-1) ?? ctx.src.calendars.calendarFor(symbol).sessionDateOf(ctx.now()));
  const cal = ctx.src.calendars.calendarFor(symbol);
  const catalog = featureCatalog(ctx);
  let choice: FeatureChoice | null = null;
  if (feature) {
    const [g, v, c] = feature.split(':');
    choice = catalog.find((f) => f.group === g && f.version === v && f.column === c) ?? null;
    if (!choice) throw new InputError(`unknown feature ${JSON.stringify(feature)}: expected group:version:column from the registry`);
  } else choice = catalog[0] ?? null;

  const file = ctx.curatedFile(d);
  const bars = existsSync(file)
    ? await ctx.src.lake.queryColumns(`SELECT ts, close, coalesce(is_imputed, false) AS imp, imputation FROM read_parquet(${sqlString(file)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)} ORDER BY ts`)
    : { names: [], columns: [[], [], [], []] };
  const ts = (bars.columns[0] ?? []) as number[];
  let featureValues: (number | null)[] | null = null;
  let featureMissing: string | null = null;
  if (choice) {
    const ffile = ctx.src.lake.path('features', choice.group, `v=${choice.version}`, `date=${d}`, 'data.parquet');
    if (existsSync(ffile)) {
      const fr = await ctx.src.lake.queryColumns(
        `SELECT ts, CAST(${sqlIdent(choice.column)} AS DOUBLE) AS v FROM read_parquet(${sqlString(ffile)}, hive_partitioning = false) WHERE symbol = ${sqlString(symbol)}`,
      );
      const byTs = new Map<number, number | null>();
      const fts = (fr.columns[0] ?? []) as number[];
      const fv = (fr.columns[1] ?? []) as (number | null)[];
      fts.forEach((t, i) => byTs.set(t, fv[i] ?? null));
      featureValues = ts.map((t) => byTs.get(t) ?? null);
    } else featureMissing = `no ${choice.group} v${choice.version} partition for ${d}`;
  }
  return {
    symbol,
    date: d,
    timezone: cal.timezone,
    feature: choice,
    catalog,
    ts,
    close: (bars.columns[1] ?? []) as (number | null)[],
    imputed: (bars.columns[2] ?? []) as boolean[],
    imputation: (bars.columns[3] ?? []) as (string | null)[],
    featureValues,
    featureMissing,
    predictions: await predictions(ctx, symbol, d),
  };
}

/** Per model: the newest predictions partition on or before `date`, this symbol's latest rows. */
async function predictions(ctx: DashboardContext, symbol: string, date: string): Promise<SeriesView['predictions']> {
  const root = ctx.src.lake.path('predictions');
  if (!existsSync(root)) return [];
  const out: SeriesView['predictions'] = [];
  for (const model of readdirSync(root).filter((m) => NAME.test(m)).sort()) {
    const d = dateDirs(ctx.src.lake.path('predictions', model))
      .filter((x) => x <= date && existsSync(ctx.src.lake.path('predictions', model, `date=${x}`, 'data.parquet')))
      .at(-1);
    if (!d) continue;
    const file = sqlString(ctx.src.lake.path('predictions', model, `date=${d}`, 'data.parquet'));
    const columns = (await ctx.src.lake.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM read_parquet(${file}, hive_partitioning = false)`)).map((c) => ({
      name: c.column_name,
      type: c.column_type,
    }));
    const names = new Set(columns.map((c) => c.name));
    const order = ['scoring_ts', 'ts', 'as_of', 'prediction_ts'].find((c) => names.has(c));
    const where = names.has('symbol') ? `WHERE symbol = ${sqlString(symbol)}` : '';
    const rows = await ctx.src.lake.query(`SELECT * FROM read_parquet(${file}, hive_partitioning = false) ${where} ${order ? `ORDER BY ${sqlIdent(order)} DESC` : ''} LIMIT 20`);
    out.push({ model, date: d, columns, rows });
  }
  return out;
}
