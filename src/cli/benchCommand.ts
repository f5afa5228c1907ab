import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';

const BENCHES: Record<string, string> = {
  train: 'benchTrain.js',
  infer: 'benchInfer.js',
  ingest: 'benchIngest.js',
  serve: 'benchServe.js',
  views: 'benchViews.js',
  kernels: 'benchKernels.js',
  detectors: 'benchDetectors.js',
  events: 'benchEvents.js',
  scale: 'benchScale.js',
};

export function registerBench(program: Command): void {
  program
    .command('bench <name> [args...]')
    .description(`Run a benchmark and print its table: ${Object.keys(BENCHES).join(', ')} (same as npm run bench:<name>)`)
    .allowUnknownOption()
    .action((name: string, args: string[]) => {
      const script = BENCHES[name];
      if (!script) {
        console.error(`dino-stream bench: unknown benchmark "${name}"; choose one of: ${Object.keys(BENCHES).join(', ')}`);
        process.exit(2);
      }
      const file = path.resolve(__dirname, '..', '..', 'scripts', script);
      const r = spawnSync(process.execPath, [file, ...args], { stdio: 'inherit' });
      process.exit(r.status ?? 1);
    });
}
