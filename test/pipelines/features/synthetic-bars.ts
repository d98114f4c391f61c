import { prng } from './reference-indicators.js';

export interface SyntheticBars {
  ts: number[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
  sessionDate: string[];
}

export interface SyntheticOptions {
  level?: number;
  /** One-bar log-return standard deviation (roughly). */
  sigma?: number;
  /** Round prices to this tick (0 = no rounding); ticks create flat windows. */
  tick?: number;
  /** Probability that a bar is missing (all of O, H, L, C, V NaN), as curated leaves over-long gaps. */
  nanRate?: number;
  barsPerSession?: number;
}

/** A reproducible random-walk bar series with occasional missing bars and session boundaries. */
export function syntheticBars(seed: number, n: number, opts: SyntheticOptions = {}): SyntheticBars {
  const { level = 100, sigma = 0.002, tick = 0, nanRate = 0, barsPerSession = 390 } = opts;
  const rnd = prng(seed);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const round = (p: number): number => (tick > 0 ? Math.round(p / tick) * tick : p);
  const out: SyntheticBars = { ts: [], open: [], high: [], low: [], close: [], volume: [], sessionDate: [] };
  let price = level;
  for (let i = 0; i < n; i++) {
    const prev = price;
    price *= Math.exp(sigma * gauss());
    const c = round(price);
    const o = round(prev);
    const h = Math.max(o, c) + round(Math.abs(gauss()) * sigma * level * 0.5);
    const l = Math.min(o, c) - round(Math.abs(gauss()) * sigma * level * 0.5);
    const missing = rnd() < nanRate;
    out.ts.push(1_704_205_800_000 + i * 60_000);
    out.open.push(missing ? NaN : o);
    out.high.push(missing ? NaN : h);
    out.low.push(missing ? NaN : l);
    out.close.push(missing ? NaN : c);
    out.volume.push(missing ? NaN : rnd() < 0.05 ? 0 : Math.floor(rnd() * 5000));
    const day = Math.floor(i / barsPerSession);
    out.sessionDate.push(new Date(Date.UTC(2024, 0, 2 + day)).toISOString().slice(0, 10));
  }
  return out;
}
