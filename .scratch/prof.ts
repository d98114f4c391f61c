import { ManualClock } from '../src/core/clock.js';
import { dqRulesConfigSchema, gapsConfigSchema } from '../src/data-quality/dq-config.js';
import { silentLogger } from '../src/ops/logging-setup.js';
import { runTransformSql } from '../src/pipelines/transform-sql.js';
import { QuarantineStore } from '../src/storage/quarantine-store.js';
import { JsonlLedger } from '../src/storage/state-store.js';
import { makeBars } from '../test/support/bar-factory.js';
import { openTempLake } from '../test/support/temp-lake.js';
const t = await openTempLake();
const utc = (s: string) => Date.parse(s);
await t.raw.writeTwsBars([...makeBars('AAPL', utc('2024-03-12T13:30:00Z'), utc('2024-03-12T20:00:00Z')), ...makeBars('MSFT', utc('2024-03-12T13:30:00Z'), utc('2024-03-12T20:00:00Z'))], 'b1', 1);
const lake = t.lake;
const origRun = lake.run.bind(lake);
(lake as any).run = async (sql: string) => { const t0 = performance.now(); await origRun(sql); const dt = performance.now() - t0; if (dt > 5) console.log(dt.toFixed(1), sql.slice(0, 70).replace(/\s+/g, ' ')); };
const origQ = lake.query.bind(lake);
(lake as any).query = async (sql: string) => { const t0 = performance.now(); const r = await origQ(sql); const dt = performance.now() - t0; if (dt > 5) console.log('Q', dt.toFixed(1), sql.slice(0, 70).replace(/\s+/g, ' ')); return r; };
const deps = { lake, rawStore: t.raw, curatedStore: t.curated, quarantineStore: new QuarantineStore(lake), dqLedger: new JsonlLedger<any>(lake.path('state', 'dq.jsonl')), calendars: t.calendars, clock: new ManualClock(utc('2024-03-13T01:00:00Z')), logger: silentLogger(),
  dqRules: dqRulesConfigSchema.parse({ tws_bars: [{ type: 'ohlc_consistency' }, { type: 'range', field: 'close', min: 0.01, max: 1e5 }, { type: 'bar_count', tolerance: { bars: 10 } }] }), gaps: gapsConfigSchema.parse({}), barSize: '1 min' as const };
for (let i = 0; i < 2; i++) { const t0 = performance.now(); await runTransformSql('2024-03-12', undefined, deps); console.log('total', performance.now() - t0); }
await t.cleanup();
