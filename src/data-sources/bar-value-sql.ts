import { sqlString } from '../core/sql.js';
import {
  DATE_ONLY_PATTERN,
  DECIMAL_PATTERN,
  EPOCH_PATTERN,
  ISO_GROUPS,
  ISO_INSTANT_PATTERN,
  PLAUSIBLE_FROM_MS,
  PLAUSIBLE_TO_MS,
  PROBLEMS,
  type Problem,
} from './bar-value-rules.js';

/**
 * The rules of bar-value-rules.ts as DuckDB expressions, so files are checked set-based in the
 * engine. Each builder returns a `value` expression (NULL when the cell is refused) and a
 * `problem` expression (NULL, or one of PROBLEMS word for word). Work shared by both is computed
 * once per row in named intermediate columns, added to a LayeredSelect.
 */

/** Nested SELECTs adding named per-row expressions level by level (a level may use the ones below it). */
export class LayeredSelect {
  readonly #levels: string[][] = [];
  #seq = 0;

  /** Adds `expr` at `level` (0 = over the source) and returns the name to refer to it by. */
  add(level: number, label: string, expr: string): string {
    const name = `_${label}_${++this.#seq}`;
    const l = (this.#levels[level] ??= []);
    l.push(`${expr} AS ${name}`);
    return name;
  }

  /** `from` with every level's columns added (`SELECT *, … FROM (…)`, innermost level first). */
  wrap(from: string): string {
    let sql = from;
    for (const exprs of this.#levels) if (exprs && exprs.length > 0) sql = `(SELECT *, ${exprs.join(', ')} FROM ${sql})`;
    return sql;
  }
}

export interface ParsedSql {
  readonly value: string;
  readonly problem: string;
}

const p = (problem: Problem): string => sqlString(problem);
const FROM_TS = `TIMESTAMPTZ '${new Date(PLAUSIBLE_FROM_MS).toISOString()}'`;
const TO_TS = `TIMESTAMPTZ '${new Date(PLAUSIBLE_TO_MS).toISOString()}'`;
const inRangeMs = (ms: string): string => `(${ms} >= ${PLAUSIBLE_FROM_MS} AND ${ms} < ${PLAUSIBLE_TO_MS})`;

/** Epoch ms (BIGINT) to TIMESTAMPTZ (the lake's session zone is UTC). */
export function msToTimestamptz(ms: string): string {
  return `CAST(epoch_ms(${ms}) AS TIMESTAMPTZ)`;
}

/** Offset (ms) of `zone`'s wall clock from UTC at the instant `ms`. */
function offsetAt(zone: string, ms: string): string {
  return `(epoch_ms(timezone(${sqlString(zone)}, timezone('UTC', epoch_ms(${ms})))) - (${ms}))`;
}

/**
 * A wall time (epoch ms of the same civil date and time read as UTC) in a declared zone to the
 * UTC instant in ms: the same candidate test as localToInstantStrict (offsets a day either side),
 * refusing skipped and repeated readings.
 */
export function localToUtcSql(q: LayeredSelect, level: number, wallMs: string, zone: string): ParsedSql & { nextLevel: number } {
  const before = q.add(level, 'off_before', offsetAt(zone, `${wallMs} - 86400000`));
  const after = q.add(level, 'off_after', offsetAt(zone, `${wallMs} + 86400000`));
  const ca = `(${wallMs} - ${before})`;
  const cb = `(${wallMs} - ${after})`;
  const va = q.add(level + 1, 'valid_a', `(${ca} + ${offsetAt(zone, ca)} = ${wallMs})`);
  const vb = q.add(level + 1, 'valid_b', `(${cb} + ${offsetAt(zone, cb)} = ${wallMs})`);
  return {
    value: `CASE WHEN ${before} = ${after} OR (${va} AND NOT ${vb}) THEN ${ca} WHEN ${vb} AND NOT ${va} THEN ${cb} END`,
    problem: `CASE WHEN ${wallMs} IS NULL OR ${before} = ${after} THEN NULL WHEN ${va} AND ${vb} THEN ${p(PROBLEMS.ambiguous)} WHEN ${va} OR ${vb} THEN NULL ELSE ${p(PROBLEMS.nonexistent)} END`,
    nextLevel: level + 2,
  };
}

/** A pattern that also allows blanks around the value (CSV cells are not trimmed first: trimming every cell costs). */
export function padded(pattern: string): string {
  return `^[ \\t]*(?:${pattern.slice(1, -1)})[ \\t]*$`;
}

/**
 * The common, unambiguous ISO-8601 form with every field range-checked in the pattern: for it,
 * DuckDB's own TIMESTAMPTZ cast (which refuses a day the month does not have) gives the instant.
 * Anything else takes the slow, exact path.
 */
const FAST_ZONED = padded(
  '^\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])[T ](?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:Z|[+-](?:[01]\\d|2[0-3])(?::?[0-5]\\d)?)$',
);

/**
 * Epoch ms of an epoch number (DECIMAL(38,9)) whose unit its magnitude gives; NULL when implausible
 * in every unit. Numbers of 21 digits and more are NULL before any scaling: `e * 1000` of one
 * beyond 10^26 overflows the DECIMAL and DuckDB fails the whole read instead of refusing the cell.
 */
function epochMsSql(e: string): string {
  return `CASE WHEN ${e} IS NULL OR ${e} < 0 OR ${e} >= 100000000000000000000 THEN NULL
          WHEN ${inRangeMs(`floor(${e} * 1000)`)} THEN CAST(floor(${e} * 1000) AS BIGINT)
          WHEN ${inRangeMs(`floor(${e})`)} THEN CAST(floor(${e}) AS BIGINT)
          WHEN ${inRangeMs(`floor(${e} / 1000)`)} THEN CAST(floor(${e} / 1000) AS BIGINT)
          WHEN ${inRangeMs(`floor(${e} / 1000000)`)} THEN CAST(floor(${e} / 1000000) AS BIGINT) END`;
}

/**
 * An instant written as text (`x`: a VARCHAR cell, NULL when empty, blanks around allowed):
 * ISO-8601 or an epoch number. `value` is epoch ms (BIGINT). The common forms (an epoch number,
 * `2024-11-26 14:30:00+00`-like text) take fast paths; the exact field-by-field parse only runs
 * for the rest, so only unusual or bad cells pay for it.
 */
export function instantFromTextSql(q: LayeredSelect, x: string, zone: string | null): ParsedSql {
  const e = q.add(0, 'epoch', `CASE WHEN regexp_full_match(${x}, ${sqlString(padded(EPOCH_PATTERN))}) THEN TRY_CAST(trim(${x}) AS DECIMAL(38,9)) END`);
  const fast = q.add(0, 'fast', `CASE WHEN regexp_full_match(${x}, ${sqlString(FAST_ZONED)}) THEN epoch_ms(TRY_CAST(trim(${x}) AS TIMESTAMPTZ)) END`);
  const epochMs = q.add(1, 'epoch_ms', epochMsSql(e));
  const slow = `${e} IS NULL AND ${fast} IS NULL`;
  const m = q.add(1, 'iso', `CASE WHEN ${slow} THEN regexp_extract(${x}, ${sqlString(padded(ISO_INSTANT_PATTERN))}, [${ISO_GROUPS.map((g) => sqlString(g)).join(', ')}]) END`);
  const g = (name: (typeof ISO_GROUPS)[number]): string => `struct_extract(${m}, ${sqlString(name)})`;
  const int = (name: (typeof ISO_GROUPS)[number]): string => `TRY_CAST(NULLIF(${g(name)}, '') AS INTEGER)`;
  const shape = q.add(2, 'shape', `coalesce(${g('y')} <> '', false)`);
  const [y, mo, d, h, mi] = (['y', 'mo', 'd', 'h', 'mi'] as const).map((k) => q.add(2, `iso_${k}`, int(k)));
  const s = q.add(2, 'iso_s', `coalesce(${int('s')}, 0)`);
  const frac = q.add(2, 'iso_frac', `coalesce(TRY_CAST(NULLIF(left(rpad(${g('f')}, 3, '0'), 3), '000') AS INTEGER), 0)`);
  const oh = q.add(2, 'iso_oh', int('oh'));
  const om = q.add(2, 'iso_om', `coalesce(${int('om')}, 0)`);
  const sign = q.add(2, 'iso_sign', g('sg'));
  const zulu = q.add(2, 'iso_z', `coalesce(${g('z')} <> '', false)`);
  const leap = `((${y} % 4 = 0 AND ${y} % 100 <> 0) OR ${y} % 400 = 0)`;
  const dim = `CASE ${mo} WHEN 2 THEN CASE WHEN ${leap} THEN 29 ELSE 28 END WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30 ELSE 31 END`;
  const dateOk = q.add(3, 'date_ok', `coalesce(${mo} BETWEEN 1 AND 12 AND ${d} BETWEEN 1 AND ${dim}, false)`);
  const timeOk = q.add(3, 'time_ok', `coalesce(${h} <= 23 AND ${mi} <= 59 AND ${s} <= 59, false)`);
  const offOk = q.add(3, 'off_ok', `(${oh} IS NULL OR (${oh} <= 23 AND ${om} <= 59))`);
  // Only rows whose date and time are valid reach make_timestamp (CASE evaluates lazily per row).
  const wall = q.add(4, 'wall', `CASE WHEN ${shape} AND ${dateOk} AND ${timeOk} THEN epoch_ms(make_timestamp(${y}, ${mo}, ${d}, ${h}, ${mi}, ${s})) + ${frac} END`);
  const offsetMs = `(CASE WHEN ${sign} = '-' THEN -1 ELSE 1 END * (${oh} * 60 + ${om}) * 60000)`;
  const zoned = q.add(5, 'zoned', `CASE WHEN ${zulu} THEN ${wall} WHEN ${oh} IS NOT NULL AND ${offOk} THEN ${wall} - ${offsetMs} END`);
  const naive = `(NOT ${zulu} AND ${oh} IS NULL)`;
  let localValue = 'NULL';
  let localProblem = p(PROBLEMS.zoneless);
  if (zone !== null) {
    const local = localToUtcSql(q, 5, `CASE WHEN ${naive} THEN ${wall} END`, zone);
    localValue = local.value;
    localProblem = local.problem;
  }
  const iso = q.add(9, 'iso_ms', `CASE WHEN ${zoned} IS NOT NULL THEN ${zoned} WHEN ${naive} THEN ${localValue} END`);
  const problem = `CASE WHEN ${x} IS NULL THEN ${p(PROBLEMS.missing)}
      WHEN ${e} IS NOT NULL THEN CASE WHEN ${epochMs} IS NULL THEN ${p(PROBLEMS.epochRange)} END
      WHEN ${fast} IS NOT NULL THEN CASE WHEN NOT ${inRangeMs(fast)} THEN ${p(PROBLEMS.range)} END
      WHEN NOT ${shape} THEN CASE WHEN regexp_full_match(${x}, ${sqlString(padded(DATE_ONLY_PATTERN))}) THEN ${p(PROBLEMS.dateOnly)} ELSE ${p(PROBLEMS.instantShape)} END
      WHEN NOT ${dateOk} THEN ${p(PROBLEMS.calendarDate)}
      WHEN NOT ${timeOk} THEN ${p(PROBLEMS.timeOfDay)}
      WHEN NOT ${offOk} THEN ${p(PROBLEMS.offset)}
      WHEN ${naive} AND ${iso} IS NULL THEN ${localProblem}
      WHEN NOT ${inRangeMs(iso)} THEN ${p(PROBLEMS.range)} END`;
  const value = `CASE WHEN ${e} IS NOT NULL THEN ${epochMs} WHEN ${fast} IS NOT NULL THEN CASE WHEN ${inRangeMs(fast)} THEN ${fast} END WHEN ${inRangeMs(iso)} THEN ${iso} END`;
  return { value, problem };
}

/** A TIMESTAMPTZ column (an instant already): only NULLs and implausible values are refused. Value: TIMESTAMPTZ. */
export function instantFromTimestamptzSql(col: string): ParsedSql {
  return {
    value: col,
    problem: `CASE WHEN ${col} IS NULL THEN ${p(PROBLEMS.missing)} WHEN NOT (${col} >= ${FROM_TS} AND ${col} < ${TO_TS}) THEN ${p(PROBLEMS.range)} END`,
  };
}

/** A zone-less TIMESTAMP column read in its declared zone. Value: epoch ms. */
export function instantFromLocalTimestampSql(q: LayeredSelect, col: string, zone: string): ParsedSql {
  const wall = q.add(0, 'wall', `epoch_ms(CAST(${col} AS TIMESTAMP))`);
  const local = localToUtcSql(q, 1, wall, zone);
  const ms = q.add(local.nextLevel, 'local_ms', local.value);
  return {
    value: `CASE WHEN ${inRangeMs(ms)} THEN ${ms} END`,
    // An infinite TIMESTAMP has no wall time (ms is NULL): refused as out of range, not let through.
    problem: `CASE WHEN ${col} IS NULL THEN ${p(PROBLEMS.missing)} WHEN ${local.problem} IS NOT NULL THEN ${local.problem} WHEN ${ms} IS NULL OR NOT ${inRangeMs(ms)} THEN ${p(PROBLEMS.range)} END`,
  };
}

/** A numeric epoch column (integer, decimal or floating): the unit follows from the magnitude. Value: epoch ms. */
export function instantFromEpochNumberSql(q: LayeredSelect, col: string): ParsedSql {
  const e = q.add(0, 'epoch', `TRY_CAST(${col} AS DECIMAL(38,9))`);
  const ms = q.add(1, 'epoch_ms', epochMsSql(e));
  return {
    value: ms,
    problem: `CASE WHEN ${col} IS NULL THEN ${p(PROBLEMS.missing)} WHEN NOT isfinite(CAST(${col} AS DOUBLE)) THEN ${p(PROBLEMS.nonFinite)} WHEN ${ms} IS NULL THEN ${p(PROBLEMS.epochRange)} END`,
  };
}

/** A number written as text (`x`: VARCHAR, NULL when empty, blanks around allowed). Value: DOUBLE. */
export function decimalFromTextSql(q: LayeredSelect, x: string, required: boolean, integer = false): ParsedSql {
  // One pattern match and one cast per cell; value and problem both read the result.
  const d = q.add(0, 'dec', `CASE WHEN regexp_full_match(${x}, ${sqlString(padded(DECIMAL_PATTERN))}) THEN TRY_CAST(${x} AS DOUBLE) END`);
  const whole = integer ? ` WHEN NOT (${d} = floor(${d}) AND abs(${d}) <= 9007199254740991) THEN ${p(PROBLEMS.integer)}` : '';
  return {
    value: `CASE WHEN isfinite(${d}) THEN ${d} END`,
    problem: `CASE WHEN ${x} IS NULL THEN ${required ? p(PROBLEMS.missing) : 'NULL'} WHEN ${d} IS NULL THEN ${p(PROBLEMS.decimal)} WHEN NOT isfinite(${d}) THEN ${p(PROBLEMS.overflow)}${whole} END`,
  };
}

/** A numeric column (integer, decimal or floating). Value: DOUBLE. */
export function decimalFromNumberSql(col: string, required: boolean, integer = false): ParsedSql {
  const v = `CAST(${col} AS DOUBLE)`;
  const whole = integer ? ` WHEN NOT (${v} = floor(${v}) AND abs(${v}) <= 9007199254740991) THEN ${p(PROBLEMS.integer)}` : '';
  return {
    value: v,
    problem: `CASE WHEN ${col} IS NULL THEN ${required ? p(PROBLEMS.missing) : 'NULL'} WHEN NOT isfinite(${v}) THEN ${p(PROBLEMS.nonFinite)}${whole} END`,
  };
}
