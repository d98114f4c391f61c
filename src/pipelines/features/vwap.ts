import { InputError } from '../../core/errors.js';
import type { SessionKeys } from './session-keys.js';
import type { VWAP_PRICES } from './feature-config.js';

/** Which per-bar price the VWAP weights by volume. */
export type VwapPrice = (typeof VWAP_PRICES)[number];

/** Series columns a per-bar price may read; only those the chosen price needs must be present. */
export interface BarPriceInputs {
  readonly open?: Float64Array;
  readonly high?: Float64Array;
  readonly low?: Float64Array;
  readonly close?: Float64Array;
  /** IB's per-bar volume-weighted average price. */
  readonly wap?: Float64Array;
}

/** Columns each price kind reads. */
export const VWAP_PRICE_COLUMNS: Readonly<Record<VwapPrice, readonly (keyof BarPriceInputs)[]>> = {
  typical: ['high', 'low', 'close'],
  close: ['close'],
  hl2: ['high', 'low'],
  ohlc4: ['open', 'high', 'low', 'close'],
  wap: ['wap'],
};

/** The per-bar price: typical (H+L+C)/3, close, hl2 (H+L)/2, ohlc4 (O+H+L+C)/4 or IB's wap. */
export function barPrice(kind: VwapPrice, cols: BarPriceInputs): Float64Array {
  const need = (c: keyof BarPriceInputs): Float64Array => {
    const a = cols[c];
    if (a === undefined) throw new InputError(`VWAP price ${kind} needs the ${c} column`, { details: { column: c } });
    return a;
  };
  switch (kind) {
    case 'close':
      return need('close');
    case 'wap':
      return need('wap');
    case 'typical': {
      const [h, l, c] = [need('high'), need('low'), need('close')];
      const out = new Float64Array(h.length);
      for (let i = 0; i < out.length; i++) out[i] = ((h[i] as number) + (l[i] as number) + (c[i] as number)) / 3;
      return out;
    }
    case 'hl2': {
      const [h, l] = [need('high'), need('low')];
      const out = new Float64Array(h.length);
      for (let i = 0; i < out.length; i++) out[i] = ((h[i] as number) + (l[i] as number)) / 2;
      return out;
    }
    case 'ohlc4': {
      const [o, h, l, c] = [need('open'), need('high'), need('low'), need('close')];
      const out = new Float64Array(o.length);
      for (let i = 0; i < out.length; i++) out[i] = ((o[i] as number) + (h[i] as number) + (l[i] as number) + (c[i] as number)) / 4;
      return out;
    }
  }
}

/**
 * Session VWAP: Σ price·volume / Σ volume from the session's first bar up to and including the
 * current one; the sums restart whenever `sessionDate` changes. No warm-up; NaN while the
 * session's cumulative volume is 0. A bar with a missing price or volume makes the rest of that
 * session NaN (the true cumulative sums are unknown from there on); the next session starts clean.
 */
export function sessionVwap(price: Float64Array, volume: Float64Array, sessionDate: SessionKeys): Float64Array {
  const n = volume.length;
  const out = new Float64Array(n).fill(NaN);
  let pv = 0;
  let vol = 0;
  let broken = false;
  for (let i = 0; i < n; i++) {
    if (i === 0 || sessionDate[i] !== sessionDate[i - 1]) {
      pv = 0;
      vol = 0;
      broken = false;
    }
    if (broken) continue;
    const p = price[i] as number;
    const v = volume[i] as number;
    if (p !== p || v !== v) {
      broken = true;
      continue;
    }
    pv += p * v;
    vol += v;
    if (vol > 0) out[i] = pv / vol;
  }
  return out;
}
