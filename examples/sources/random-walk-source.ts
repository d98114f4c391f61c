// An example `module` source for ibpipe: synthetic one-minute bars, a seeded random walk per
// instrument and session. Every batch is one (instrument, session) and a pure function of the
// seed, the instrument and the session date, so its id (`AAPL-2024-03-04`) names its content: a
// re-run or a retry after a crash yields the same batches, and the raw store skips them.
//
// Use it from a config (the path is relative to the config file):
//
//   sources:
//     - type: module
//       name: walk
//       module: ../examples/sources/random-walk-source.ts   # or a compiled .js
//       options: { seed: 7, start_price: 100, sessions: 5 }
//
//   ibpipe ingest --config ibpipe.yaml --source walk                       # new sessions since the watermark
//   ibpipe ingest --config ibpipe.yaml --source walk --start 2024-03-04 --end 2024-03-08
//
// It only imports types from ibpipe: a source module needs nothing of ibpipe at run time.
import type { Session } from '../../src/calendar/trading-calendar.js';
import type { IngestRequest, IngestWorkItem } from '../../src/data-sources/ingestor.js';
import type { SourceBar, SourceBatch, SourceModule, SourceModuleContext } from '../../src/data-sources/module-ingestor.js';

interface Options {
  /** Seed of every walk; another seed is another (equally deterministic) market. */
  seed: number;
  /** Price level around which each session opens. */
  start_price: number;
  /** With nothing ingested yet and no --start, this many completed sessions back. */
  sessions: number;
}

function readOptions(raw: Readonly<Record<string, unknown>>): Options {
  const known = new Set(['seed', 'start_price', 'sessions']);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new Error(`options.${k}: unknown option (expected seed, start_price, sessions)`);
  const num = (k: string, fallback: number, ok: (v: number) => boolean): number => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !ok(v)) throw new Error(`options.${k}: ${JSON.stringify(v)} is not valid`);
    return v;
  };
  return {
    seed: num('seed', 1, Number.isSafeInteger),
    start_price: num('start_price', 100, (v) => Number.isFinite(v) && v > 0),
    sessions: num('sessions', 5, (v) => Number.isInteger(v) && v >= 1 && v <= 250),
  };
}

/** 32-bit FNV-1a of a string: the walk's seed per (seed, instrument, session). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32: a small, fast PRNG with a 32-bit state; plenty for synthetic prices. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round4 = (v: number): number => Math.round(v * 1e4) / 1e4;

export default function createRandomWalkSource(ctx: SourceModuleContext): SourceModule {
  const opts = readOptions(ctx.options);

  /** Completed sessions of one instrument that a request covers, oldest first. */
  function sessionsFor(symbol: string, request: IngestRequest, marks: ReadonlyMap<string, number>): Session[] {
    const cal = ctx.calendarFor(symbol);
    const now = ctx.clock.now();
    const limit = Math.min(request.end ?? now, now);
    let from: string;
    if (request.start !== undefined) from = cal.sessionDateOf(request.start);
    else {
      const mark = marks.get(symbol);
      if (mark !== undefined) from = cal.nextSession(cal.sessionDateOf(mark)).date;
      else {
        from = cal.sessionDateOf(now);
        for (let i = 0; i < opts.sessions; i++) from = cal.previousSession(from).date;
      }
    }
    const to = cal.sessionDateOf(limit - 1);
    if (to < from) return [];
    // Whole sessions only, so a batch never depends on where the request's edges fall.
    return cal.sessionsInRange(from, to).filter((s) => s.close <= limit && (request.start === undefined || s.open >= request.start));
  }

  function bars(symbol: string, session: Session): SourceBar[] {
    const cal = ctx.calendarFor(symbol);
    const rnd = mulberry32(fnv1a(`${opts.seed}|${symbol}|${session.date}`));
    let price = opts.start_price * (0.9 + 0.2 * rnd());
    return cal.expectedBarStarts(session, ctx.barMs).map((ts) => {
      const open = price;
      // Box-Muller: a normal step of 0.1 % per bar.
      const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
      const close = open * Math.exp(0.001 * z);
      price = close;
      const high = Math.max(open, close) * (1 + 0.0005 * rnd());
      const low = Math.min(open, close) * (1 - 0.0005 * rnd());
      return { symbol, ts, open: round4(open), high: round4(high), low: round4(low), close: round4(close), volume: 100 + Math.floor(900 * rnd()) };
    });
  }

  return {
    source: 'WALK',

    plan(request: IngestRequest): IngestWorkItem[] {
      const marks = ctx.watermarks();
      return (request.symbols ?? []).flatMap((symbol) =>
        sessionsFor(symbol, request, marks).map((s) => ({ label: `${symbol} ${s.date}`, symbols: [symbol], start: s.open, end: s.close, rows: null })),
      );
    },

    async *run(request: IngestRequest): AsyncGenerator<SourceBatch> {
      // Read once: the watermarks move as batches are acknowledged, the plan must not.
      const marks = ctx.watermarks();
      for (const symbol of request.symbols ?? []) {
        for (const session of sessionsFor(symbol, request, marks)) {
          request.signal?.throwIfAborted();
          yield { batchId: `${symbol}-${session.date}`, label: `${symbol} ${session.date}`, events: bars(symbol, session) };
        }
      }
    },
  };
}
