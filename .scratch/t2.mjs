import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const q = async (s) => { try { const r = await c.runAndReadAll(s); console.log(JSON.stringify(r.getRows(), (k,v)=> typeof v==='bigint'? String(v): v)); } catch (e) { console.log('ERR', e.message); } };
await q(`SELECT 'abcdef'[1:2], 'abcdef'[3:], 'abcdef'[1], repeat('0', 0), repeat('0', -1), printf('%04d', 5), printf('%.30e', 1.25::DOUBLE), printf('%.30f', 6.25::DOUBLE), printf('%.3e', 9.9996::DOUBLE)`);
await q(`SELECT split_part('1e+21','e',2), CAST('+21' AS INTEGER), CAST('-07' AS INTEGER), split_part('123','.',2) = ''`);
await q(`SELECT year(epoch_ms(0::BIGINT)), strftime(epoch_ms(-5::BIGINT), '-%m-%dT%H:%M:%S.%gZ')`);
