import { InputError } from '../../core/errors.js';
import { sqlString } from '../../core/sql.js';
import type { Lake } from '../../storage/lake.js';
import type { SpecOf } from './feature-config.js';

type ExpressionSpec = SpecOf<'expression'>;

/**
 * The batch input column that carries an expression feature's DuckDB value (not an identifier,
 * so it can never be a source column's name).
 */
export function expressionInputName(spec: Pick<ExpressionSpec, 'name'>): string {
  return `expr:${spec.name}`;
}

/**
 * The frame of `w`: the symbol's last `window` rows in ts order, current row included. Not split
 * by session, like the built-ins' windows (an SMA's window reaches into the previous session).
 */
export function expressionWindowSql(window: number): string {
  return `(PARTITION BY symbol ORDER BY ts ROWS BETWEEN ${window - 1} PRECEDING AND CURRENT ROW)`;
}

/** Window functions whose value ignores the frame (they read the whole partition or past it). */
const FRAME_FREE_WINDOWS = new Set(['WINDOW_LAG', 'WINDOW_LEAD', 'WINDOW_ROW_NUMBER', 'WINDOW_RANK', 'WINDOW_RANK_DENSE', 'WINDOW_PERCENT_RANK', 'WINDOW_CUME_DIST', 'WINDOW_NTILE', 'WINDOW_FILL']);
/** Functions whose value is not a function of the rows: a feature must be reproducible. */
const UNSTABLE_FUNCTIONS = /^(random|setseed|nextval|currval|uuid|uuidv4|uuidv7|gen_random_uuid|now|today|get_current_time|get_current_timestamp|current_.*|transaction_timestamp|localtime|localtimestamp|getenv|current_setting|version|pragma_.*|read_.*|glob|sniff_.*|query|query_table)$/;

const PROBE_ALIAS = '__ibp_v';
const PROBE_TABLE = '__ibp_src';

interface Ast {
  [k: string]: unknown;
}

/** The AST without source positions, so two parses of the same frame compare equal. */
function withoutLocations(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutLocations);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'query_location').map(([k, x]) => [k, withoutLocations(x)]));
  return v;
}

const frameOf = (w: Ast): string => JSON.stringify(withoutLocations([w['partitions'], w['orders'], w['start'], w['end'], w['start_expr'], w['end_expr'], w['exclude_clause']]));

async function parse(lake: Lake, sql: string): Promise<{ error: boolean; error_message?: string; statements?: { node: Ast }[] }> {
  const [row] = await lake.query<{ j: string }>(`SELECT json_serialize_sql(${sqlString(sql)}) AS j`);
  return JSON.parse(row?.j ?? '{"error":true,"error_message":"no result"}') as { error: boolean; error_message?: string; statements?: { node: Ast }[] };
}

/**
 * Checks an expression feature against DuckDB's parser and binder and returns it as SQL with
 * its windows written out, safe to place in a select list over the source rows. Allowed: one
 * scalar expression over the source's columns (`columns`), whose window functions are
 * frame-respecting ones (aggregates, first/last/nth_value) over exactly `w`; refused, with an
 * InputError naming `path`: anything else in the statement (a second statement, FROM, WHERE,
 * comments), subqueries, qualified or unknown column references, other windows or frames
 * (`lead`, FOLLOWING rows would look ahead), functions whose value is not a function of the
 * rows (random, now, getenv, read_*), and an expression that does not bind over `probe` (a
 * relation with the source's columns: types, unknown functions, an aggregate without OVER w).
 */
