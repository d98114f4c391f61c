import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Event-loop delay as Node measures it (perf_hooks histogram). The daemon reports p99 so an
 * operator can see whether heavy jobs starve live ingestion (target: p99 < 100 ms).
 */
export class EventLoopMonitor {
  readonly #h: IntervalHistogram;

  constructor(resolutionMs = 10) {
    this.#h = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#h.enable();
  }

  /** Percentiles in milliseconds since the last reset. */
  snapshot(): { p50: number; p99: number; max: number; count: number } {
    const ms = (ns: number): number => ns / 1e6;
    return { p50: ms(this.#h.percentile(50)), p99: ms(this.#h.percentile(99)), max: ms(this.#h.max), count: this.#h.count };
  }

  reset(): void {
    this.#h.reset();
  }

  stop(): void {
    this.#h.disable();
  }
}
