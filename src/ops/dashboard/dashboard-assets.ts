import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * The dashboard's static files: uPlot straight from its npm package (no CDN, nothing copied
 * into the repo) and the small script that turns each page's JSON block into a chart.
 */

/**
 * Draws every `[data-chart]` element from the JSON block it names. Two kinds:
 * `series` (bars: price on the left axis, imputed bars as red points, one feature on the right
 * axis) and `lines` (one line per series over dates). Times are shown in the payload's zone.
 */
const CHARTS_JS = `(function () {
  'use strict';
  if (typeof uPlot !== 'function') return;
  var palette = ['#1f6feb', '#d1242f', '#8250df', '#1a7f37', '#b26a00', '#0a7ea4', '#bf3989', '#57606a'];
  function build(el) {
    var payload = JSON.parse(document.getElementById(el.getAttribute('data-chart')).textContent);
    var tz = payload.tz || 'Etc/UTC';
    var data = [payload.x];
    var series = [{}];
    var labels = payload.labels;
    var scales = { x: { time: !labels } };
    var axes = [{}];
    if (labels) {
      // Categorical x (session dates): one tick per date, thinned when crowded.
      var step = Math.max(1, Math.ceil(labels.length / 15));
      scales.x.range = function () { return [-0.5, labels.length - 0.5]; };
      axes[0] = {
        splits: function () { var s = []; for (var k = 0; k < labels.length; k += step) s.push(k); return s; },
        values: function (u, splits) { return splits.map(function (k) { return labels[k] || ''; }); }
      };
      series[0] = { label: 'session', value: function (u, k) { return k == null ? '--' : (labels[k] || ''); } };
    }
    var seenScale = {};
    payload.series.forEach(function (s, i) {
      data.push(s.values);
      var color = s.color || palette[i % palette.length];
      var scale = s.scale || 'y';
      var def = { label: s.label, stroke: color, scale: scale, width: 1.5, spanGaps: false };
      if (s.points) {
        def.paths = function () { return null; };
        def.points = { show: true, size: 6, fill: color, stroke: color };
      } else if (payload.kind === 'lines') {
        def.points = { show: true, size: 5 };
      }
      series.push(def);
      if (!seenScale[scale]) {
        seenScale[scale] = true;
        scales[scale] = {};
        var axis = { scale: scale, stroke: '#57606a' };
        if (Object.keys(seenScale).length > 1) { axis.side = 1; axis.grid = { show: false }; axis.stroke = color; }
        axes.push(axis);
      }
    });
    var opts = {
      width: Math.max(320, el.clientWidth || 900),
      height: el.classList.contains('small') ? 240 : 320,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), tz); },
      scales: scales,
      series: series,
      axes: axes,
      legend: { live: true },
      cursor: { drag: { x: true, y: false } }
    };
    var plot = new uPlot(opts, data, el);
    window.addEventListener('resize', function () { plot.setSize({ width: Math.max(320, el.clientWidth), height: opts.height }); });
  }
  var els = document.querySelectorAll('[data-chart]');
  for (var i = 0; i < els.length; i++) {
    try { build(els[i]); } catch (e) { els[i].textContent = 'chart failed: ' + e; }
  }
})();
`;

export interface Asset {
  readonly type: string;
  readonly body: string;
}

const require = createRequire(import.meta.url);
let uplotCache: { js: string; css: string } | null = null;

function uplot(): { js: string; css: string } {
  uplotCache ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplotCache;
}

/** The asset of a file name under `assets/`, or undefined. */
export function dashboardAsset(name: string): Asset | undefined {
  switch (name) {
    case 'uPlot.iife.min.js':
      return { type: 'text/javascript; charset=utf-8', body: uplot().js };
    case 'uPlot.min.css':
      return { type: 'text/css; charset=utf-8', body: uplot().css };
    case 'charts.js':
      return { type: 'text/javascript; charset=utf-8', body: CHARTS_JS };
    default:
      return undefined;
  }
}
