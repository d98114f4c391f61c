import { existsSync, readFileSync } from 'node:fs';

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

/** True where the main thread's CPU time can be read (Linux). */
export const canMeasureMainThreadCpu = existsSync(SCHEDSTAT);

/** Nanoseconds the main thread has run on a CPU (first field of its schedstat). */
function mainThreadCpuNs(): number {
  return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]);
}

/**
 * How long the event loop was blocked, measured as the main thread's CPU time between two turns
 * of a 5-ms timer rather than as wall-clock lag: waiting for a CPU on a busy machine costs wall
 * time but no CPU time, so only work that really holds the loop shows up. (Query execution in
 * DuckDB's worker threads is not the main thread's.)
 */
export function monitorMainThreadBlocking(intervalMs = 5): { stop(): { p99Ms: number; maxMs: number; samples: number } } {
  const deltas: number[] = [];
  let last = mainThreadCpuNs();
  const timer = setInterval(() => {
    const now = mainThreadCpuNs();
    deltas.push((now - last) / 1e6);
    last = now;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const now = mainThreadCpuNs();
      deltas.push((now - last) / 1e6);
      const sorted = [...deltas].sort((a, b) => a - b);
      const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return { p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0, samples: sorted.length };
    },
  };
}
