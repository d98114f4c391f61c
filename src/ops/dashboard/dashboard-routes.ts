import { frequencyMs } from '../../core/bars.js';
import { InputError } from '../../core/errors.js';
import type { RouteHandler } from '../http-server.js';
import { dashboardAsset } from './dashboard-assets.js';
import { coveragePage, dqDatePage, dqPage, errorPage, gapPage, jobsPage, livePage, quarantinePage, seriesPage, type PageContext } from './dashboard-html.js';
import { DashboardContext, type DashboardDaemon, type DashboardSource } from './dashboard-context.js';
import { coverageView } from './pages/coverage-queries.js';
import { dqDate, dqOverview } from './pages/dq-queries.js';
import { gapReport } from './pages/gap-queries.js';
import { backfillRows, jobSummaries, recentRuns } from './pages/jobs-queries.js';
import { liveView } from './pages/live-queries.js';
import { quarantineView } from './pages/quarantine-queries.js';
import { seriesView } from './pages/series-queries.js';

export interface DashboardDeps {
  /** The app context (or the same pieces) whose lake the dashboard reads. */
  readonly app: DashboardSource;
  /** The running daemon, for live state, the scheduler and its job ledger; null/absent for `ibpipe dashboard`. */
  readonly daemon?: DashboardDaemon | null;
  /** Mount point; default `/dashboard`. */
  readonly base?: string;
  /**
   * Aggregate the default coverage window in the background right away, so the first visitor
   * does not pay for reading the curated partitions (default true).
   */
  readonly warmUp?: boolean;
}

type Response = Awaited<ReturnType<RouteHandler>>;

const HTML = 'text/html; charset=utf-8';

function param(url: URL, name: string): string | null {
  const v = url.searchParams.get(name);
  return v === null || v.trim() === '' ? null : v.trim();
}

function intParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const v = param(url, name);
  if (v === null) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

function required(url: URL, name: string): string {
  const v = param(url, name);
  if (v === null) throw new InputError(`missing query parameter ${name}`);
  return v;
}

/**
 * The read-only operator dashboard as one prefix route (plus `/` → the dashboard): coverage
 * heatmap, gap reports, data quality, quarantine, jobs, series, live state, and the chart
 * assets. Pass the result as the daemon's `prefixRoutes`, or to an HttpServer directly.
 */
export function dashboardRouteTable(deps: DashboardDeps): Record<string, RouteHandler> {
  const base = (deps.base ?? '/dashboard').replace(/\/+$/, '');
  const queries = new DashboardContext(deps.app, deps.daemon ?? null);
  const settings = deps.app.settings;
  const barMs = frequencyMs(settings.gaps.frequency);
  if (deps.warmUp !== false) {
    // Best effort: a failure here shows up again, with its message, when the page is asked for.
    void coverageView(queries).catch(() => undefined);
  }

  const context = (): PageContext => {
    const daemon = deps.daemon ?? null;
    let status: PageContext['status'];
    if (!daemon) status = { label: 'no daemon', tone: 'idle' };
    else if (!daemon.market) status = { label: 'no live feed', tone: 'idle' };
    else status = daemon.market.isConnected() ? { label: 'connected', tone: 'ok' } : { label: 'disconnected', tone: 'bad' };
    return { base, timezone: settings.time_series.timezone, status, now: queries.now() };
  };
  const page = (body: string, status = 200): Response => ({ status, type: HTML, body });

  const pages: Record<string, (url: URL) => Promise<Response>> = {
    '': async (url) => {
      const days = intParam(url, 'days', 30, 1, 250);
      const start = param(url, 'start');
      const end = param(url, 'end');
      const view = await coverageView(queries, { days, ...(start ? { start } : {}), ...(end ? { end } : {}) });
      const sort = param(url, 'sort') === 'symbol' ? 'symbol' : 'worst';
      return page(
        coveragePage(context(), view, {
          sort,
          page: intParam(url, 'page', 1, 1, 100_000),
          per: intParam(url, 'per', 100, 1, 1000),
          filter: param(url, 'q') ?? '',
          days,
          start,
          end,
        }),
      );
    },
    gap: async (url) => page(gapPage(context(), await gapReport(queries, required(url, 'symbol'), required(url, 'date')))),
    dq: async (url) => {
      const date = param(url, 'date');
      if (date) return page(dqDatePage(context(), dqDate(queries, date)));
      return page(dqPage(context(), dqOverview(queries, intParam(url, 'days', 30, 1, 250))));
    },
    quarantine: async (url) =>
      page(quarantinePage(context(), await quarantineView(queries, required(url, 'date'), { symbol: param(url, 'symbol'), rule: param(url, 'rule'), dataset: param(url, 'dataset') }))),
    jobs: async () => page(jobsPage(context(), jobSummaries(queries), recentRuns(queries, 50), backfillRows(queries), queries.daemon !== null)),
    series: async (url) => {
      const symbol = param(url, 'symbol') ?? queries.symbols()[0];
      if (!symbol) throw new InputError('no instruments configured');
      return page(seriesPage(context(), await seriesView(queries, symbol, param(url, 'date'), param(url, 'feature')), queries.symbols()));
    },
    live: async () => page(livePage(context(), await liveView(queries), barMs)),
  };

  const dispatch = async (rest: string, url: URL): Promise<Response> => {
    // Heatmap cells link to `gap/<symbol>/<date>` (short: a full heatmap has tens of thousands of links).
    const cell = /^gap\/([^/]+)\/([^/]+)$/.exec(rest);
    if (cell) {
      let symbol: string;
      let date: string;
      try {
        symbol = decodeURIComponent(cell[1] as string);
        date = decodeURIComponent(cell[2] as string);
      } catch {
        throw new InputError('malformed gap report path');
      }
      return page(gapPage(context(), await gapReport(queries, symbol, date)));
    }
    const handler = pages[rest];
    if (!handler) return page(errorPage(context(), 404, `no dashboard page ${JSON.stringify(rest)}`), 404);
    return handler(url);
  };

  const dashboard: RouteHandler = async (_req, url) => {
    const rest = url.pathname.slice(base.length).replace(/^\/+/, '').replace(/\/+$/, '');
    if (rest.startsWith('assets/')) {
      const asset = dashboardAsset(rest.slice('assets/'.length));
      return asset ? { status: 200, ...asset } : { status: 404, type: 'text/plain', body: 'not found\n' };
    }
    try {
      return await dispatch(rest, url);
    } catch (err) {
      // Bad parameters are the visitor's mistake: say which, with the page's usual frame.
      if (err instanceof InputError) return page(errorPage(context(), 400, err.message), 400);
      throw err;
    }
  };
  const redirect: RouteHandler = async () => ({ status: 302, type: 'text/plain', body: `see ${base}\n`, headers: { location: base } });
  return { [base]: dashboard, '/': redirect };
}
