import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../../src/ops/daemon.js';
import { dashboardRouteTable } from '../../../src/ops/dashboard/dashboard-routes.js';
import { silentLogger } from '../../../src/ops/logging-setup.js';
import { twsMarketFactory } from '../../../src/ops/tws-market-service.js';
import { REPO, spawnTs, waitForExit } from '../../support/child.js';
import { buildSimLake, GAP_DATE, type SimLake } from './sim-lake.js';

// The browser's global, for the functions evaluated in the page (this project's tsconfig has no DOM lib).
declare function getComputedStyle(el: unknown, pseudo?: string): { backgroundImage: string; backgroundColor: string; borderRightColor: string };

const ARTIFACTS = join(REPO, 'test-artifacts');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let lake: SimLake;
let daemon: Daemon;
let profile: string;
let browser: BrowserContext;
let base: string;

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function cellStates(page: Page): Promise<string[]> {
  // Each cell links to gap/<symbol>/<date>; its class names its state.
  return page.$$eval('#heatmap tbody td', (tds) => tds.map((td) => `${(td.querySelector('a')?.getAttribute('href') ?? '').split('/').slice(1).join(' ')} ${td.className}`));
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  lake = await buildSimLake();
  daemon = await Daemon.start({
    settings: lake.settings,
    clock: lake.clock,
    logger: silentLogger(),
    market: twsMarketFactory(),
    prefixRoutes: (d) => dashboardRouteTable({ app: d.app, daemon: d }),
  });
  base = daemon.url as string;
  // The daemon's start-up catch-up stores the open session (Monday 2024-12-02) before the live stream.
  await until('the catch-up of 2024-12-02', () => lake.rig.rawStore.listDates().includes('2024-12-02'));
  await until('the TWS connection', () => daemon.market?.isConnected() === true);
  profile = mkdtempSync(join(tmpdir(), 'ibpipe-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await lake?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('operator dashboard in Chromium, served by a daemon on the sim', () => {
  it('heatmap: one cell per instrument and session date, the injected gap marked, holiday and early close distinct; clicking the gap opens its report', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${base}/`);
    expect(res?.url()).toBe(`${base}/dashboard`); // `/` redirects to the dashboard
    // By hand: AAPL, MSFT × Mon 25 … Fri 29 Nov (Thanksgiving Thu 28 closed, Fri 29 closes 13:00)
    // plus Mon 2 Dec, the open session the daemon caught up but nothing has transformed yet.
    const states = await cellStates(page);
    expect(states).toHaveLength(2 * 6);
    expect(states.sort()).toEqual(
      [
        'AAPL 2024-11-25 ok',
        'AAPL 2024-11-26 gap b3', // 97 %: the >= 95 % colour
        'AAPL 2024-11-27 ok',
        'AAPL 2024-11-28 closed',
        'AAPL 2024-11-29 ok short',
        'AAPL 2024-12-02 untr',
        'MSFT 2024-11-25 ok',
        'MSFT 2024-11-26 ok',
        'MSFT 2024-11-27 ok',
        'MSFT 2024-11-28 closed',
        'MSFT 2024-11-29 ok short',
        'MSFT 2024-12-02 untr',
      ].sort(),
    );
    const gap = page.locator(`#heatmap td.gap:has(a[href="gap/AAPL/${GAP_DATE}"])`);
    // 10 deleted bars + 1 quarantined bar of 390: (390 - 11) / 390.
    expect(Number(await gap.getAttribute('data-ratio'))).toBeCloseTo(379 / 390, 4);
    // Closed and early-close cells look different from gaps: hatched background, corner marker.
    const closedBg = await page.locator('#heatmap td.closed').first().evaluate((el) => getComputedStyle(el).backgroundImage);
    expect(closedBg).toContain('repeating-linear-gradient');
    const marker = await page.locator('#heatmap td.short').first().evaluate((el) => getComputedStyle(el, '::after').borderRightColor);
    expect(marker).not.toBe('rgba(0, 0, 0, 0)');
    const gapBg = await gap.evaluate((el) => getComputedStyle(el).backgroundColor);
    const fullBg = await page.locator('#heatmap td.ok').first().evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(gapBg).not.toBe(fullBg);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-heatmap.png'), fullPage: true });

    await gap.locator('a').click();
    await page.waitForURL(`${base}/dashboard/gap/AAPL/${GAP_DATE}`);
    expect(await page.locator('h1').textContent()).toContain(`AAPL · ${GAP_DATE}`);
    // The two missing runs, by hand: 10:00–10:09 New York (deleted) and 11:00 (quarantined).
    const runs = await page.$$eval('#missing-runs tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent?.trim())));
    expect(runs).toEqual([
      ['10:00', '10:09', '10'],
      ['11:00', '11:00', '1'],
    ]);
    const quarantined = await page.$$eval('table.quarantine tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]).toContain('2024-11-26 11:00:00 EST');
    expect(quarantined[0]).toContain('ohlc_consistency');
    expect(await page.locator('#gap-state').textContent()).toContain('11 of 390 expected bars were not observed');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-gap-report.png'), fullPage: true });

    // A closed cell's report says so instead of listing gaps.
    await page.goto(`${base}/dashboard/gap?symbol=MSFT&date=2024-11-28`);
    expect(await page.locator('#gap-state').textContent()).toContain('no session on 2024-11-28');
    await page.close();
  });

  it('data quality: failures per rule over time with a chart, the latest run, and a failure leading to its quarantined rows', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard/dq`);
    await page.locator('.chart canvas').first().waitFor();
    const link = page.locator('#dq-matrix a[href*="rule=ohlc_consistency"]');
    expect(await link.count()).toBe(1);
    expect(await link.textContent()).toBe('1');
    await link.click();
    await page.waitForURL(/\/dashboard\/quarantine\?/);
    expect(await page.locator('#quarantine-total').textContent()).toBe('1');
    expect(await page.locator('table.quarantine tbody tr').textContent()).toContain('AAPL');

    await page.goto(`${base}/dashboard/dq?date=${GAP_DATE}`);
    const failures = await page.$$eval('table.failures tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(failures.some((f) => f.includes('bar_count') && f.includes('AAPL'))).toBe(true);
    await page.close();
  });

  it('series view: close with imputed bars marked, a feature overlaid, the latest predictions', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard/series?symbol=AAPL&date=${GAP_DATE}&feature=tech:v1:sma_20`);
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('#imputed-bars tbody tr').count()).toBe(11);
    const legend = await page.locator('.u-legend').textContent();
    expect(legend).toContain('close');
    expect(legend).toContain('imputed');
    expect(legend).toContain('sma_20');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-series.png'), fullPage: false });
    // Predictions of the newest partition on or before the session shown.
    await page.goto(`${base}/dashboard/series?symbol=AAPL&date=2024-11-29`);
    const pred = await page.locator('table.predictions tbody tr').textContent();
    expect(pred).toContain('0.0123');
    await page.close();
  });

  it('jobs and live state: ledger runs, next scheduled run, backfill progress, connection, last bars, pacing', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard/jobs`);
    // Next fire of "10 16 * * 1-5" New York after Monday 2024-12-02 10:00: the same day 16:10.
    expect(await page.locator('#jobs tr[data-job="transform"] td.next-run').textContent()).toContain('2024-12-02 16:10:00 EST');
    expect(await page.locator('#runs tbody tr').count()).toBe(5);
    const backfill = await page.$$eval('#backfill tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(backfill.map((b) => b.slice(0, 4))).toEqual(['AAPL', 'MSFT']);
    expect(backfill[0]).toContain('2024-11-25 … ');

    await page.goto(`${base}/dashboard/live`);
    expect(await page.locator('#live-status').textContent()).toBe('connected');
    const rows = await page.$$eval('#last-bars tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r).toContain('2024-12-02');
    expect(Number(await page.locator('#pacing-granted').textContent())).toBeGreaterThan(0); // cumulative: the catch-up made requests
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-live.png'), fullPage: true });
    await page.close();
  });

  it('renders every table with JavaScript disabled', async () => {
    const page = await browser.newPage();
    const cdp = await browser.newCDPSession(page);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    await page.goto(`${base}/dashboard`);
    expect(await page.locator('#heatmap tbody td').count()).toBe(12);
    await page.goto(`${base}/dashboard/dq`);
    expect(await page.locator('#dq-matrix tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('.chart canvas').count()).toBe(0); // charts need scripts; tables do not
    await page.goto(`${base}/dashboard/series?symbol=AAPL&date=${GAP_DATE}`);
    expect(await page.locator('#imputed-bars tbody tr').count()).toBe(11);
    await page.goto(`${base}/dashboard/jobs`);
    expect(await page.locator('#runs tbody tr').count()).toBe(5);
    await page.goto(`${base}/dashboard/live`);
    expect(await page.locator('#last-bars tbody tr').count()).toBe(2);
    await page.close();
  });

  it('`ibpipe dashboard` serves the same lake without the daemon', async () => {
    const config = join(lake.rig.dir, 'dashboard.yaml');
    writeFileSync(
      config,
      JSON.stringify({ ...JSON.parse(JSON.stringify(lake.settings)), logging: { level: 'info', format: 'json' } }),
    );
    const child = spawnTs('src/cli/main.ts', ['dashboard', '--config', config, '--port', '0']);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buf = '';
        child.stdout?.on('data', (d: Buffer) => {
          buf += d.toString();
          const m = /"url":"([^"]+)"/.exec(buf);
          if (m) resolve(m[1] as string);
        });
        child.on('exit', (code) => reject(new Error(`dashboard exited with ${code}: ${buf}`)));
      });
      const live = await (await fetch(`${url}/live`)).text();
      expect(live).toContain('no daemon');
      const heatmap = await (await fetch(url)).text();
      expect(heatmap.match(/<a href="gap\//g)).toHaveLength(12);
      expect(heatmap).toMatch(/<td class="gap b3" data-ratio="0.9718" title="AAPL 2024-11-26: 379\/390 observed[^"]*"><a href="gap\/AAPL\/2024-11-26">97<\/a><\/td>/);
      const jobs = await (await fetch(`${url}/jobs`)).text();
      expect(jobs).toContain('(from the schedule; no daemon)');
      const bad = await fetch(`${url}/gap?symbol=..&date=2024-11-26`);
      expect(bad.status).toBe(400);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await waitForExit(child)).toBe(0);
  });
});
