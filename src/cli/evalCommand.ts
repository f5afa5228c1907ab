import * as fs from 'node:fs';
import type { Command } from 'commander';
import { knnEval, type KnnEvalReport } from '../eval/knnEval';
import type { Budget } from '../eval/StreamTrainingRun';
import { MODEL_SIZES, type ModelSizeName } from '../model/modelSizes';
import type { RecipeName } from '../train/recipes';
import { ImageFolderError } from '../eval/ImageFolder';

interface CommonFlags {
  images?: string;
  minutes?: string;
  steps?: string;
  model: string;
  recipe: string;
  batch: string;
  buffer: string;
  seed: string;
  backend: string;
  json?: string;
  checkpoint?: string;
  evalAt?: string;
}

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got "${v}"`);
  return n;
}

export function budgetOf(f: CommonFlags): Budget {
  return { images: positive('images', f.images), minutes: positive('minutes', f.minutes), steps: positive('steps', f.steps) };
}

function checkCommon(f: CommonFlags): void {
  if (!(f.model in MODEL_SIZES)) throw new Error(`--model must be one of ${Object.keys(MODEL_SIZES).join(', ')}, got "${f.model}"`);
  if (f.recipe !== 'stream' && f.recipe !== 'paper') throw new Error(`--recipe must be stream or paper, got "${f.recipe}"`);
}

function addCommon(cmd: Command): Command {
  return cmd
    .option('--images <n>', 'budget: stop after this many images seen (steps x batch)')
    .option('--minutes <m>', 'budget: stop after this many minutes of training')
    .option('--steps <s>', 'budget: stop after this many training steps')
    .option('--model <name>', 'model size (micro, small, tiny, cifar)', 'cifar')
    .option('--recipe <name>', 'training recipe: stream or paper', 'stream')
    .option('--batch <n>', 'images per training step', '64')
    .option('--buffer <n>', 'replay buffer capacity (frames)', '4096')
    .option('--seed <n>', 'seed of the run (weights, order, augmentations)', '0')
    .option('--backend <name>', 'tfjs backend: auto, tensorflow, wasm or cpu', 'auto')
    .option('--checkpoint <path>', 'evaluate a saved agent (checkpoint file or directory) instead of training a fresh one')
    .option('--json <file>', 'also write the results as JSON');
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

export function knnTable(r: KnnEvalReport): string {
  const rows = [
    ['raw pixels', f2(r.raw_pixels.top1), f2(r.raw_pixels.top5)],
    ['random-init teacher', f2(r.random_init.top1), f2(r.random_init.top5)],
    [`teacher (${r.images_seen} images seen)`, f2(r.teacher.top1), f2(r.teacher.top5)],
    [`student (${r.images_seen} images seen)`, f2(r.student.top1), f2(r.student.top5)],
  ];
  const lines = [
    `k-NN (k=20, T=0.07) on ${r.data}: ${r.train_images} train / ${r.test_images} test, model ${r.model}, recipe ${r.recipe}`,
    `| features | top-1 % | top-5 % |`,
    `|---|---|---|`,
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
    `| images seen | steps | train time s | images/s | wall time s | backend |`,
    `|---|---|---|---|---|---|`,
    `| ${r.images_seen} | ${r.steps} | ${r.train_s.toFixed(0)} | ${r.images_per_s.toFixed(1)} | ${r.wall_s.toFixed(0)} | ${r.backend} |`,
  ];
  if (r.curve.length > 1) {
    lines.push('', '| images seen | steps | train s | teacher top-1 | student top-1 |', '|---|---|---|---|---|');
    for (const p of r.curve) lines.push(`| ${p.images_seen} | ${p.steps} | ${p.train_s.toFixed(0)} | ${f2(p.teacher.top1)} | ${f2(p.student.top1)} |`);
  }
  return lines.join('\n');
}

/** Layout errors of the image folder are the user's to fix: print them plainly, exit 2. */
async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ImageFolderError || (e instanceof Error && e.message.startsWith('--'))) {
      console.error(`dino-stream eval: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
}

export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('Evaluate what the teacher learns: knn, novelty, drift');
  addCommon(
    evalCmd
      .command('knn')
      .description('Train a fresh agent on DIR/train as an unlabelled stream, then k-NN top-1 of teacher and student on DIR/test')
      .requiredOption('--data <dir>', 'image folder with DIR/train/<class>/* and DIR/test/<class>/*')
      .option('--eval-at <list>', 'also evaluate at these images-seen marks, comma-separated (e.g. 40000,160000)'),
  ).action((f: CommonFlags & { data: string }) =>
    guarded(async () => {
      checkCommon(f);
      const report = await knnEval({
        data: f.data,
        model: f.model as ModelSizeName,
        recipe: f.recipe as RecipeName,
        batchSize: positive('batch', f.batch)!,
        budget: budgetOf(f),
        marks: f.evalAt ? f.evalAt.split(',').map((s) => positive('eval-at', s)!) : undefined,
        bufferSize: positive('buffer', f.buffer)!,
        bufferPolicy: 'reservoir',
        seed: Number(f.seed),
        backend: { backend: f.backend as 'auto' },
        checkpoint: f.checkpoint,
        log: (m) => console.error(m),
      });
      console.log(knnTable(report));
      if (f.json) fs.writeFileSync(f.json, JSON.stringify(report, null, 2));
    }),
  );
}
