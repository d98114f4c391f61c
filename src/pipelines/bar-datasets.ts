import { z } from 'zod';
import { BAR_SIZE_TOKENS, rawPartitionToken, type BarSize } from '../core/bars.js';
import type { WhatToShow } from '../core/instruments.js';
import { BAR_DATASET_NAME } from './source-dataset.js';
import { dqRuleSchema, gapsConfigSchema, type DqRule, type DqRulesConfig, type GapsConfig } from '../data-quality/dq-config.js';

/**
 * Bar datasets (issue 19): the transform is a template instantiated once per dataset declared
 * in `bar_datasets` (the key `datasets` names training datasets). Each dataset has its own raw
 * partition (`raw/tws_bars/bar_size=<token>[-<what_to_show>]/`), DQ rules, gap config, curated
 * table (`curated/<name>/`) and quarantine / DQ-ledger / metrics key. Absent, there is exactly
 * one: `bars_<gaps.frequency>` from `tws.historical_bar_size`, `dq_rules.tws_bars` and `gaps`,
 * with the lake layout of earlier releases.
 *
 * ```yaml
 * bar_datasets:
 *   - { name: bars_1min, bar_size: 1 min }                      # the classic one (keys tws_bars)
 *   - { name: bars_1d, bar_size: 1 day, dq_rules: daily_bars, gaps: { max_gap_bars: 3 } }
 *   - { name: bars_1min_bid, bar_size: 1 min, what_to_show: BID, instruments: [EURUSD] }
 * ```
 */

export const BAR_SIZE_NAMES = ['5 secs', '1 min', '5 mins', '15 mins', '1 hour', '1 day'] as const satisfies readonly BarSize[];
const WHAT_TO_SHOW = ['TRADES', 'MIDPOINT', 'BID', 'ASK', 'BID_ASK', 'ADJUSTED_LAST'] as const satisfies readonly WhatToShow[];

/** The quarantine / DQ-ledger / metrics key of the classic dataset (and its `dq_rules` entry). */
export const LEGACY_DQ_KEY = 'tws_bars';

const barDatasetObject = z
  .object({
    /** Curated dataset (`curated/<name>/`), also what feature groups and alignments name as `source`. */
    name: z.string().regex(BAR_DATASET_NAME, 'expected bars_<bar size>[_<suffix>], e.g. bars_1d, bars_1min_bid'),
    bar_size: z.enum(BAR_SIZE_NAMES),
    /** The IB series requested for every instrument of the dataset; absent: each instrument's own. */
    what_to_show: z.enum(WHAT_TO_SHOW).optional(),
    /** Instrument keys in the dataset; absent: every configured instrument. */
    instruments: z.array(z.string()).min(1).optional(),
    /** A rule list, or the name of a `dq_rules` entry; absent: `dq_rules.<key>` (see {@link BarDataset.dqKey}) or none. */
    dq_rules: z.union([z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'expected a dq_rules entry name'), z.array(dqRuleSchema)]).optional(),
    /** Gap config; `frequency` defaults to the bar size; absent: the top-level `gaps` at this bar size. */
    gaps: gapsConfigSchema.optional(),
  })
  .strict();

/** A dataset entry; a `gaps` block without `frequency` gets the dataset's bar size. */
export const barDatasetConfigSchema = z.preprocess((raw) => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  const size = r.bar_size;
  const gaps = r.gaps;
  if (typeof size === 'string' && size in BAR_SIZE_TOKENS && typeof gaps === 'object' && gaps !== null && !Array.isArray(gaps) && !('frequency' in gaps)) {
    return { ...r, gaps: { ...gaps, frequency: BAR_SIZE_TOKENS[size as BarSize] } };
  }
  return raw;
}, barDatasetObject);
export type BarDatasetConfig = z.infer<typeof barDatasetObject>;

