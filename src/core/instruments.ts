import { InputError } from './errors.js';

/** Instrument keys are partition values and SQL literals: this pattern keeps them inside their directory. */
export const INSTRUMENT_KEY_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const INSTRUMENT_KEY_MESSAGE = 'must match ^[A-Za-z0-9._-]{1,32}$';

export function isValidInstrumentKey(key: string): boolean {
  // "." and ".." match the character class but would name the partition's parent.
  return INSTRUMENT_KEY_PATTERN.test(key) && key !== '.' && key !== '..';
}

/** Throws InputError unless key is a safe instrument key. */
export function assertInstrumentKey(key: string): string {
  if (!isValidInstrumentKey(key)) {
    throw new InputError(`invalid instrument key ${JSON.stringify(key)}: ${INSTRUMENT_KEY_MESSAGE}`, {
      details: { key },
    });
  }
  return key;
}

/** The IB contract fields ibpipe sends; snake_case mirrors the config file. */
export interface ContractSpec {
  readonly sec_type: 'STK' | 'FUT' | 'CASH' | 'IND' | 'CONTFUT' | 'ETF';
  readonly symbol: string;
  readonly exchange: string;
  readonly primary_exchange?: string | undefined;
  readonly currency: string;
  readonly last_trade_date_or_contract_month?: string | undefined;
  readonly local_symbol?: string | undefined;
  readonly multiplier?: string | undefined;
  readonly con_id?: number | undefined;
}

export type WhatToShow = 'TRADES' | 'MIDPOINT' | 'BID' | 'ASK' | 'BID_ASK' | 'ADJUSTED_LAST';

export interface Instrument extends ContractSpec {
  readonly key: string;
  readonly calendar: string;
  readonly what_to_show: WhatToShow;
  readonly use_rth: boolean;
}
