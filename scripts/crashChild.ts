/**
 * The process that crash injection kills (scripts/crashInjection.ts): the agent's training side on the micro model
 * and the cpu backend, resuming from `dir` and then training and checkpointing as fast as it can. Prints one JSON
 * line per event on stdout: started (what it resumed, the temp files left in dir after start), saved (each
 * checkpoint written and verified). Usage: crashChild <dir> [n] [start-only]: one real training step every n
 * checkpoints; start-only: start, say so and write nothing more (a life that is only to show how it starts).
 */
import * as fs from 'node:fs';
import { TrainerService } from '../src/train/TrainerService';
import { modelSize } from '../src/model/modelSizes';
import { recipe } from '../src/train/recipes';
import { Random } from '../src/util/Random';
import type { Frame } from '../streams/Frame';

const dir = process.argv[2];
const trainEvery = Number(process.argv[3] ?? 1);
const startOnly = process.argv[4] === 'start-only';
if (!dir || !(trainEvery >= 1)) throw new Error('usage: crashChild <checkpoint dir> [train every n checkpoints]');
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);

function frames(rng: Random, n: number): Frame[] {
  return Array.from({ length: n }, (_, index) => {
    const rgb = new Uint8Array(16 * 16 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = rng.int(256);
    return { streamId: 'crash', t: index, index, width: 16, height: 16, rgb };
  });
}

async function main(): Promise<void> {
  const trainer = recipe('stream', { model: modelSize('micro'), batchSize: 4, horizonSteps: 1000 });
  const logs: string[] = [];
  const { service, ready } = await TrainerService.create(
    { trainer, backend: { backend: 'cpu' }, checkpoint: { dir, keep: 3, resume: true } },
    (m) => logs.push(m),
  );
  const temps = fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
  say({ type: 'started', pid: process.pid, step: ready.step, resumedFrom: ready.resumedFrom ?? null, temps, logs });
  // a kill that lands late on a loaded machine must not find a write of this life under way
  if (startOnly) return void setInterval(() => undefined, 60_000);
  const rng = new Random(process.pid);
  for (let i = 0; ; i++) {
    // the checkpoints are what is under test: the steps in between may only be counted, to write more of them
    if (i % trainEvery === trainEvery - 1) service.trainStep(frames(rng, 4));
    else service.frameTrainer.trainer.stepCount++;
    const file = await service.checkpoint();
    say({ type: 'saved', step: service.step, file });
  }
}

main().catch((e: unknown) => {
  say({ type: 'error', error: e instanceof Error ? e.stack ?? e.message : String(e) });
  process.exit(1);
});
