import { buildSimLake } from './sim-lake.js';
import { Daemon } from '../../../src/ops/daemon.js';
import { dashboardRouteTable } from '../../../src/ops/dashboard/dashboard-routes.js';
import { twsMarketFactory } from '../../../src/ops/tws-market-service.js';
import { silentLogger } from '../../../src/ops/logging-setup.js';
const s = await buildSimLake();
const d = await Daemon.start({ settings: s.settings, clock: s.clock, logger: silentLogger(), market: twsMarketFactory(), prefixRoutes: (x) => dashboardRouteTable({ app: x.app, daemon: x }) });
console.log('URL', d.url, s.rig.dir);
await new Promise((r) => setTimeout(r, 900_000));