export async function compileExpression(lake: Lake, spec: ExpressionSpec, columns: readonly string[], path: string, probe: string): Promise<string> {
  const bad = (what: string): InputError => new InputError(`${path}: expression feature ${spec.name}: ${what}`, { details: { feature: spec.name, path } });
  const expr = spec.expr;
  if (/;|--|\/\*/.test(expr)) throw bad("expected one SQL expression: ';' and comments are not allowed");
  const window = expressionWindowSql(spec.window);
  const statementOf = (e: string): string => `SELECT ${e} AS ${PROBE_ALIAS} FROM ${PROBE_TABLE} WINDOW w AS ${window}`;
  const parsed = await parse(lake, statementOf(expr));
  if (parsed.error) throw bad(`not valid SQL: ${parsed.error_message ?? 'parse error'}`);
  const node = parsed.statements?.length === 1 ? parsed.statements[0]?.node : undefined;
  const list = node?.['select_list'] as Ast[] | undefined;
  const from = node?.['from_table'] as Ast | undefined;
  const plain =
    node?.['type'] === 'SELECT_NODE' &&
    list?.length === 1 &&
    list[0]?.['alias'] === PROBE_ALIAS &&
    from?.['type'] === 'BASE_TABLE' &&
    from['table_name'] === PROBE_TABLE &&
    from['alias'] === '' &&
    node['where_clause'] === null &&
    (node['group_expressions'] as unknown[] | undefined)?.length === 0 &&
    node['having'] === null &&
    node['qualify'] === null &&
    node['sample'] === null &&
    (node['modifiers'] as unknown[] | undefined)?.length === 0 &&
    ((node['cte_map'] as { map?: unknown[] } | undefined)?.map?.length ?? 0) === 0;
  if (!plain || !list) throw bad('expected exactly one expression (no FROM, WHERE, GROUP BY, aliases or further statements)');

  const reference = await parse(lake, statementOf('count(*) OVER w'));
  const refWindow = (reference.statements?.[0]?.node['select_list'] as Ast[] | undefined)?.[0];
  if (!refWindow) throw bad('internal: no reference window');
  const frame = frameOf(refWindow);
  const known = new Set(columns);
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const n = v as Ast;
    const cls = n['class'];
    if (cls === 'SUBQUERY') throw bad('subqueries are not allowed');
    if (cls === 'COLUMN_REF') {
      const names = n['column_names'] as string[];
      if (names.length !== 1) throw bad(`qualified column reference ${names.join('.')} is not allowed: name a column of the source`);
      if (!known.has(names[0] as string)) throw bad(`unknown column ${names[0]} (the source has: ${[...known].join(', ')})`);
    }
    if (cls === 'WINDOW') {
      if (FRAME_FREE_WINDOWS.has(n['type'] as string)) throw bad(`${String(n['function_name'])}() ignores the window frame (it could read rows outside w or after the bar): use an aggregate, first_value, last_value or nth_value OVER w`);
      if (frameOf(n) !== frame) throw bad(`${String(n['function_name'])}() must be computed OVER w (the last ${spec.window} rows up to the bar), not its own window`);
    }
    if (cls === 'FUNCTION' || cls === 'WINDOW' || cls === 'AGGREGATE') {
      const name = String(n['function_name'] ?? '').toLowerCase();
      if ((n['schema'] ?? '') !== '' || (n['catalog'] ?? '') !== '') throw bad(`function ${name}: schema-qualified functions are not allowed`);
      if (UNSTABLE_FUNCTIONS.test(name)) throw bad(`function ${name}() is not allowed: a feature must be a function of the bars`);
    }
    for (const x of Object.values(n)) visit(x);
  };
  visit(list[0]);

  // DuckDB's own rendering of the checked AST, windows written out.
  const [row] = await lake.query<{ s: string }>(`SELECT json_deserialize_sql(json_serialize_sql(${sqlString(statementOf(expr))})) AS s`);
  const text = row?.s ?? '';
  const head = 'SELECT ';
  const tail = ` AS ${PROBE_ALIAS} FROM ${PROBE_TABLE}`;
  if (!text.startsWith(head) || !text.endsWith(tail)) throw bad(`internal: unexpected rendering ${text.slice(0, 200)}`);
  const sql = text.slice(head.length, text.length - tail.length);
  try {
    // Binds (types, functions, windows) without reading a row.
    await lake.query(`DESCRIBE SELECT ts, CAST(${sql} AS DOUBLE) AS v FROM ${probe}`);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0] ?? '';
    throw bad(/GROUP BY|aggregate/i.test(msg) ? `aggregates must be windowed (OVER w): ${msg}` : msg);
  }
  return sql;
}
