/**
 * npm run soak:crash -- [--cycles 2000] [--max-saves-per-life 20] [--train-every 1] [--seed 1] [--dir <dir>]: the long
 * version of the crash-injection test (test/train/checkpointCrash.test.ts). Prints the counts and exits 1 on any
 * broken promise.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { arg } from './benchCommon';
import { runCrashInjection } from './crashInjection';

async function main(): Promise<void> {
  const dir = arg('dir', '') || fs.mkdtempSync(path.join(os.tmpdir(), 'dino-soak-crash-'));
  const t0 = Date.now();
  const r = await runCrashInjection({
    dir,
    cycles: Number(arg('cycles', '2000')),
    maxSavesPerLife: Number(arg('max-saves-per-life', '20')),
    startupKills: 0.2,
    trainEvery: Number(arg('train-every', '1')),
    seed: Number(arg('seed', '1')),
    log: (m) => console.log(m),
  });
  console.log(JSON.stringify({ ...r, dir, minutes: +((Date.now() - t0) / 60000).toFixed(1) }, null, 2));
  if (r.violations.length > 0) process.exit(1);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