export const barDatasetsConfigSchema = z
  .array(barDatasetConfigSchema)
  .min(1, 'declare at least one dataset, or leave bar_datasets out')
  .superRefine((list, ctx) => {
    const names = new Map<string, number>();
    const partitions = new Map<string, number>();
    list.forEach((d, i) => {
      const prev = names.get(d.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate dataset ${d.name} (also bar_datasets[${prev}])` });
      names.set(d.name, i);
      if (BAR_DATASET_NAME.exec(d.name)?.[1] !== BAR_SIZE_TOKENS[d.bar_size]) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `must start with bars_${BAR_SIZE_TOKENS[d.bar_size]} (its bar size), e.g. bars_${BAR_SIZE_TOKENS[d.bar_size]}_bid` });
      }
      const part = rawPartitionToken(d.bar_size, d.what_to_show ?? null);
      const p = partitions.get(part);
      if (p !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'bar_size'], message: `same bar size and what_to_show as bar_datasets[${p}]: both would read raw/tws_bars/bar_size=${part}` });
      }
      partitions.set(part, i);
      if (d.gaps && d.gaps.frequency !== BAR_SIZE_TOKENS[d.bar_size]) {
        ctx.addIssue({ code: 'custom', path: [i, 'gaps', 'frequency'], message: `must equal the bar size (${BAR_SIZE_TOKENS[d.bar_size]}); the transform does not resample` });
      }
    });
  })
  .optional();

/** A dataset as the jobs use it: every default applied. */
export interface BarDataset {
  /** Curated dataset, e.g. `bars_1d`. */
  readonly name: string;
  readonly barSize: BarSize;
  /** The what_to_show the dataset requests for every instrument; null: each instrument's own. */
  readonly series: WhatToShow | null;
  /** Instrument keys; null: every configured instrument. */
  readonly instruments: readonly string[] | null;
  /** Raw partition value: `bar_size=<rawPartition>` (`1min`, `1d`, `1min-bid`). */
  readonly rawPartition: string;
  /** Quarantine folder, DQ ledger `dataset` and metrics label: `tws_bars` for the classic dataset, else the name. */
  readonly dqKey: string;
  readonly rules: readonly DqRule[];
  readonly gaps: GapsConfig;
  /** One bar per session, stamped at the session's open (calendar bars, not a fixed-length grid). */
  readonly daily: boolean;
}

/** The config slice the datasets are resolved from. */
export interface BarDatasetSettings {
  readonly bar_datasets?: readonly BarDatasetConfig[] | undefined;
  readonly tws: { readonly historical_bar_size: BarSize };
  readonly dq_rules: DqRulesConfig;
  readonly gaps: GapsConfig;
}

/** The configured bar datasets, in declaration order (the classic single dataset when none is declared). */
export function resolveBarDatasets(cfg: BarDatasetSettings): BarDataset[] {
  const legacySize = cfg.tws.historical_bar_size;
  if (!cfg.bar_datasets) {
    return [
      {
        name: `bars_${cfg.gaps.frequency}`,
        barSize: legacySize,
        series: null,
        instruments: null,
        rawPartition: rawPartitionToken(legacySize, null),
        dqKey: LEGACY_DQ_KEY,
        rules: cfg.dq_rules[LEGACY_DQ_KEY] ?? [],
        gaps: cfg.gaps,
        daily: legacySize === '1 day',
      },
    ];
  }
  return cfg.bar_datasets.map((d) => {
    const series = d.what_to_show ?? null;
    // The classic dataset keeps its keys, so a lake written before bar_datasets reads on.
    const classic = series === null && d.bar_size === legacySize && d.name === `bars_${BAR_SIZE_TOKENS[legacySize]}`;
    const dqKey = classic ? LEGACY_DQ_KEY : d.name;
    const rules = typeof d.dq_rules === 'string' ? (cfg.dq_rules[d.dq_rules] ?? []) : (d.dq_rules ?? cfg.dq_rules[dqKey] ?? []);
    return {
      name: d.name,
      barSize: d.bar_size,
      series,
      instruments: d.instruments ?? null,
      rawPartition: rawPartitionToken(d.bar_size, series),
      dqKey,
      rules,
      gaps: d.gaps ?? { ...cfg.gaps, frequency: BAR_SIZE_TOKENS[d.bar_size] },
      daily: d.bar_size === '1 day',
    };
  });
}

/** Config problems that need the rest of the config: unknown instruments and dq_rules names. */
export function barDatasetReferenceIssues(cfg: { bar_datasets?: readonly BarDatasetConfig[] | undefined; instruments: readonly { key: string }[]; dq_rules: DqRulesConfig }): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const keys = new Set(cfg.instruments.map((i) => i.key));
  (cfg.bar_datasets ?? []).forEach((d, i) => {
    d.instruments?.forEach((k, j) => {
      if (!keys.has(k)) out.push({ path: ['bar_datasets', i, 'instruments', j], message: `unknown instrument ${k}` });
    });
    if (typeof d.dq_rules === 'string' && !(d.dq_rules in cfg.dq_rules)) {
      out.push({ path: ['bar_datasets', i, 'dq_rules'], message: `no dq_rules entry named ${d.dq_rules}` });
    }
  });
  return out;
}

/** The dataset named `name`; ConfigError-free lookup for jobs (undefined when not configured). */
export function findBarDataset(datasets: readonly BarDataset[], name: string): BarDataset | undefined {
  return datasets.find((d) => d.name === name);
}
