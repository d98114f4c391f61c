import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/config/settings.js';
import { ManualClock } from '../../../src/core/clock.js';
import { createAppContext, type AppContext } from '../../../src/ops/app-context.js';
import { dashboardRouteTable } from '../../../src/ops/dashboard/dashboard-routes.js';
import { HttpServer } from '../../../src/ops/http-server.js';
import { silentLogger } from '../../../src/ops/logging-setup.js';

let dir: string;
let app: AppContext;
let server: HttpServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-'));
  const settings = parseSettings({
    lake: { root: dir },
    instruments: [
      { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' },
      { key: 'ES-202503', sec_type: 'FUT', symbol: 'ES', exchange: 'CME', currency: 'USD', last_trade_date_or_contract_month: '202503', calendar: 'CMES' },
      { key: 'EURUSD', sec_type: 'CASH', symbol: 'EUR', exchange: 'IDEALPRO', currency: 'USD', calendar: 'FX', what_to_show: 'MIDPOINT' },
    ],
    dq_rules: {},
    jobs: [{ name: 'transform', schedule: '10 16 * * 1-5' }],
  });
  // Monday 2024-12-02 10:00 New York.
  app = await createAppContext(settings, { clock: new ManualClock(Date.parse('2024-12-02T15:00:00Z')) });
  server = await HttpServer.listen({ host: '127.0.0.1', port: 0, logger: silentLogger(), routes: {}, prefixRoutes: dashboardRouteTable({ app }) });
});

afterAll(async () => {
  await server?.close();
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${server.url}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('dashboard over an empty lake (nothing ingested yet)', () => {
  it('renders every page without data', async () => {
    for (const p of ['/dashboard', '/dashboard/dq', '/dashboard/jobs', '/dashboard/series', '/dashboard/live', '/dashboard/quarantine?date=2024-11-29', '/dashboard/gap/ES-202503/2024-11-29']) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
    }
  });

  it('shows the last 30 weekdays up to today as not transformed, holidays closed', async () => {
    const { body } = await get('/dashboard');
    // 30 weekdays back from Monday 2 Dec 2024, by hand: Tue 22 Oct … Mon 2 Dec.
    const cells = [...body.matchAll(/<td class="([^"]+)"[^>]*><a href="gap\/([^/]+)\/([^"]+)">/g)].map((m) => ({ cls: m[1] as string, symbol: m[2] as string, date: m[3] as string }));
    expect(cells).toHaveLength(3 * 30);
    expect(cells[0]?.date).toBe('2024-10-22');
    const aapl = cells.filter((c) => c.symbol === 'AAPL');
    expect(aapl.filter((c) => c.cls === 'closed').map((c) => c.date)).toEqual(['2024-11-28']);
    expect(aapl.filter((c) => c.cls.startsWith('untr')).length).toBe(29);
    // The NYSE early close of Friday 29 Nov is marked even before any data exists.
    expect(aapl.find((c) => c.date === '2024-11-29')?.cls).toBe('untr short');
  });

  it('says what is missing instead of failing: no DQ results, no runs, no backfill, no daemon', async () => {
    expect((await get('/dashboard/dq')).body).toContain('No DQ results yet.');
    const jobs = (await get('/dashboard/jobs')).body;
    expect(jobs).toContain('No job runs recorded.');
    expect(jobs).toContain('No backfill recorded.');
    // Next fire of "10 16 * * 1-5" New York after 10:00 on Monday 2 Dec: 16:10 the same day.
    expect(jobs).toContain('2024-12-02 16:10:00 EST');
    expect((await get('/dashboard/live')).body).toContain('no daemon');
    expect((await get('/dashboard/series?symbol=AAPL&date=2024-11-29')).body).toContain('No curated bars for AAPL on 2024-11-29.');
  });

  it('answers bad parameters with 400 and unknown pages with 404, escaping what it echoes', async () => {
    expect((await get('/dashboard/gap?symbol=AAPL&date=2024-13-01')).status).toBe(400);
    expect((await get('/dashboard/gap?symbol=NOPE&date=2024-11-29')).status).toBe(400);
    expect((await get('/dashboard/series?symbol=AAPL&feature=x:y:z')).status).toBe(400);
    expect((await get('/dashboard?days=0')).status).toBe(400);
    const r = await get('/dashboard/gap/%3Cscript%3E/2024-11-29');
    expect(r.status).toBe(400);
    expect(r.body).not.toContain('<script>');
    expect((await get('/dashboard/nope')).status).toBe(404);
    expect((await get('/dashboard/assets/nope.js')).status).toBe(404);
    const js = await fetch(`${server.url}/dashboard/assets/uPlot.iife.min.js`);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect((await js.text()).length).toBeGreaterThan(10_000);
  });
});
