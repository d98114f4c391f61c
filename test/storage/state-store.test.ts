import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonlLedger } from '../../src/storage/state-store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ibpipe-ledger-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('JsonlLedger', () => {
  it('reads records appended by itself and by another writer, skipping a torn line from a crash', () => {
    const file = join(dir, 'state', 'l.jsonl');
    const ledger = new JsonlLedger<{ n: number }>(file);
    expect(ledger.readAll()).toEqual([]);
    ledger.append({ n: 1 });
    expect(ledger.readAll()).toEqual([{ n: 1 }]);
    // another process appends a record, then dies mid-write of the next one
    appendFileSync(file, '{"n":2}\n{"n":');
    expect(ledger.readAll()).toEqual([{ n: 1 }, { n: 2 }]);
    // the next append starts on a fresh line; the torn fragment is skipped, nothing is glued to it
    ledger.appendMany([{ n: 3 }, { n: 4 }]);
    expect(new JsonlLedger<{ n: number }>(file).readAll()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(ledger.readAll()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });

  it('starts over when the file is replaced by a shorter one', () => {
    const file = join(dir, 'l.jsonl');
    const ledger = new JsonlLedger<{ n: number }>(file);
    ledger.appendMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(ledger.readAll()).toHaveLength(3);
    writeFileSync(file, '{"n":9}\n');
    expect(ledger.readAll()).toEqual([{ n: 9 }]);
  });
});
