import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/logger.js';
import { hashU, type MarketBar } from './market.js';
import { simDurationMs, type BadBarKind, type BadBarsConfig, type ScenarioStep } from './sim-config.js';

/**
 * Faults a real gateway produces, on demand. The server implements FaultControls; tests call
 * it directly, and a YAML scenario drives the same calls on the sim clock.
 */
export interface FaultControls {
  /** Destroys client sockets (all, or one client id) without a goodbye. Returns how many. */
  dropConnections(filter?: { clientId?: number }): number;
  /**
   * Sends 1100 to every client; after `durationMs` sends 1101 (subscriptions lost: live streams
   * stop for good) or 1102 (maintained: streams resume). Streams are silent during the outage.
   */
  connectivityLoss(opts: { restore: 'data_lost' | 'data_maintained'; durationMs: number }): Promise<void>;
  /**
   * Farm broken notice (2103 market / 2105 HMDS) then, after `durationMs`, the OK notice
   * (2104 / 2106). A market-farm outage silences live streams; with streamsResume=false they
   * stay dead afterwards, as seen on real gateways.
   */
  farmOutage(opts: {
    farm: 'market' | 'hmds';
    name?: string;
    durationMs: number;
    streamsResume?: boolean;
  }): Promise<void>;
  /** Live streams (all, or one request id) stop sending, for a while or until cancelled. */
  silenceStreams(opts?: { reqId?: number; durationMs?: number }): number;
  /** Live streams end with 162 "API historical data query cancelled: <id>". Returns how many. */
  cancelStreams(opts?: { reqId?: number }): number;
  /** Every response is delayed by latency plus a uniform random 0..jitter (order kept). */
  setLatency(latencyMs: number, jitterMs?: number): void;
  /** Responses are written in TCP chunks of at most this many bytes (null: whole). */
  setChunking(maxChunkBytes: number | null): void;
  /** Historical and live bars are corrupted at a rate (null: off). */
  setBadBars(config: BadBarsConfig | null): void;
}

/**
 * Corrupts bars the way broken feeds do: each bar is picked with probability `rate`, by a hash
 * of its timestamp, so the same bar is bad on every page that contains it.
 */
export function corruptBars(bars: readonly MarketBar[], cfg: BadBarsConfig): MarketBar[] {
  const out: MarketBar[] = [];
  for (let i = 0; i < bars.length; i++) {
    const bar = bars[i] as MarketBar;
    const kind = badKindFor(bar.ts, cfg);
    if (!kind) {
      out.push(bar);
      continue;
    }
    switch (kind) {
      case 'duplicate_ts':
        out.push(bar, { ...bar });
        break;
      case 'out_of_order': {
        const next = bars[i + 1];
        if (next) {
          out.push(next, bar);
          i++;
        } else out.push(bar);
        break;
      }
      default:
        out.push(corruptBar(bar, kind));
    }
  }
  return out;
}

/** Which corruption (if any) hits the bar starting at ts. */
export function badKindFor(ts: number, cfg: BadBarsConfig): BadBarKind | undefined {
  const sec = Math.floor(ts / 1000);
  if (hashU(cfg.seed, 101, sec, Math.floor(sec / 4_294_967_296)) >= cfg.rate) return undefined;
  const pick = Math.floor(hashU(cfg.seed, 102, sec, 0) * cfg.kinds.length);
  return cfg.kinds[Math.min(pick, cfg.kinds.length - 1)];
}

/** A single bar with one defect (kinds that need neighbours fall back to the bar unchanged). */
export function corruptBar(bar: MarketBar, kind: BadBarKind): MarketBar {
  switch (kind) {
    case 'negative_price':
      return { ...bar, low: -Math.abs(bar.close), close: -Math.abs(bar.close) };
    case 'nan_price':
      return { ...bar, close: Number.NaN };
    case 'high_below_low':
      return { ...bar, high: bar.low, low: bar.high === bar.low ? bar.high + 1 : bar.high };
    case 'zero_volume':
      return { ...bar, volume: 0, count: 0 };
    case 'negative_volume':
      return { ...bar, volume: -Math.max(1, Math.abs(bar.volume)) };
    default:
      return bar;
  }
}

/** Runs a YAML scenario against the controls; `stop()` cancels steps not yet due. */
export class ScenarioRunner {
  readonly #timers: TimerHandle[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly controls: FaultControls,
    private readonly logger: Logger,
  ) {}

  start(steps: readonly ScenarioStep[]): void {
    for (const step of steps) {
      this.#timers.push(
        this.clock.setTimeout(() => {
          this.logger.info({ event: 'scenario_step', action: step.action }, `scenario: ${step.action}`);
          this.#run(step).catch((err: unknown) =>
            this.logger.error({ err, action: step.action }, 'scenario step failed'),
          );
        }, simDurationMs(step.at)),
      );
    }
  }

  stop(): void {
    for (const t of this.#timers) this.clock.clearTimeout(t);
    this.#timers.length = 0;
  }

  async #run(step: ScenarioStep): Promise<void> {
    const c = this.controls;
    switch (step.action) {
      case 'drop_socket':
        c.dropConnections(step.client_id === undefined ? {} : { clientId: step.client_id });
        return;
      case 'connectivity_loss':
        await c.connectivityLoss({ restore: step.restore, durationMs: simDurationMs(step.duration) });
        return;
      case 'farm_outage':
        await c.farmOutage({
          farm: step.farm,
          durationMs: simDurationMs(step.duration),
          streamsResume: step.streams_resume,
          ...(step.name === undefined ? {} : { name: step.name }),
        });
        return;
      case 'silence_streams':
        c.silenceStreams({
          ...(step.req_id === undefined ? {} : { reqId: step.req_id }),
          ...(step.duration === undefined ? {} : { durationMs: simDurationMs(step.duration) }),
        });
        return;
      case 'cancel_streams':
        c.cancelStreams(step.req_id === undefined ? {} : { reqId: step.req_id });
        return;
      case 'latency':
        c.setLatency(step.latency_ms, step.jitter_ms);
        return;
      case 'chunking':
        c.setChunking(step.max_chunk_bytes);
        return;
      case 'bad_bars':
        c.setBadBars(step.bad_bars);
        return;
    }
  }
}
