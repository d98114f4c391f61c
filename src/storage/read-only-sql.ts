import { StatementType } from './duckdb-api.js';

/**
 * What `ibpipe sql` lets a user run: one statement that only reads. DuckDB parses SHOW,
 * DESCRIBE, SUMMARIZE, VALUES and `FROM x` into SELECTs, so SELECT is the whole allow-list.
 *
 * The decision is DuckDB's own parser's (a statement must serialize as a SELECT before it is
 * bound: binding is not free of effects, e.g. EXPORT DATABASE creates its folder when
 * prepared), checked again on the prepared statement's type. The leading keyword only picks
 * the one-line reason shown to the user.
 */
const REASONS: ReadonlyMap<string, string> = new Map([
  ['INSERT', 'INSERT writes data'],
  ['UPDATE', 'UPDATE writes data'],
  ['DELETE', 'DELETE writes data'],
  ['TRUNCATE', 'TRUNCATE writes data'],
  ['MERGE', 'MERGE writes data'],
  ['COPY', 'COPY reads or writes files'],
  ['EXPORT', 'EXPORT DATABASE writes files'],
  ['IMPORT', 'IMPORT DATABASE writes data'],
  ['CREATE', 'CREATE defines objects'],
  ['DROP', 'DROP removes objects'],
  ['ALTER', 'ALTER changes objects'],
  ['COMMENT', 'COMMENT ON changes objects'],
  ['ATTACH', 'ATTACH opens or creates database files'],
  ['DETACH', 'DETACH changes the attached databases'],
  ['INSTALL', 'INSTALL and LOAD add extensions'],
  ['FORCE', 'INSTALL and LOAD add extensions'],
  ['LOAD', 'INSTALL and LOAD add extensions'],
  ['SET', 'SET, RESET and USE change settings and variables'],
  ['RESET', 'SET, RESET and USE change settings and variables'],
  ['USE', 'SET, RESET and USE change settings and variables'],
  ['PRAGMA', 'PRAGMA statements change settings (use SHOW TABLES or DESCRIBE)'],
  ['BEGIN', 'transaction statements are not needed for reads'],
  ['START', 'transaction statements are not needed for reads'],
  ['COMMIT', 'transaction statements are not needed for reads'],
  ['END', 'transaction statements are not needed for reads'],
  ['ROLLBACK', 'transaction statements are not needed for reads'],
  ['ABORT', 'transaction statements are not needed for reads'],
  ['CALL', 'CALL runs procedures (use SELECT * FROM fn() for table functions)'],
  ['CHECKPOINT', 'CHECKPOINT writes storage'],
  ['VACUUM', 'VACUUM changes storage'],
  ['ANALYZE', 'ANALYZE changes statistics'],
  ['EXPLAIN', 'EXPLAIN ANALYZE runs its statement (EXPLAIN is refused with it)'],
  ['PREPARE', 'PREPARE is not needed for one query'],
  ['EXECUTE', 'EXECUTE runs prepared statements'],
  ['DEALLOCATE', 'DEALLOCATE changes prepared statements'],
  ['PIVOT', 'a PIVOT statement defines types (write SELECT * FROM (PIVOT …))'],
  ['UNPIVOT', 'an UNPIVOT statement is refused with PIVOT (write SELECT * FROM (UNPIVOT …))'],
]);

const ALLOWED = 'ibpipe sql runs read-only queries (SELECT, WITH, FROM, SHOW, DESCRIBE, SUMMARIZE) over the lake';

/** First keyword of a statement, past whitespace, parentheses and comments, upper-cased. */
export function leadingKeyword(sql: string): string {
  let s = sql;
  for (;;) {
    s = s.replace(/^[\s(]+/, '');
    if (s.startsWith('--')) {
      const i = s.indexOf('\n');
      s = i < 0 ? '' : s.slice(i + 1);
    } else if (s.startsWith('/*')) {
      const i = s.indexOf('*/');
      s = i < 0 ? '' : s.slice(i + 2);
    } else break;
  }
  return (/^[A-Za-z_]+/.exec(s)?.[0] ?? '').toUpperCase();
}

/** The one-line reason a statement that is not a plain read is refused. */
export function readOnlyRefusal(sql: string): string {
  const keyword = leadingKeyword(sql);
  const why = REASONS.get(keyword) ?? `${keyword || 'this'} statements are not reads`;
  return `${why}; ${ALLOWED}`;
}

/** True for the one prepared-statement type `ibpipe sql` executes. */
export function isReadOnlyStatement(type: StatementType): boolean {
  return type === StatementType.SELECT;
}
