import { MAX_HISTORICAL_REQUESTS_PER_WINDOW } from '../../data-sources/tws/pacing.js';
import { BACKFILL_LEDGER } from '../../storage/state-ledgers.js';
import type { JobRunRecord } from '../job-ledger.js';
import { ratioBucket, type CoverageCell } from './coverage-math.js';
import type { CoverageView } from './pages/coverage-queries.js';
import type { DqDateView, DqOverview } from './pages/dq-queries.js';
import type { GapReportView } from './pages/gap-queries.js';
import type { BackfillRow, JobSummary } from './pages/jobs-queries.js';
import type { LiveView } from './pages/live-queries.js';
import type { QuarantineView } from './pages/quarantine-queries.js';
import type { SeriesView } from './pages/series-queries.js';
import { formatClock, formatDuration, formatInstant, formatNumber, formatPercent } from './display-format.js';
import { escapeHtml, html, jsonScript, raw, type HtmlValue, type SafeHtml } from './safe-html.js';

/**
 * Server-rendered pages. Every table is plain HTML (readable with JavaScript off); charts are
 * progressive: a JSON block plus `assets/charts.js` (uPlot) draws them when scripts run.
 */

export type PageName = 'coverage' | 'dq' | 'jobs' | 'series' | 'live';

export interface PageContext {
  /** Mount point, e.g. `/dashboard`. */
  readonly base: string;
  /** Zone instants are shown in (time_series.timezone). */
  readonly timezone: string;
  /** One-word state of the live feed for the header: `connected`, `disconnected`, `no live feed`, `no daemon`. */
  readonly status: { label: string; tone: 'ok' | 'bad' | 'idle' };
  readonly now: number;
}

const STYLE = `
:root{--fg:#1d2430;--muted:#667085;--line:#d9dee7;--bg:#fff;--head:#f4f6f9;--ok:#1a7f37;--bad:#c62828;--warn:#b26a00}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line);background:var(--head)}
header b{font-size:1.05rem}nav a{margin-right:1rem;color:var(--fg);text-decoration:none}nav a.on{font-weight:600;border-bottom:2px solid var(--fg)}
.pill{margin-left:auto;padding:.1rem .6rem;border-radius:1rem;font-size:.85rem;border:1px solid var(--line)}.pill.ok{color:var(--ok)}.pill.bad{color:var(--bad)}.pill.idle{color:var(--muted)}
main{padding:1rem}h1{font-size:1.25rem;margin:.2rem 0 .8rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
table.data{border-collapse:collapse;margin:.3rem 0 1rem}table.data th,table.data td{border:1px solid var(--line);padding:.2rem .5rem;text-align:left;vertical-align:top}
table.data th{background:var(--head);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}small{color:var(--muted)}
form.bar{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:.4rem 0 .8rem}form.bar label{display:flex;flex-direction:column;font-size:.8rem;color:var(--muted)}
.scroll{overflow-x:auto;max-width:100%}
table.heatmap{border-collapse:separate;border-spacing:2px;font-size:10px}
table.heatmap th{font-weight:500;white-space:nowrap;text-align:left;font-size:11px}
table.heatmap thead th.d{writing-mode:vertical-rl;transform:rotate(180deg);height:4.2em;padding:0 0 2px;text-align:left;color:var(--muted)}
table.heatmap thead th.d.wk{color:var(--fg)}
#heatmap td{width:18px;height:18px;padding:0;text-align:center;border-radius:2px}#heatmap td.short{position:relative}
#heatmap td a{display:block;width:100%;height:100%;line-height:18px;color:#fff;text-decoration:none;font-size:9px}
#heatmap td.ok{background:#2da44e}td.b4{background:#8fd19e}#heatmap td.b4 a{color:#1d2430}td.b3{background:#f2cc60}#heatmap td.b3 a{color:#1d2430}td.b2{background:#f0883e}td.b1{background:#d1242f}td.b0{background:#82071e}
#heatmap td.untr{background:#6e7781}#heatmap td.future{background:#fff;outline:1px dashed var(--line)}
#heatmap td.closed{background:repeating-linear-gradient(45deg,#e6e9ef 0 3px,#c4c9d2 3px 5px)}
#heatmap td.short::after{content:"";position:absolute;top:0;right:0;border-style:solid;border-width:0 7px 7px 0;border-color:transparent #1d2430 transparent transparent;pointer-events:none}
.legend{display:flex;flex-wrap:wrap;gap:.9rem;align-items:center;font-size:.85rem;margin:.4rem 0 .8rem}.legend span.sw{display:inline-block;width:14px;height:14px;vertical-align:middle;margin-right:.3rem;position:relative;border-radius:2px}
.chart{min-height:320px;margin:.5rem 0 1rem;max-width:1100px}.chart.small{min-height:240px}
.kv{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:.3rem 0 1rem}.kv dt{color:var(--muted)}.kv dd{margin:0}
progress{width:10rem}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
`;

function href(ctx: PageContext, path: string, params: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return `${ctx.base}${path ? `/${path}` : ''}${s ? `?${s}` : ''}`;
}

