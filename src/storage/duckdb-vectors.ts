import bindings from '@duckdb/node-bindings';
import type { DuckDBDataChunk } from '@duckdb/node-api';

/*
 * DOUBLE columns straight from and into DuckDB's vectors, without a JS value per row.
 *
 * What @duckdb/node-api 1.5.6 offers (read from its source): a DuckDBDoubleVector wraps a
 * Float64Array view of the vector's memory, but keeps it private and answers getItem(i) with a
 * BigInt validity test per item; getColumns() boxes every value. A DuckDBDataChunk does expose
 * its native handle (`chunk.chunk`), and the package's own @duckdb/node-bindings (the C API, the
 * same version) hands out a vector's data and validity mask as Uint8Array views. So a column is
 * read with one memcpy per 2,048-row vector plus a pass over the validity bytes (only when the
 * vector has NULLs), and written the same way in reverse.
 */

const BYTES = Float64Array.BYTES_PER_ELEMENT;

/** Copies column `col` of `chunk` (a DOUBLE vector) into `out` at `offset`; NULL becomes NaN. */
export function copyDoubleVector(chunk: DuckDBDataChunk, col: number, out: Float64Array, offset: number): void {
  const n = chunk.rowCount;
  if (n === 0) return;
  const vector = bindings.data_chunk_get_vector(chunk.chunk, col);
  const data = bindings.vector_get_data(vector, n * BYTES);
  // Byte copy: the view's offset need not be 8-aligned for a Uint8Array.
  new Uint8Array(out.buffer, out.byteOffset + offset * BYTES, n * BYTES).set(data.subarray(0, n * BYTES));
  const validity = bindings.vector_get_validity(vector, Math.ceil(n / 64) * 8) as Uint8Array | null;
  if (!validity) return;
  const bytes = Math.ceil(n / 8);
  for (let b = 0; b < bytes; b++) {
    const v = validity[b] as number;
    if (v === 0xff) continue;
    const base = b * 8;
    for (let bit = 0; bit < 8 && base + bit < n; bit++) if (((v >> bit) & 1) === 0) out[offset + base + bit] = NaN;
  }
}

/**
 * Fills column `col` of `chunk` (a DOUBLE vector with room for `n` rows) with
 * src[start, start+n); NaN becomes NULL.
 */
export function fillDoubleVector(chunk: DuckDBDataChunk, col: number, src: Float64Array, start: number, n: number): void {
  if (n === 0) return;
  const vector = bindings.data_chunk_get_vector(chunk.chunk, col);
  bindings.copy_data_to_vector(vector, 0, src.buffer as ArrayBuffer, src.byteOffset + start * BYTES, n * BYTES);
  let mask: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const v = src[start + i] as number;
    if (v !== v) {
      if (!mask) mask = new Uint8Array(Math.ceil(n / 64) * 8).fill(0xff);
      mask[i >> 3] = (mask[i >> 3] as number) & ~(1 << (i & 7));
    }
  }
  const bytes = Math.ceil(n / 64) * 8;
  // A vector reused from an earlier chunk may still carry NULL bits: clear them.
  if (!mask && bindings.vector_get_validity(vector, bytes)) mask = new Uint8Array(bytes).fill(0xff);
  if (mask) {
    bindings.vector_ensure_validity_writable(vector);
    bindings.copy_data_to_vector_validity(vector, 0, mask.buffer as ArrayBuffer, 0, mask.byteLength);
  }
}
