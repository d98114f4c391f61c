import { Lake } from '../src/storage/lake.js';
const lake = await Lake.open({ root: '/tmp/i17/lake-ts', threads: 1 });
await lake.run(`CREATE OR REPLACE TABLE v AS SELECT 1709562600000 + i * 60000 AS ms FROM range(2000000) t(i)`);
const res = new Map<string, number[]>();
async function t(name: string, expr: string) {
  const c0 = process.cpuUsage();
  const r = await lake.query(`SELECT max(${expr})::VARCHAR AS m, min(${expr})::VARCHAR AS n FROM v`);
  const c = process.cpuUsage(c0);
  res.set(name, [...(res.get(name) ?? []), Math.round((c.user + c.system) / 1000)]);
  if (!res.has(name + '_v')) { res.set(name + '_v', []); console.log(name, r[0]); }
}
for (let i = 0; i < 4; i++) {
  await t('cast epoch_ms', 'CAST(epoch_ms(ms) AS TIMESTAMPTZ)');
  await t('to_timestamp', 'to_timestamp(ms / 1000.0)');
  await t('make_timestamp cast', 'CAST(make_timestamp(ms * 1000) AS TIMESTAMPTZ)');
  await t('epoch_ms only', 'epoch_ms(ms)');
  await t('timestamptz literal +', "TIMESTAMPTZ '1970-01-01 00:00:00+00' + to_milliseconds(ms)");
}
for (const [k, v] of res) if (!k.endsWith('_v')) console.log(k.padEnd(26), v.join(' '), 'min', Math.min(...v));
await lake.close();