function layout(ctx: PageContext, page: PageName | null, title: string, body: SafeHtml, opts: { refreshS?: number; charts?: boolean } = {}): string {
  const nav: [PageName, string, string][] = [
    ['coverage', '', 'Coverage'],
    ['dq', 'dq', 'Data quality'],
    ['jobs', 'jobs', 'Jobs'],
    ['series', 'series', 'Series'],
    ['live', 'live', 'Live'],
  ];
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
${opts.refreshS ? raw(`<meta http-equiv="refresh" content="${Math.trunc(opts.refreshS)}">`) : null}
<base href="${ctx.base}/">
<title>${title} · ibpipe</title>
<style>${raw(STYLE)}</style>
${opts.charts ? html`<link rel="stylesheet" href="${ctx.base}/assets/uPlot.min.css">` : null}
</head><body>
<header><b>ibpipe</b><nav>${nav.map(([p, path, label]) => html`<a href="${href(ctx, path)}" class="${p === page ? 'on' : ''}">${label}</a>`)}</nav>
<span class="pill ${ctx.status.tone}" id="live-status">${ctx.status.label}</span></header>
<main>${body}</main>
${opts.charts ? html`<script src="${ctx.base}/assets/uPlot.iife.min.js"></script><script src="${ctx.base}/assets/charts.js"></script>` : null}
</body></html>`.value;
}

function kv(rows: [string, HtmlValue][]): SafeHtml {
  return html`<dl class="kv">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

// ---------------------------------------------------------------------------------------------
// Coverage heatmap

export interface HeatmapOptions {
  readonly sort: 'worst' | 'symbol';
  readonly page: number;
  readonly per: number;
  readonly filter: string;
  readonly days: number;
  /** The window as the user asked for it (kept in links). */
  readonly start: string | null;
  readonly end: string | null;
}

function cellTitle(c: CoverageCell): string {
  const head = `${c.symbol} ${c.date}`;
  switch (c.state) {
    case 'closed':
      return `${head}: exchange closed (holiday or weekend)`;
    case 'future':
      return `${head}: session not started${c.short ? ' (short session)' : ''}`;
    case 'untransformed':
      return `${head}: not transformed yet (no curated partition); ${c.expected} bars expected`;
    default:
      return `${head}: ${c.observed}/${c.expected} observed (${formatPercent(c.ratio)}), ${c.imputed} imputed${c.unfilled ? `, ${c.unfilled} unfilled` : ''}${c.quarantined ? `, ${c.quarantined} quarantined` : ''}${c.short ? ' · early close' : ''}`;
  }
}

/** CSS class of a cell's state (short, because a full heatmap has tens of thousands of cells). */
const STATE_CLASS: Record<CoverageCell['state'], string> = { complete: 'ok', gap: 'gap', closed: 'closed', future: 'future', untransformed: 'untr' };

/**
 * One heatmap cell, built as a plain string: this is the page's hot loop. Complete cells carry
 * no title (the colour says it all), so a 500 x 60 heatmap stays near 50 bytes a cell. Symbols
 * and dates are validated keys, escaped anyway.
 */
function cellHtml(c: CoverageCell): string {
  let cls = STATE_CLASS[c.state];
  if (c.state === 'gap') cls += ` b${ratioBucket(c.ratio ?? 0)}`;
  if (c.short) cls += ' short';
  const link = `gap/${escapeHtml(c.symbol)}/${c.date}`;
  if (c.state === 'complete' && !c.short) return `<td class="${cls}"><a href="${link}"></a></td>`;
  const label = c.state === 'gap' ? String(Math.floor((c.ratio ?? 0) * 100)) : c.state === 'untransformed' ? '–' : '';
  const ratio = c.state === 'gap' ? ` data-ratio="${(c.ratio ?? 0).toFixed(4)}"` : '';
  return `<td class="${cls}"${ratio} title="${escapeHtml(cellTitle(c))}"><a href="${link}">${label}</a></td>`;
}

function rowScore(cells: readonly CoverageCell[]): number {
  let min = 2;
  for (const c of cells) if (c.ratio !== null && c.state !== 'complete') min = Math.min(min, c.state === 'untransformed' ? 0 : c.ratio);
  return min;
}

export function coveragePage(ctx: PageContext, v: CoverageView, o: HeatmapOptions): string {
  const filter = o.filter.trim().toUpperCase();
  const rows = filter ? v.rows.filter((r) => r.symbol.toUpperCase().includes(filter)) : [...v.rows];
  if (o.sort === 'worst') {
    const score = new Map(rows.map((r) => [r.symbol, rowScore(r.cells)]));
    rows.sort((a, b) => (score.get(a.symbol) as number) - (score.get(b.symbol) as number) || (a.symbol < b.symbol ? -1 : 1));
  }
  const pages = Math.max(1, Math.ceil(rows.length / o.per));
  const page = Math.min(Math.max(1, o.page), pages);
  const shown = rows.slice((page - 1) * o.per, page * o.per);
  const all = v.rows.flatMap((r) => r.cells);
  const gaps = all.filter((c) => c.state === 'gap' || c.state === 'untransformed');
  const worst = [...gaps].sort((a, b) => (a.ratio ?? 0) - (b.ratio ?? 0) || (a.date < b.date ? 1 : -1)).slice(0, 12);
  const keep = { sort: o.sort, q: o.filter || null, days: o.days, start: o.start, end: o.end, per: o.per };
  const weekday = (d: string): string => ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][new Date(`${d}T00:00:00Z`).getUTCDay()] as string;

  const body = html`<h1>Coverage: observed curated bars / bars the calendar expects</h1>
<p>${v.rows.length} instruments × ${v.dates.length} session dates (${v.start} … ${v.end}) · dataset <code>${v.dataset}</code> ·
<span id="gap-count">${gaps.length}</span> cells with gaps · data ${v.firstDataDate ?? '—'} … ${v.lastDataDate ?? '—'}</p>
<form class="bar" method="get" action="${href(ctx, '')}">
<label>Instrument<input name="q" value="${o.filter}" size="10" placeholder="filter"></label>
<label>Sort<select name="sort"><option value="worst"${raw(o.sort === 'worst' ? ' selected' : '')}>worst first</option><option value="symbol"${raw(o.sort === 'symbol' ? ' selected' : '')}>by symbol</option></select></label>
<label>Sessions<input name="days" type="number" min="1" max="250" value="${o.days}" size="4"></label>
<label>End<input name="end" type="date" value="${o.end ?? ''}"></label>
<button type="submit">Show</button></form>
<div class="legend">
<span><span class="sw" style="background:#2da44e"></span>complete</span>
<span><span class="sw" style="background:#8fd19e"></span>≥ 99 %</span>
<span><span class="sw" style="background:#f2cc60"></span>≥ 95 %</span>
<span><span class="sw" style="background:#f0883e"></span>≥ 80 %</span>
<span><span class="sw" style="background:#d1242f"></span>&gt; 0 %</span>
<span><span class="sw" style="background:#82071e"></span>nothing observed</span>
<span><span class="sw" style="background:#6e7781"></span>not transformed</span>
<span><span class="sw" style="background:repeating-linear-gradient(45deg,#e6e9ef 0 3px,#c4c9d2 3px 5px)"></span>closed (holiday / weekend)</span>
<span><span class="sw" style="background:#2da44e;border-top:0"></span>◥ early close (shorter session)</span>
<span class="muted">cell text: % observed when below 100</span></div>
<div class="scroll"><table class="heatmap" id="heatmap">
<thead><tr><th scope="col">Instrument</th>${v.dates.map((d) => html`<th scope="col" class="d${weekday(d) === 'Mon' ? ' wk' : ''}" title="${weekday(d)} ${d}">${d.slice(5)}</th>`)}</tr></thead>
<tbody>${shown.map(
    (r) => html`<tr><th scope="row"><a href="${href(ctx, 'series', { symbol: r.symbol, date: v.end })}">${r.symbol}</a> <small>${r.calendar}</small></th>${raw(r.cells.map(cellHtml).join(''))}</tr>`,
  )}</tbody></table></div>
<p>Page ${page} of ${pages} (${rows.length} instruments${filter ? ' matching' : ''})
${page > 1 ? html` · <a href="${href(ctx, '', { ...keep, page: page - 1 })}">previous</a>` : null}
${page < pages ? html` · <a href="${href(ctx, '', { ...keep, page: page + 1 })}" rel="next">next</a>` : null}</p>
${worst.length > 0
    ? html`<h2>Largest gaps in this window</h2><table class="data"><thead><tr><th>Instrument</th><th>Session</th><th class="num">Observed</th><th class="num">Expected</th><th class="num">Coverage</th><th class="num">Imputed</th><th class="num">Quarantined</th></tr></thead><tbody>${worst.map(
        (c) =>
          html`<tr><td>${c.symbol}</td><td><a href="${href(ctx, 'gap', { symbol: c.symbol, date: c.date })}">${c.date}</a>${c.short ? html` <small>early close</small>` : null}</td><td class="num">${formatNumber(c.observed)}</td><td class="num">${formatNumber(c.expected)}</td><td class="num">${c.state === 'untransformed' ? 'not transformed' : formatPercent(c.ratio)}</td><td class="num">${formatNumber(c.imputed)}</td><td class="num">${formatNumber(c.quarantined)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="ok">No gaps in this window.</p>`}`;
  return layout(ctx, 'coverage', 'Coverage', body);
}

// ---------------------------------------------------------------------------------------------
// Gap report

export function gapPage(ctx: PageContext, v: GapReportView): string {
  const tz = v.timezone;
  const s = v.session;
  const c = v.cell;
  const span = (a: number, b: number): string => `${formatClock(a, tz)}–${formatClock(b, tz)}`;
  const state =
    c.state === 'closed'
      ? html`<p class="muted" id="gap-state">${v.calendar} has no session on ${v.date} (holiday, weekend or closure): nothing is expected.</p>`
      : c.state === 'future'
        ? html`<p class="muted" id="gap-state">The session has no complete bar yet.</p>`
        : c.state === 'complete'
          ? html`<p class="ok" id="gap-state">Every expected bar was observed.</p>`
          : c.state === 'untransformed'
            ? html`<p class="bad" id="gap-state">No curated partition for ${v.date}: the transform has not run (or refused to publish) for this date.</p>`
            : html`<p class="bad" id="gap-state">${c.expected - c.observed} of ${c.expected} expected bars were not observed.</p>`;
  const body = html`<h1>Gap report: ${v.symbol} · ${v.date}</h1>
<p><a href="${href(ctx, '')}">← coverage</a> · <a href="${href(ctx, 'series', { symbol: v.symbol, date: v.date })}">series view</a> · <a href="${href(ctx, 'quarantine', { date: v.date, symbol: v.symbol })}">quarantined rows</a> · <a href="${href(ctx, 'dq', { date: v.date })}">DQ results of ${v.date}</a></p>
${state}
${kv([
  ['Calendar', `${v.calendar} (${tz})`],
  ['Session', s ? `${formatInstant(s.open, tz)} – ${formatClock(s.close, tz)}${c.short ? ` · early close (regular ${formatDuration(v.regularLengthMs)})` : ''}` : 'closed'],
  ['Expected bars (complete now)', formatNumber(c.expected)],
  ['Observed', html`${formatNumber(c.observed)} <small>${formatPercent(c.ratio)}</small>`],
  ['Imputed', formatNumber(c.imputed)],
  ['Unfilled (no value)', formatNumber(c.unfilled)],
  ['Quarantined rows', formatNumber(v.quarantined.length)],
  ['Raw rows stored', `${formatNumber(v.raw.rows)} (${formatNumber(v.raw.bars)} distinct bars)`],
])}
<h2>Missing runs</h2>
${v.runs.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table class="data" id="missing-runs"><thead><tr><th>From</th><th>To (last bar)</th><th class="num">Bars</th><th>Filled by</th><th>UTC</th></tr></thead><tbody>${v.runs.map(
        (r) =>
          html`<tr><td>${formatClock(r.start, tz)}</td><td>${formatClock(r.last, tz)}</td><td class="num">${r.bars}</td><td>${r.filledBy.join(', ')}</td><td><small>${new Date(r.start).toISOString().slice(11, 16)}–${new Date(r.last).toISOString().slice(11, 16)}</small></td></tr>`,
      )}</tbody></table><p class="muted">${v.runs.length} run(s), ${v.runs.reduce((a, r) => a + r.bars, 0)} bars; times in ${tz}${s ? ` (session ${span(s.open, s.close)})` : ''}.</p>`}
<h2>Quarantined rows</h2>
${v.quarantined.length === 0
    ? html`<p class="muted">None.</p>`
    : quarantineTable(ctx, v.quarantined, tz, false)}
<h2>Data-quality result</h2>
${v.dq === null
    ? html`<p class="muted">No DQ result recorded for ${v.symbol} on ${v.date}.</p>`
    : html`${kv([
        ['Run', formatInstant(v.dq.run_at, ctx.timezone)],
        ['Severity', html`<span class="${v.dq.severity === 'ok' ? 'ok' : v.dq.severity === 'error' ? 'bad' : 'warn'}">${v.dq.severity}</span>`],
        ['Published', v.dq.published ? 'yes' : 'no'],
        ['Gap engine', v.dq.session ? `${v.dq.session.observed}/${v.dq.session.expected} observed, ${v.dq.session.imputed} imputed, ${v.dq.session.unfilled} unfilled, longest gap ${v.dq.session.longest_gap} bars` : '—'],
      ])}${v.dq.failures.length > 0 ? failuresTable(ctx, v.date, v.dq.failures) : html`<p class="muted">No rule failures for ${v.symbol}.</p>`}`}`;
  return layout(ctx, 'coverage', `Gaps ${v.symbol} ${v.date}`, body);
}

function quarantineTable(ctx: PageContext, rows: readonly Record<string, unknown>[], tz: string, withSymbol: boolean): SafeHtml {
  return html`<table class="data quarantine"><thead><tr>${withSymbol ? html`<th>Instrument</th>` : null}<th>Bar</th><th>Stage</th><th>Rule</th><th>Reason</th><th class="num">Open</th><th class="num">High</th><th class="num">Low</th><th class="num">Close</th><th class="num">Volume</th><th>Batch</th></tr></thead><tbody>${rows.map(
    (r) =>
      html`<tr>${withSymbol ? html`<td>${String(r['symbol'])}</td>` : null}<td>${typeof r['ts'] === 'number' ? formatInstant(r['ts'], tz) : '—'}</td><td>${String(r['stage'] ?? '')}</td><td>${String(r['rule'] ?? '')}${r['other_rules'] ? html` <small>also ${String(r['other_rules'])}</small>` : null}</td><td>${String(r['reason'] ?? '')}</td>${['open', 'high', 'low', 'close', 'volume'].map((k) => html`<td class="num">${formatNumber(r[k])}</td>`)}<td><small>${String(r['batch_id'] ?? '')}</small></td></tr>`,
  )}</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------
// Data quality

function failureLink(ctx: PageContext, date: string, f: { rule: string; action: string; symbol: string | null }): string {
  if (f.action === 'quarantine') return href(ctx, 'quarantine', { date, symbol: f.symbol, rule: f.rule });
  return f.symbol ? href(ctx, 'gap', { symbol: f.symbol, date }) : href(ctx, 'dq', { date });
}

function failuresTable(ctx: PageContext, date: string, failures: readonly { rule: string; severity: string; action: string; symbol: string | null; reason: string }[]): SafeHtml {
  return html`<table class="data failures"><thead><tr><th>Rule</th><th>Severity</th><th>Action</th><th>Instrument</th><th>Reason</th><th></th></tr></thead><tbody>${failures.map(
    (f) =>
      html`<tr><td>${f.rule}</td><td class="${f.severity === 'error' ? 'bad' : 'warn'}">${f.severity}</td><td>${f.action}</td><td>${f.symbol ?? '—'}</td><td>${f.reason}</td><td><a href="${failureLink(ctx, date, f)}">${f.action === 'quarantine' ? 'quarantined rows' : 'gap report'}</a></td></tr>`,
  )}</tbody></table>`;
}

function dqRecordSummary(ctx: PageContext, r: DqOverview['latest'] & object): SafeHtml {
  return html`${kv([
    ['Dataset', `${r.dataset} → ${r.target}`],
    ['Session date', html`<a href="${href(ctx, 'dq', { date: r.date })}">${r.date}</a>`],
    ['Run at', formatInstant(r.run_at, ctx.timezone)],
    ['Instruments', formatNumber(r.symbols.length)],
    ['Rows judged', formatNumber(r.rows)],
    ['Severity', html`<span class="${r.severity === 'ok' ? 'ok' : r.severity === 'error' ? 'bad' : 'warn'}">${r.severity}</span>`],
    ['Published', r.published ? 'yes' : html`<span class="bad">no (refused)</span>`],
    ['Failing rules (action fail)', r.failing_rules.length ? r.failing_rules.join(', ') : 'none'],
    ['Quarantined rows', html`${formatNumber(r.quarantined)}${r.quarantined > 0 ? html` · <a href="${href(ctx, 'quarantine', { date: r.date })}">show</a>` : null}`],
    ['Outliers', formatNumber(r.outliers)],
    ['Gaps', `${formatNumber(r.gaps.observed)}/${formatNumber(r.gaps.expected)} observed, ${formatNumber(r.gaps.imputed)} imputed, ${formatNumber(r.gaps.unfilled)} unfilled, ${formatNumber(r.gaps.overLimitGaps)} over-limit gaps`],
  ])}
<table class="data"><thead><tr><th>Rule</th><th>Type</th><th>Severity</th><th>Action</th><th class="num">Failures</th></tr></thead><tbody>${r.rules.map(
    (m) =>
      html`<tr><td>${m.name}</td><td>${m.type}</td><td>${m.severity}</td><td>${m.action}</td><td class="num ${m.failures > 0 ? (m.severity === 'error' ? 'bad' : 'warn') : ''}">${m.failures > 0 && m.action === 'quarantine' ? html`<a href="${href(ctx, 'quarantine', { date: r.date, rule: m.name })}">${formatNumber(m.failures)}</a>` : formatNumber(m.failures)}</td></tr>`,
  )}</tbody></table>`;
}

export function dqPage(ctx: PageContext, v: DqOverview): string {
  const rules = v.rules;
  const failing = rules.filter((r) => (v.failures[r.name] ?? []).some((n) => (n ?? 0) > 0));
  const chart = {
    kind: 'lines',
    labels: v.dates,
    x: v.dates.map((_, i) => i),
    series: failing.map((r) => ({ label: r.name, values: v.failures[r.name] ?? [] })),
  };
  const body = html`<h1>Data quality</h1>
<p>${formatNumber(v.runs)} transform run(s) recorded in <code>state/dq_results.jsonl</code>.</p>
<h2>Failures per rule per session date</h2>
${v.dates.length === 0
    ? html`<p class="muted">No DQ results yet.</p>`
    : html`${failing.length > 0
        ? html`<div class="chart small" data-chart="dq-data"></div>${jsonScript('dq-data', chart)}<noscript><p class="muted">The chart needs JavaScript; the table below has the same numbers.</p></noscript>`
        : html`<p class="ok">No rule failed on these dates.</p>`}
<div class="scroll"><table class="data" id="dq-matrix"><thead><tr><th>Rule</th><th>Action</th>${v.dates.map((d) => html`<th class="num"><a href="${href(ctx, 'dq', { date: d })}">${d.slice(5)}</a></th>`)}</tr></thead><tbody>${rules.map(
        (r) =>
          html`<tr><td>${r.name}</td><td>${r.action}</td>${(v.failures[r.name] ?? []).map((n, i) => {
            const d = v.dates[i] as string;
            if (n === null) return html`<td class="num muted">·</td>`;
            if (n === 0) return html`<td class="num muted">0</td>`;
            const link = r.action === 'quarantine' ? href(ctx, 'quarantine', { date: d, rule: r.name }) : href(ctx, 'dq', { date: d });
            return html`<td class="num ${r.severity === 'error' ? 'bad' : 'warn'}"><a href="${link}">${formatNumber(n)}</a></td>`;
          })}</tr>`,
      )}</tbody></table></div>`}
<h2>Latest run</h2>
${v.latest ? html`${dqRecordSummary(ctx, v.latest)}${v.latest.failures.length > 0 ? html`<h2>Failures of the latest run${v.latest.failures_total > v.latest.failures.length ? ` (first ${v.latest.failures.length} of ${v.latest.failures_total})` : ''}</h2>${failuresTable(ctx, v.latest.date, v.latest.failures.slice(0, 200))}` : null}` : html`<p class="muted">None.</p>`}`;
  return layout(ctx, 'dq', 'Data quality', body, { charts: failing.length > 0 });
}

export function dqDatePage(ctx: PageContext, v: DqDateView): string {
  const body = html`<h1>Data quality · ${v.date}</h1>
<p><a href="${href(ctx, 'dq')}">← data quality</a> · <a href="${href(ctx, 'quarantine', { date: v.date })}">quarantined rows of ${v.date}</a></p>
${v.records.length === 0
    ? html`<p class="muted">No DQ result for ${v.date}.</p>`
    : v.records.map(
        (r) =>
          html`<h2>${r.dataset} · ${r.symbols.length} instrument(s) · run ${formatInstant(r.run_at, ctx.timezone)}</h2>${dqRecordSummary(ctx, r)}${r.failures.length > 0 ? html`<h2>Failures${r.failures_total > r.failures.length ? ` (first ${r.failures.length} of ${r.failures_total})` : ''}</h2>${failuresTable(ctx, r.date, r.failures)}` : null}`,
      )}`;
  return layout(ctx, 'dq', `DQ ${v.date}`, body);
}

export function quarantinePage(ctx: PageContext, v: QuarantineView): string {
  const body = html`<h1>Quarantined rows · ${v.dataset} · ${v.date}${v.symbol ? ` · ${v.symbol}` : ''}${v.rule ? ` · rule ${v.rule}` : ''}</h1>
<p><a href="${href(ctx, 'dq', { date: v.date })}">← DQ results of ${v.date}</a>${v.symbol || v.rule ? html` · <a href="${href(ctx, 'quarantine', { date: v.date })}">all rows of ${v.date}</a>` : null}${v.symbol ? html` · <a href="${href(ctx, 'gap', { symbol: v.symbol, date: v.date })}">gap report</a>` : null}</p>
<p><span id="quarantine-total">${formatNumber(v.total)}</span> row(s)${v.rows.length < v.total ? `, first ${v.rows.length} shown` : ''}.</p>
${v.byRule.length > 0
    ? html`<table class="data"><thead><tr><th>Rule</th><th>Stage</th><th class="num">Rows</th></tr></thead><tbody>${v.byRule.map(
        (r) => html`<tr><td><a href="${href(ctx, 'quarantine', { date: v.date, symbol: v.symbol, rule: r.rule })}">${r.rule}</a></td><td>${r.stage}</td><td class="num">${formatNumber(r.n)}</td></tr>`,
      )}</tbody></table>${quarantineTable(ctx, v.rows, ctx.timezone, true)}`
    : html`<p class="muted">Nothing was quarantined.</p>`}`;
  return layout(ctx, 'dq', `Quarantine ${v.date}`, body);
}

// ---------------------------------------------------------------------------------------------
// Jobs

function statusClass(s: string | undefined): string {
  return s === 'ok' ? 'ok' : s === 'failed' || s === 'abandoned' ? 'bad' : s === 'running' ? 'warn' : 'muted';
}

function paramsText(r: JobRunRecord): string {
  const p = r.params;
  const parts: string[] = [];
  if (p.date) parts.push(String(p.date));
  if (p.start || p.end) parts.push(`${String(p.start ?? '')}…${String(p.end ?? '')}`);
  if (Array.isArray(p.symbols)) parts.push(p.symbols.length <= 3 ? p.symbols.join(',') : `${p.symbols.length} symbols`);
  return parts.join(' ');
}

export function jobsPage(ctx: PageContext, jobs: readonly JobSummary[], runs: readonly JobRunRecord[], backfill: readonly BackfillRow[], hasDaemon: boolean): string {
  const tz = ctx.timezone;
  const body = html`<h1>Jobs</h1>
<table class="data" id="jobs"><thead><tr><th>Job</th><th>Kind</th><th>Schedule</th><th>Last run</th><th>Outcome</th><th class="num">Duration</th><th>Last success</th><th class="num">Mean (ok, last 20)</th><th class="num">ok / failed (last 20)</th><th>Next run</th></tr></thead><tbody>${jobs.map(
    (j) =>
      html`<tr data-job="${j.name}"><td>${j.name}${j.configured ? null : html` <small>(not configured)</small>`}${j.enabled || !j.configured ? null : html` <small>(disabled)</small>`}</td><td>${j.kind}</td><td>${j.schedule ? html`<code>${j.schedule}</code>` : '—'} <small>${j.timezone ?? ''}</small></td><td>${j.last ? formatInstant(j.last.started_at, tz) : '—'}</td><td class="${statusClass(j.running ? 'running' : j.last?.status)}">${j.running ? 'running' : (j.last?.status ?? '—')}${j.last?.error ? html`<br><small>${j.last.error.code}: ${j.last.error.message.slice(0, 160)}</small>` : null}</td><td class="num">${formatDuration(j.last?.duration_ms)}</td><td>${j.lastOk ? formatInstant(j.lastOk.started_at, tz) : '—'}</td><td class="num">${formatDuration(j.meanDurationMs)}</td><td class="num">${j.okRuns} / ${j.failedRuns}</td><td class="next-run">${j.next !== null ? formatInstant(j.next, tz) : '—'}${j.nextSource === 'schedule' && !hasDaemon ? html` <small>(from the schedule; no daemon)</small>` : null}</td></tr>`,
  )}</tbody></table>
<h2>Backfill (state/${BACKFILL_LEDGER})</h2>
${backfill.length === 0
    ? html`<p class="muted">No backfill recorded.</p>`
    : html`<table class="data" id="backfill"><thead><tr><th>Instrument</th><th>Progress</th><th class="num">Windows</th><th class="num">ok</th><th class="num">no data</th><th class="num">pacing</th><th class="num">timeout</th><th class="num">error</th><th class="num">Bars</th><th>Sessions covered</th><th>Head timestamp</th><th>Last recorded</th><th>Last problem</th></tr></thead><tbody>${backfill.map((b) => {
        const done = b.byStatus.ok + b.byStatus['no-data'];
        return html`<tr><td>${b.instrument}</td><td><progress max="${b.windows}" value="${done}">${done}/${b.windows}</progress> <small>${done}/${b.windows}</small></td><td class="num">${b.windows}</td><td class="num">${b.byStatus.ok}</td><td class="num">${b.byStatus['no-data']}</td><td class="num">${b.byStatus.pacing}</td><td class="num">${b.byStatus.timeout}</td><td class="num">${b.byStatus.error}</td><td class="num">${formatNumber(b.bars)}</td><td>${b.firstDate ?? '—'} … ${b.lastDate ?? '—'}</td><td>${b.headTs !== null ? formatInstant(b.headTs, tz) : '—'}</td><td>${b.lastRecordedAt !== null ? formatInstant(b.lastRecordedAt, tz) : '—'}</td><td><small>${b.lastError ?? ''}</small></td></tr>`;
      })}</tbody></table>`}
<h2>Recent runs</h2>
${runs.length === 0
    ? html`<p class="muted">No job runs recorded.</p>`
    : html`<table class="data" id="runs"><thead><tr><th>Started</th><th>Job</th><th>Parameters</th><th>Trigger</th><th class="num">Attempt</th><th>Outcome</th><th class="num">Duration</th><th>Counts</th></tr></thead><tbody>${runs.map(
        (r) =>
          html`<tr><td>${formatInstant(r.started_at, tz)}</td><td>${r.job}</td><td>${paramsText(r)}${typeof r.params.date === 'string' && r.kind === 'transform' ? html` <a href="${href(ctx, 'dq', { date: r.params.date })}">DQ</a>` : null}</td><td>${r.trigger}</td><td class="num">${r.attempt}</td><td class="${statusClass(r.status)}">${r.status}${r.error ? html`<br><small>${r.error.code}: ${r.error.message.slice(0, 200)}</small>` : null}${r.reason ? html`<br><small>${r.reason}</small>` : null}</td><td class="num">${formatDuration(r.duration_ms)}</td><td><small>${Object.entries(r.counts)
            .filter(([, n]) => typeof n === 'number')
            .slice(0, 8)
            .map(([k, n]) => `${k} ${formatNumber(n)}`)
            .join(' · ')}</small></td></tr>`,
      )}</tbody></table>`}`;
  return layout(ctx, 'jobs', 'Jobs', body);
}

// ---------------------------------------------------------------------------------------------
// Series

function finiteRange(values: readonly (number | null)[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** A feature in price units (moving averages, bands, VWAP) shares the price axis; RSI or returns get their own. */
function sharesPriceScale(close: readonly (number | null)[], feature: readonly (number | null)[]): boolean {
  const p = finiteRange(close);
  const f = finiteRange(feature);
  if (!p || !f) return false;
  const span = Math.max(p[1] - p[0], Math.abs(p[1]) * 0.01);
  return f[0] >= p[0] - span && f[1] <= p[1] + span;
}

export function seriesPage(ctx: PageContext, v: SeriesView, symbols: readonly string[]): string {
  const tz = v.timezone;
  const featureKey = v.feature ? `${v.feature.group}:${v.feature.version}:${v.feature.column}` : '';
  const featureLabel = v.feature ? `${v.feature.column} (${v.feature.group} ${v.feature.version})` : null;
  const imputedRows = v.ts.map((t, i) => ({ t, i })).filter(({ i }) => v.imputed[i]);
  const chart = {
    kind: 'series',
    tz,
    x: v.ts.map((t) => t / 1000),
    series: [
      { label: 'close', values: v.close, scale: 'price', color: '#1f6feb' },
      { label: 'imputed', values: v.close.map((c, i) => (v.imputed[i] ? c : null)), scale: 'price', color: '#d1242f', points: true },
      ...(v.featureValues && featureLabel ? [{ label: featureLabel, values: v.featureValues, scale: sharesPriceScale(v.close, v.featureValues) ? 'price' : 'feature', color: '#8250df' }] : []),
    ],
  };
  const body = html`<h1>Series: ${v.symbol} · ${v.date}</h1>
<form class="bar" method="get" action="${href(ctx, 'series')}">
<label>Instrument<select name="symbol">${symbols.map((s) => html`<option${raw(s === v.symbol ? ' selected' : '')}>${s}</option>`)}</select></label>
<label>Session<input type="date" name="date" value="${v.date}"></label>
<label>Feature<select name="feature"><option value="">(none)</option>${v.catalog.map((f) => {
    const key = `${f.group}:${f.version}:${f.column}`;
    return html`<option value="${key}"${raw(key === featureKey ? ' selected' : '')}>${f.group} ${f.version} · ${f.column}</option>`;
  })}</select></label>
<button type="submit">Show</button>
<a href="${href(ctx, 'gap', { symbol: v.symbol, date: v.date })}">gap report</a></form>
${v.ts.length === 0
    ? html`<p class="muted" id="series-empty">No curated bars for ${v.symbol} on ${v.date}.</p>`
    : html`<p>${v.ts.length} bars, <span class="bad">${imputedRows.length} imputed</span> (red points)${featureLabel ? html`; overlay <b>${featureLabel}</b>` : null}${v.featureMissing ? html` <small>(${v.featureMissing})</small>` : null}; times in ${tz}.</p>
<div class="chart" data-chart="series-data"></div>${jsonScript('series-data', chart)}
<noscript><p class="muted">The chart needs JavaScript; the tables below work without it.</p></noscript>
<h2>Imputed bars</h2>
${imputedRows.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table class="data" id="imputed-bars"><thead><tr><th>Bar</th><th>Imputation</th><th class="num">Close</th></tr></thead><tbody>${imputedRows.slice(0, 400).map(
            ({ t, i }) => html`<tr><td>${formatInstant(t, tz)}</td><td>${v.imputation[i] ?? ''}</td><td class="num">${formatNumber(v.close[i])}</td></tr>`,
          )}</tbody></table>`}
<details><summary>All ${v.ts.length} bars</summary><table class="data" id="bars"><thead><tr><th>Bar</th><th class="num">Close</th><th>Imputed</th>${featureLabel ? html`<th class="num">${v.feature?.column ?? ''}</th>` : null}</tr></thead><tbody>${v.ts.map(
        (t, i) =>
          html`<tr${v.imputed[i] ? raw(' class="bad"') : null}><td>${formatClock(t, tz)}</td><td class="num">${formatNumber(v.close[i])}</td><td>${v.imputed[i] ? (v.imputation[i] ?? 'yes') : ''}</td>${v.featureValues ? html`<td class="num">${formatNumber(v.featureValues[i], 6)}</td>` : null}</tr>`,
      )}</tbody></table></details>`}
<h2>Latest predictions</h2>
${v.predictions.length === 0
    ? html`<p class="muted">No predictions stored for ${v.symbol} up to ${v.date}.</p>`
    : v.predictions.map(
        (p) =>
          html`<h3>${p.model} <small>partition ${p.date}</small></h3>${p.rows.length === 0
            ? html`<p class="muted">No rows for ${v.symbol}.</p>`
            : html`<table class="data predictions"><thead><tr>${p.columns.map((c) => html`<th>${c.name}</th>`)}</tr></thead><tbody>${p.rows.map(
                (r) =>
                  html`<tr>${p.columns.map((c) => {
                    const val = r[c.name];
                    return html`<td>${c.type.startsWith('TIMESTAMP') && typeof val === 'number' ? formatInstant(val, tz) : typeof val === 'object' && val !== null ? JSON.stringify(val) : formatNumber(val, 6)}</td>`;
                  })}</tr>`,
              )}</tbody></table>`}`,
      )}`;
  return layout(ctx, 'series', `${v.symbol} ${v.date}`, body, { charts: v.ts.length > 0 });
}

// ---------------------------------------------------------------------------------------------
// Live

export function livePage(ctx: PageContext, v: LiveView, barMs: number): string {
  const tz = ctx.timezone;
  const pacing = v.pacing as { granted?: number; waited?: number; totalWaitMs?: number; waitsByRule?: Record<string, number>; historicalBudget?: number; openRequests?: number; queued?: number } | null;
  const body = html`<h1>Live state</h1>
${v.mode === 'no-daemon'
    ? html`<p class="muted" id="live-mode"><b>no daemon</b>: this page serves the lake alone (<code>ibpipe dashboard</code>); last bars below are the newest stored raw bars.</p>`
    : v.connected === null
      ? html`<p class="muted" id="live-mode">Daemon running without live market data (<code>--no-live</code>).</p>`
      : html`<p id="live-mode">TWS connection: <b class="${v.connected ? 'ok' : 'bad'}">${v.connected ? 'connected' : 'disconnected'}</b> · health <b class="${v.health?.status === 'ok' ? 'ok' : 'bad'}">${v.health?.status ?? '—'}</b> · event loop p99 ${formatNumber(v.health?.event_loop_p99_ms ?? null, 1)} ms</p>`}
<p class="muted">As of ${formatInstant(v.now, tz)}; refreshes every 15 s.</p>
<h2>Last bar per instrument</h2>
<table class="data" id="last-bars"><thead><tr><th>Instrument</th><th>Session now</th><th>Last bar start</th><th class="num">Age</th><th></th></tr></thead><tbody>${v.instruments.map((i) => {
    const stale = i.open && i.ageS !== null && i.ageS * 1000 > 5 * 60_000 + barMs;
    return html`<tr><td>${i.symbol}</td><td>${i.open ? 'open' : html`<span class="muted">closed</span>`}</td><td>${formatInstant(i.lastBar, tz)}</td><td class="num">${i.ageS === null ? '—' : formatDuration(i.ageS * 1000)}</td><td>${stale ? html`<span class="bad">stale</span>` : i.source === 'stored' ? html`<small>stored</small>` : ''}</td></tr>`;
  })}</tbody></table>
<h2>Pacing</h2>
${pacing === null
    ? html`<p class="muted">${v.mode === 'no-daemon' ? 'no daemon' : 'no live market data'}: no pacing state.</p>`
    : html`${kv([
        [
          'Historical requests in the last 10 min',
          pacing.historicalBudget !== undefined
            ? html`<span id="pacing-in-use">${MAX_HISTORICAL_REQUESTS_PER_WINDOW - pacing.historicalBudget}</span> of ${MAX_HISTORICAL_REQUESTS_PER_WINDOW} <progress max="${MAX_HISTORICAL_REQUESTS_PER_WINDOW}" value="${MAX_HISTORICAL_REQUESTS_PER_WINDOW - pacing.historicalBudget}"></progress>`
            : '—',
        ],
        ['Open requests', formatNumber(pacing.openRequests ?? null)],
        ['Queued', formatNumber(pacing.queued ?? null)],
        ['Requests granted / waited (since start)', html`<span id="pacing-granted">${formatNumber(pacing.granted ?? null)}</span> / ${formatNumber(pacing.waited ?? null)}`],
        ['Total wait', formatDuration(pacing.totalWaitMs ?? null)],
      ])}${pacing.waitsByRule && Object.keys(pacing.waitsByRule).length > 0 ? html`<table class="data"><thead><tr><th>Rule</th><th class="num">Waits</th></tr></thead><tbody>${Object.entries(pacing.waitsByRule).map(([k, n]) => html`<tr><td>${k}</td><td class="num">${formatNumber(n)}</td></tr>`)}</tbody></table>` : null}`}
${v.health
    ? html`<h2>Scheduler</h2><table class="data"><thead><tr><th>Job</th><th>Last status</th><th>Last start</th><th>Next run</th></tr></thead><tbody>${v.health.jobs.map(
        (j) => html`<tr><td>${j.job}</td><td class="${statusClass(j.last_status ?? undefined)}">${j.last_status ?? '—'}</td><td>${j.last_started_at ? formatInstant(Date.parse(j.last_started_at), tz) : '—'}</td><td>${j.next_run ? formatInstant(Date.parse(j.next_run), tz) : '—'}</td></tr>`,
      )}</tbody></table>`
    : null}`;
  return layout(ctx, 'live', 'Live', body, { refreshS: 15 });
}

export function errorPage(ctx: PageContext, status: number, message: string): string {
  return layout(ctx, null, `Error ${status}`, html`<h1>${status === 404 ? 'Not found' : 'Bad request'}</h1><p class="bad" id="error">${message}</p><p><a href="${href(ctx, '')}">← coverage</a></p>`);
}
