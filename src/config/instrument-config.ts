import { z } from 'zod';
import { INSTRUMENT_KEY_MESSAGE, isValidInstrumentKey } from '../core/instruments.js';

export const CALENDAR_CODES = ['XNYS', 'CMES', 'FX'] as const;

export const instrumentConfigSchema = z
  .object({
    key: z.string().refine(isValidInstrumentKey, INSTRUMENT_KEY_MESSAGE),
    sec_type: z.enum(['STK', 'FUT', 'CASH', 'IND', 'CONTFUT', 'ETF']),
    symbol: z.string().min(1),
    exchange: z.string().min(1),
    primary_exchange: z.string().min(1).optional(),
    currency: z.string().length(3),
    last_trade_date_or_contract_month: z.string().regex(/^\d{6}(\d{2})?$/).optional(),
    local_symbol: z.string().optional(),
    multiplier: z.string().optional(),
    con_id: z.number().int().positive().optional(),
    calendar: z.enum(CALENDAR_CODES),
    what_to_show: z.enum(['TRADES', 'MIDPOINT', 'BID', 'ASK', 'BID_ASK', 'ADJUSTED_LAST']).default('TRADES'),
    use_rth: z.boolean().default(true),
  })
  .strict();
export type InstrumentConfig = z.infer<typeof instrumentConfigSchema>;

export const timeSeriesConfigSchema = z
  .object({
    canonical_frequency: z.string().regex(/^\d+(s|min|h|d)$/, 'expected e.g. 1min, 5min, 5s').default('1min'),
    timezone: z.string().default('America/New_York'),
    trading_calendar: z.enum(CALENDAR_CODES).default('XNYS'),
  })
  .strict();

export const calendarsConfigSchema = z
  .object({
    /** Ad-hoc closures added without a release, per calendar: list of YYYY-MM-DD session dates. */
    extra_closures: z
      .partialRecord(z.enum(CALENDAR_CODES), z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')))
      .default({}),
  })
  .strict();
