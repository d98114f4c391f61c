import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lake } from '../../src/storage/lake.js';

/** A lake in a fresh temp folder, removed by `dispose`. */
export interface BenchLake {
  readonly dir: string;
  readonly lake: Lake;
  dispose(): Promise<void>;
}

export async function openBenchLake(): Promise<BenchLake> {
  const dir = mkdtempSync(join(tmpdir(), 'ibpipe-bench-'));
  const lake = await Lake.open({ root: dir });
  return {
    dir,
    lake,
    async dispose() {
      await lake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
