import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSettings, parseYaml } from '../../src/config/settings.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/ops/logging-setup.js';
import { ManualClock } from '../../src/core/clock.js';
import { simDurationMs } from '../../src/sim/sim-config.js';
import { gatewayOptionsFrom, simSettingsFromDocument } from '../../src/sim/sim-options.js';
import { startSimGateway } from '../../src/sim/sim-server.js';
import { REPO } from '../support/child.js';
import { IbProbe } from './ib-probe.js';

const MAIN = `
lake: { root: ./lake }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, primary_exchange: NASDAQ, currency: USD, calendar: XNYS }
  - { key: IBM, sec_type: STK, symbol: IBM, exchange: SMART, primary_exchange: NYSE, currency: USD, calendar: XNYS }
sim:
  port: 4100
  speed: 30
  pacing: { time_scale: 0.5 }
  faults:
    latency_ms: 20
    bad_bars: { rate: 0.01 }
    scenario:
      - { at: 5m, action: connectivity_loss, restore: data_lost, duration: 30s }
`;

describe('sim config', () => {
  it('is a strict slice of the ibpipe config', () => {
    const settings = parseSettings(parseYaml(MAIN, 'main.yaml'), 'main.yaml', '/tmp');
    expect(settings.sim).toMatchObject({
      port: 4100,
      speed: 30,
      pacing: { time_scale: 0.5, enabled: true },
      faults: { latency_ms: 20 },
    });
    expect(settings.sim?.faults.bad_bars?.kinds).toHaveLength(7);
    const bad = parseYaml(`${MAIN}\n  bogus: 1\n`, 'bad.yaml');
    expect(() => parseSettings(bad, 'bad.yaml')).toThrow(ConfigError);
    try {
      parseSettings(bad, 'bad.yaml');
    } catch (err) {
      expect((err as ConfigError).issues).toContain('sim.bogus: unknown key');
    }
  });

  it('reads the shipped standalone sim YAML', () => {
    const file = join(REPO, 'config/sim.example.yaml');
    const { settings, configured } = simSettingsFromDocument(
      parseYaml(readFileSync(file, 'utf8'), file),
      file,
      join(REPO, 'config'),
    );
    expect(configured).toEqual([]);
    expect(settings.instruments.map((i) => i.key)).toEqual(['XOM']);
    expect(settings.port).toBe(4002);
  });

  it('serves every instrument of a whole ibpipe config, with defaults for unknown ones', async () => {
    const { settings, configured } = simSettingsFromDocument(parseYaml(MAIN, 'main.yaml'), 'main.yaml');
    const opts = gatewayOptionsFrom(
      settings,
      configured,
      new ManualClock(Date.UTC(2024, 11, 2, 15)),
      silentLogger(),
    );
    expect(opts.instruments?.map((i) => i.key)).toEqual(['IBM']);
    expect(opts).toMatchObject({ port: 4100, pacingTimeScale: 0.5, faults: { latencyMs: 20 } });
    const gw = await startSimGateway({ ...opts, port: 0, faults: {} });
    const ib = new IbProbe(gw.port);
    try {
      await ib.connect(71);
      const r = await ib.historical(
        1,
        { symbol: 'IBM', secType: 'STK' as never, exchange: 'SMART', currency: 'USD' },
        '20241127 16:00:00 US/Eastern',
        '23400 S',
        '1 min',
        'TRADES',
        1,
        2,
      );
      expect(r.bars).toHaveLength(390);
    } finally {
      ib.disconnect();
      await gw.close();
    }
  });

  it('reports every problem of a standalone sim YAML with its path', () => {
    expect(() =>
      simSettingsFromDocument(
        { port: 70000, faults: { scenario: [{ at: 'soon', action: 'explode' }] } },
        'x.yaml',
      ),
    ).toThrow(ConfigError);
    try {
      simSettingsFromDocument(
        { port: 70000, faults: { scenario: [{ at: '1s', action: 'explode' }] } },
        'x.yaml',
      );
    } catch (err) {
      const issues = (err as ConfigError).issues;
      expect(issues.some((i) => i.startsWith('port:'))).toBe(true);
      expect(issues.some((i) => i.startsWith('faults.scenario.0'))).toBe(true);
    }
    expect(simDurationMs('250ms')).toBe(250);
    expect(simDurationMs('1.5s')).toBe(1500);
    expect(simDurationMs('2h')).toBe(7_200_000);
  });
});
