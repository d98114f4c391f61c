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
