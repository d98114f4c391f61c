import type { LiveStreamEvent } from '../data-sources/tws/live-bar-stream.js';
import type { AppContext } from './app-context.js';
import type { DaemonMetrics } from './metrics.js';

/**
 * What the live data says about instruments whose stored bars are not complete yet: the live
 * stream's own events (an interrupted stream, a gap waiting for repair, a repaired gap) and the
 * start-up catch-up of the open session (`catch-up` from `from` until `caught-up`).
 */
export type MarketDataEvent =
  | LiveStreamEvent
  | { readonly type: 'catch-up'; readonly symbol: string; readonly dataset?: string; readonly from: number }
  | { readonly type: 'caught-up'; readonly symbol: string; readonly dataset?: string };

/** Live market data as the daemon sees it: started once, stopped (and flushed) on shutdown. */
export interface MarketDataService {
  /** Connects, catches up missed history, subscribes live. Resolves once started (not once connected). */
  start(): Promise<void>;
  /** Stops subscriptions and flushes buffered bars to the raw store. */
  stop(): Promise<void>;
  isConnected(): boolean;
  /** Epoch ms of the newest stored bar per instrument (null when none yet). */
  lastBarTimes(): Record<string, number | null>;
  /** Pacing budget in use, for /healthz and the dashboard. */
  pacing?(): Record<string, unknown>;
  /** Subscribes to MarketDataEvents (the live chain holds instruments whose bars are incomplete); returns the unsubscribe. */
  onEvent?(listener: (e: MarketDataEvent) => void): () => void;
  /** Start of the last final bar received live per instrument, flushed to the store or still buffered. */
  liveBarTimes?(): Record<string, number | null>;
  /** Live gaps not yet repaired, per instrument (instruments without any left out). */
  liveGaps?(): Record<string, LiveGapReport[]>;
}

/** A window of live bars that is missing right now, as /healthz shows it. */
export interface LiveGapReport {
  readonly from: string;
  /** null while the gap is still growing. */
  readonly to: string | null;
  readonly state: 'open' | 'pending' | 'repairing' | 'failed';
  readonly missing_bars: number;
  readonly reason: string;
  readonly since: string;
  readonly attempts: number;
  readonly error?: string;
}

export type MarketDataFactory = (app: AppContext, metrics: DaemonMetrics) => MarketDataService;
