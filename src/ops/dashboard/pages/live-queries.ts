import type { HealthReport } from '../../daemon.js';
import type { DashboardContext } from '../dashboard-context.js';

// The live page: connection, last bar per instrument, pacing.

export interface LiveView {
  readonly mode: 'daemon' | 'no-daemon';
  readonly now: number;
  readonly connected: boolean | null;
  readonly health: HealthReport | null;
  readonly instruments: { symbol: string; lastBar: number | null; ageS: number | null; open: boolean; source: 'live' | 'stored' }[];
  readonly pacing: Record<string, unknown> | null;
}

/** Connection, last bar per instrument, pacing: from the daemon, or the stored bars when there is none. */
export async function liveView(ctx: DashboardContext): Promise<LiveView> {
  const now = ctx.now();
  const symbols = ctx.symbols();
  const openNow = (s: string): boolean => ctx.src.calendars.calendarFor(s).isOpen(now);
  if (ctx.daemon) {
    const health = ctx.daemon.health();
    const last = ctx.daemon.market?.lastBarTimes() ?? {};
    return {
      mode: 'daemon',
      now,
      connected: health.connected,
      health,
      instruments: symbols.map((s) => {
        const t = last[s] ?? null;
        return { symbol: s, lastBar: t, ageS: t === null ? null : Math.round((now - t) / 1000), open: openNow(s), source: 'live' };
      }),
      pacing: ctx.daemon.market?.pacing?.() ?? null,
    };
  }
  const stored = await ctx.src.rawStore.latestBarTimes(ctx.src.settings.tws.historical_bar_size, 3);
  return {
    mode: 'no-daemon',
    now,
    connected: null,
    health: null,
    instruments: symbols.map((s) => {
      const t = stored.get(s) ?? null;
      return { symbol: s, lastBar: t, ageS: t === null ? null : Math.round((now - t) / 1000), open: openNow(s), source: 'stored' };
    }),
    pacing: null,
  };
}
