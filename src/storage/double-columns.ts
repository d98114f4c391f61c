import { StorageError } from '../core/errors.js';

/**
 * Numeric columns of one result, each a Float64Array of `rows` values (NaN where SQL had NULL),
 * as {@link Lake.readDoubles} returns them.
 */
export class DoubleColumns {
  readonly #columns: ReadonlyMap<string, Float64Array>;

  constructor(
    readonly rows: number,
    readonly names: readonly string[],
    columns: ReadonlyMap<string, Float64Array>,
  ) {
    this.#columns = columns;
  }

  /** The column named `name`; throws if the result has none. */
  get(name: string): Float64Array {
    const c = this.#columns.get(name);
    if (c === undefined) throw new StorageError(`result has no column ${name} (has ${this.names.join(', ')})`);
    return c;
  }

  has(name: string): boolean {
    return this.#columns.has(name);
  }
}
