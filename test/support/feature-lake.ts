import type { CuratedBarRow } from '../../src/storage/tables/curated-bars.js';
import { ManualClock } from '../../src/core/clock.js';
import { computeFeatureGroup } from '../../src/pipelines/features/compute-feature-group.js';
import { featureGroupSchema, specOutputColumns, type FeatureGroup, type FeatureGroupInput } from '../../src/pipelines/features/feature-config.js';
import { canonicalFeatureDefinition, featureDefinitionHash } from '../../src/pipelines/features/feature-definition-hash.js';
import { FeatureStore } from '../../src/storage/feature-store.js';
import { priceAt } from './bar-factory.js';
import type { TempLake } from './temp-lake.js';

export const BAR_MS = 60_000;
export const CURATED = 'bars_1min';

/** A small feature group computed by the real feature functions. */
export const TECH_GROUP_INPUT: FeatureGroupInput = {
  name: 'tech',
  version: 'v1',
  source: CURATED,
  features: [
    { name: 'ret_1', fn: 'returns', column: 'close', period: 1 },
    { name: 'sma_3', fn: 'sma', column: 'close', window: 3 },
  ],
};
export const TECH_GROUP: FeatureGroup = featureGroupSchema.parse(TECH_GROUP_INPUT);

export function curatedRow(symbol: string, ts: number, close: number, imputed = false): CuratedBarRow {
  return {
    symbol,
    ts,
    available_ts: ts + 60_000,
    open: close,
    high: close + 0.5,
    low: close - 0.5,
    close,
    volume: imputed ? 0 : 1000,
    wap: close,
    trade_count: imputed ? 0 : 10,
    is_imputed: imputed,
    imputation: imputed ? 'ffill' : null,
    open_imputed: imputed,
    high_imputed: imputed,
    low_imputed: imputed,
    close_imputed: imputed,
    volume_imputed: imputed,
    wap_imputed: imputed,
    trade_count_imputed: imputed,
  };
}

export interface SeriesOptions {
  /** Close of a bar (default: the bar factory's deterministic price). */
  close?: (symbol: string, ts: number) => number;
  /** Bars marked imputed (their close is still `close`). */
  imputed?: (symbol: string, ts: number) => boolean;
}

/** Every regular-session 1-min bar of the dates for the symbols, one curated partition per date. */
export async function writeCuratedDays(t: TempLake, symbols: readonly string[], dates: readonly string[], o: SeriesOptions = {}): Promise<CuratedBarRow[]> {
  const close = o.close ?? ((s: string, ts: number) => priceAt(s, ts));
  const all: CuratedBarRow[] = [];
  for (const date of dates) {
    const rows: CuratedBarRow[] = [];
    for (const symbol of symbols) {
      const session = t.calendars.calendarFor(symbol).session(date);
      if (!session) continue;
      for (let ts = session.open; ts < session.close; ts += BAR_MS) rows.push(curatedRow(symbol, ts, close(symbol, ts), o.imputed?.(symbol, ts) ?? false));
    }
    await t.curated.writeCuratedBars(rows, CURATED, date, symbols);
    all.push(...rows);
  }
  return all;
}

export function featureStoreFor(t: TempLake): FeatureStore {
  return new FeatureStore(t.lake, t.calendars, new ManualClock(Date.parse('2024-12-01T00:00:00Z')));
}

/**
 * Computes the group over each symbol's whole curated series (so every bar has full history)
 * and writes one feature partition per date. `skip` leaves chosen bars without a feature row.
 */
export async function writeFeatureDays(
  t: TempLake,
  store: FeatureStore,
  rows: readonly CuratedBarRow[],
  dates: readonly string[],
  options: { group?: FeatureGroup; version?: string; skip?: (symbol: string, ts: number) => boolean } = {},
): Promise<void> {
  const group = options.group ?? TECH_GROUP;
  const version = options.version ?? group.version;
  const columns = group.features.flatMap(specOutputColumns);
  const bySymbol = new Map<string, CuratedBarRow[]>();
  for (const r of rows) {
    const list = bySymbol.get(r.symbol) ?? [];
    list.push(r);
    bySymbol.set(r.symbol, list);
  }
  const out: { symbol: string; ts: number; date: string; imputed: boolean; values: number[] }[] = [];
  for (const [symbol, list] of bySymbol) {
    list.sort((a, b) => a.ts - b.ts);
    const sessionDate = list.map((r) => t.calendars.sessionDateOf(symbol, r.ts));
    const result = computeFeatureGroup(
      {
        ts: list.map((r) => r.ts),
        open: list.map((r) => r.open),
        high: list.map((r) => r.high),
        low: list.map((r) => r.low),
        close: list.map((r) => r.close),
        volume: list.map((r) => r.volume),
        sessionDate,
      },
      group,
    );
    list.forEach((r, i) => {
      if (options.skip?.(symbol, r.ts)) return;
      out.push({ symbol, ts: r.ts, date: sessionDate[i] as string, imputed: r.is_imputed, values: columns.map((c) => (result.columns[c] as Float64Array)[i] as number) });
    });
  }
  const symbols = [...bySymbol.keys()].sort();
  for (const date of dates) {
    const day = out.filter((r) => r.date === date);
    const data: Record<string, unknown[]> = {
      symbol: day.map((r) => r.symbol),
      ts: day.map((r) => r.ts),
      available_ts: day.map((r) => r.ts + BAR_MS),
      is_imputed: day.map((r) => r.imputed),
      imputation: day.map((r) => (r.imputed ? 'ffill' : null)),
    };
    columns.forEach((c, j) => (data[c] = day.map((r) => r.values[j])));
    await store.writeFeatures(
      { group: group.name, version, definitionHash: featureDefinitionHash(group), definition: JSON.parse(canonicalFeatureDefinition(group)), date, symbols, featureColumns: columns },
      data,
      day.length,
    );
  }
}
