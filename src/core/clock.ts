/**
 * The clock seam. Jobs, stores, limiters and the simulated gateway read time and schedule
 * timers only through a Clock, so tests drive time with a ManualClock and the sim can run
 * on an accelerated virtual clock.
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Current instant as epoch milliseconds (UTC). */
  now(): number;
  /** Calls fn once after ms of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  /** Resolves after ms of this clock's time; rejects with the signal's reason if aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

let nextTimerId = 1;

function abortable(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('aborted'));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wall-clock time and real timers. */
export class SystemClock implements Clock {
  readonly #timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextTimerId++;
    const t = setTimeout(() => {
      this.#timers.delete(id);
      fn();
    }, Math.max(0, ms));
    this.#timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.#timers.get(handle.id);
    if (t) clearTimeout(t);
    this.#timers.delete(handle.id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return abortable(this, ms, signal);
  }
}

/**
 * Virtual time that runs `speed` times faster than the wall clock from a chosen start instant.
 * Timers are real timers scaled down, so an event loop keeps running normally.
 */
export class ScaledClock implements Clock {
  readonly #startVirtual: number;
  readonly #startReal: number;
  readonly #speed: number;
  readonly #inner = new SystemClock();

  /**
   * `realStart` anchors the virtual start to a wall-clock instant, so several processes given
   * the same (startInstant, speed, realStart) agree on virtual time.
   */
  constructor(startInstant: number, speed: number, realStart: number = Date.now()) {
    if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
    this.#startVirtual = startInstant;
    this.#startReal = realStart;
    this.#speed = speed;
  }

  /** Parses `START,SPEED[,REAL_START_MS]` (START an ISO-8601 instant), as the CLI's --clock takes it. */
  static parse(spec: string): ScaledClock {
    const [start, speed, real] = spec.split(',');
    const t = Date.parse(start ?? '');
    const v = Number(speed);
    if (Number.isNaN(t) || !(v > 0) || (real !== undefined && !Number.isFinite(Number(real)))) {
      throw new RangeError(`clock ${JSON.stringify(spec)}: expected START,SPEED[,REAL_START_MS], e.g. 2024-12-04T15:00:00Z,60`);
    }
    return new ScaledClock(t, v, real === undefined ? Date.now() : Number(real));
  }

  get speed(): number {
    return this.#speed;
  }

  now(): number {
    return Math.floor(this.#startVirtual + (Date.now() - this.#startReal) * this.#speed);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#inner.setTimeout(fn, ms / this.#speed);
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    this.#inner.clearTimeout(handle);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return abortable(this, ms, signal);
  }
}

interface ManualTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** Time that moves only when a test calls advance(); timers fire in due order. */
export class ManualClock implements Clock {
  #now: number;
  #timers: ManualTimer[] = [];

  constructor(start = Date.UTC(2024, 0, 2, 14, 30)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = nextTimerId++;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    this.#timers = this.#timers.filter((t) => t.id !== handle.id);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return abortable(this, ms, signal);
  }

  /** When the next timer is due, if any (a test can step from one timer to the next). */
  nextTimerAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by ms, firing every timer due on the way (and letting promises settle between them). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t.id !== due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Sets the current instant (never backwards). */
  async set(instant: number): Promise<void> {
    await this.advance(Math.max(0, instant - this.#now));
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((r) => setImmediate(r));
}
