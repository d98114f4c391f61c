import { main } from '../../src/cli/program.js';

/**
 * Runs the real `ibpipe` command tree in this process (no child process: the parsing, the
 * command's action and the exit code of src/cli/program.ts), capturing stdout and stderr.
 */
export async function runCliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const capture = (key: 'stdout' | 'stderr') =>
    ((chunk: string | Uint8Array) => {
      out[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture('stdout');
  process.stderr.write = capture('stderr');
  const exitCode = process.exitCode;
  try {
    return { code: await main(args), ...out };
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    process.exitCode = exitCode;
  }
}
