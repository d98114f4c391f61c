import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';

const inst = { key: 'AAPL', sec_type: 'STK', symbol: 'AAPL', exchange: 'SMART', currency: 'USD', calendar: 'XNYS' };

describe('settings', () => {
  it('reports every problem with its path', () => {
    try {
      parseSettings({ instruments: [inst, { ...inst, key: '../../etc' }, { ...inst, key: 'A/B', bogus: 1 }], tws: { port: 'x' } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const issues = (err as ConfigError).issues;
      expect(issues).toContain('instruments[1].key: must match ^[A-Za-z0-9._-]{1,32}$');
      expect(issues).toContain('instruments[2].key: must match ^[A-Za-z0-9._-]{1,32}$');
      expect(issues).toContain('instruments[2].bogus: unknown key');
      expect(issues.some((i) => i.startsWith('tws.port:'))).toBe(true);
    }
  });

  it('freezes the parsed settings', () => {
    const s = parseSettings({ instruments: [inst] });
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.instruments[0])).toBe(true);
    expect(s.tws.port).toBe(4002);
  });
});

describe('environment overrides', () => {
  it('applies IBPIPE_A__B values as YAML scalars and names the variable in errors', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadSettings } = await import('../../src/config/settings.js');
    const dir = mkdtempSync(join(tmpdir(), 'ibpipe-cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'lake: { root: ./lake }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n');
    const ok = loadSettings(file, { IBPIPE_TWS__PORT: '4001', IBPIPE_LAKE__ROOT: '/srv/lake', OTHER: 'x' }).settings;
    expect(ok.tws.port).toBe(4001);
    expect(ok.lake.root).toBe('/srv/lake');
    try {
      loadSettings(file, { IBPIPE_TWS__PORT: 'many', IBPIPE_REQUIRE_X: '1' });
      expect.unreachable();
    } catch (err) {
      const issues = (err as ConfigError).issues;
      expect(issues.find((i) => i.startsWith('tws.port:'))).toMatch(/\(set by environment variable IBPIPE_TWS__PORT\)$/);
      expect(issues).toContain('require_x: unknown key (set by environment variable IBPIPE_REQUIRE_X)');
    }
    rmSync(dir, { recursive: true, force: true });
  });
});
