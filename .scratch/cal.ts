import { getCalendar } from '../src/calendar/calendar-registry.js';
for (const code of ['XNYS', 'CMES', 'FX'] as const) {
  const cal = getCalendar(code);
  for (const d of ['2024-03-08', '2024-03-09', '2024-03-10', '2024-03-11', '2024-11-27', '2024-11-28', '2024-11-29', '2024-12-24', '2024-12-25', '2024-07-03']) {
    const s = cal.session(d);
    console.log(code, d, s ? `${new Date(s.open).toISOString()} ${new Date(s.close).toISOString()} ${JSON.stringify((s.breaks ?? []).map((b) => [new Date(b.start).toISOString(), new Date(b.end).toISOString()]))}` : 'closed');
  }
}
