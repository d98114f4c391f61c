import type { BarSize } from '../../core/bars.js';
import type { Instrument, WhatToShow } from '../../core/instruments.js';

/** The bar dataset a backfill fills (pipelines/bar-datasets.ts); absent: `tws.historical_bar_size`, each instrument's what_to_show. */
export interface BackfillDataset {
  readonly barSize: BarSize;
  /** The series requested for every instrument, stored in its own raw partition; null: each instrument's own. */
  readonly series: WhatToShow | null;
  /** Instrument keys of the dataset; null: all. Instruments outside it are left out of the run. */
  readonly instruments: readonly string[] | null;
}

/** The instruments of a dataset, each asking for the dataset's series when it has one (its windows, batch ids and ledger lines follow). */
export function datasetInstruments(requested: readonly Instrument[], ds: BackfillDataset | undefined): Instrument[] {
  const series = ds?.series ?? null;
  return requested.filter((i) => !ds?.instruments || ds.instruments.includes(i.key)).map((i) => (series === null ? i : { ...i, what_to_show: series }));
}
