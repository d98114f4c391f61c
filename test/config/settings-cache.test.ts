import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSettingsCached } from '../../src/config/settings-cache.js';
import { loadSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-settings-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = 'lake: { root: ./lake }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n';

let n = 0;
function setup(text = GOOD): { file: string; cacheDir: string } {
  const base = join(dir, `case-${++n}`);
  mkdirSync(base);
  const file = join(base, 'ibpipe.yaml');
  writeFileSync(file, text);
  return { file, cacheDir: join(base, 'cache') };
}

const entries = (cacheDir: string): string[] => {
  try {
    return readdirSync(cacheDir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
};

/** Rewrites the one stored entry's lake root: a later load that returns it was served by the cache, not validated. */
function tamper(cacheDir: string, root: string): void {
  const [entry] = entries(cacheDir);
  const path = join(cacheDir, entry!);
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { lake: { root: string } };
  stored.lake.root = root;
  writeFileSync(path, JSON.stringify(stored));
}

describe('loadSettingsCached: a config validated before with the same inputs is read back, anything else is validated', () => {
  it('a miss validates like loadSettings and stores the result; the same inputs are then served from the store, frozen', async () => {
    const { file, cacheDir } = setup();
    const first = await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    expect(first).toEqual(loadSettings(file, {}));
    expect(first.settings.lake.root).toBe(join(file, '..', 'lake')); // relative to the file, resolved once
    expect(entries(cacheDir)).toHaveLength(1);

    tamper(cacheDir, '/served/from/cache');
    const second = await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    expect(second.settings.lake.root).toBe('/served/from/cache');
    expect(second.file).toBe(first.file);
    expect(Object.isFrozen(second.settings)).toBe(true);
    expect(Object.isFrozen(second.settings.instruments[0])).toBe(true);
  });

  it('another config text, another IBPIPE_ variable or another build is validated again (the stored entry is not used)', async () => {
    const { file, cacheDir } = setup();
    await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    tamper(cacheDir, '/stale');

    expect((await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b2' })).settings.lake.root).not.toBe('/stale');
    expect((await loadSettingsCached(file, { IBPIPE_TWS__PORT: '4001' }, { dir: cacheDir, build: 'b1' })).settings.tws.port).toBe(4001);
    // Variables without the prefix do not change the settings, so they do not miss.
    expect((await loadSettingsCached(file, { PATH: '/x' }, { dir: cacheDir, build: 'b1' })).settings.lake.root).toBe('/stale');

    writeFileSync(file, GOOD.replace('./lake', './lake2'));
    expect((await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' })).settings.lake.root).toBe(join(file, '..', 'lake2'));
  });

  it('a bad config fails with the errors loadSettings gives, also after its good version was stored, and is never stored', async () => {
    const { file, cacheDir } = setup();
    await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    writeFileSync(file, `${GOOD}bogus: 1\ntws: { port: x }\n`);
    const expected = (() => {
      try {
        loadSettings(file, {});
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('expected the edited config to be invalid');
    })();
    expect(expected.issues).toEqual(expect.arrayContaining(['bogus: unknown key']));
    for (let i = 0; i < 2; i++) {
      const err = await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).issues).toEqual(expected.issues);
      expect((err as ConfigError).message).toBe(expected.message);
    }
    expect(entries(cacheDir)).toHaveLength(1); // the good version's entry only
    // An environment override that breaks the file names the variable, as loadSettings does.
    const envErr = await loadSettingsCached(setup().file, { IBPIPE_TWS__PORT: 'x' }, { dir: cacheDir, build: 'b1' }).catch((e: unknown) => e);
    expect((envErr as ConfigError).issues.join('\n')).toContain('IBPIPE_TWS__PORT');
  });

  it('stores nothing when off (running the sources); a folder others can write is not used; a corrupt entry is validated again and replaced', async () => {
    const off = setup();
    await loadSettingsCached(off.file, {}, { dir: off.cacheDir, build: null });
    expect(entries(off.cacheDir)).toEqual([]);

    // A folder others can write is neither read nor written: an entry planted there is ignored.
    const shared = setup();
    await loadSettingsCached(shared.file, {}, { dir: shared.cacheDir, build: 'b1' });
    tamper(shared.cacheDir, '/planted');
    chmodSync(shared.cacheDir, 0o777);
    expect((await loadSettingsCached(shared.file, {}, { dir: shared.cacheDir, build: 'b1' })).settings.lake.root).toBe(join(shared.file, '..', 'lake'));
    chmodSync(shared.cacheDir, 0o700);
    expect((await loadSettingsCached(shared.file, {}, { dir: shared.cacheDir, build: 'b1' })).settings.lake.root).toBe('/planted');

    const { file, cacheDir } = setup();
    await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    const [entry] = entries(cacheDir);
    writeFileSync(join(cacheDir, entry!), '{"lake": {'); // cut short
    const again = await loadSettingsCached(file, {}, { dir: cacheDir, build: 'b1' });
    expect(again).toEqual(loadSettings(file, {}));
    expect(JSON.parse(readFileSync(join(cacheDir, entry!), 'utf8'))).toEqual(again.settings);
  });
});
