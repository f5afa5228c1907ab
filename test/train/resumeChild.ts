/**
 * Child process of checkpoint.test.ts: a fresh process and engine that resumes from the latest checkpoint in
 * argv[2], runs argv[3] more steps on the deterministic batches and writes losses and final weights to argv[4].
 */
import * as fs from 'node:fs';
import { resumeRun } from './resumeRun';

resumeRun(process.argv[2]!, Number(process.argv[3]), process.argv[5] ?? 'cpu')
  .then((out) => fs.writeFileSync(process.argv[4]!, JSON.stringify(out)))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
