/**
 * bench:presets: the model presets of the pretrained checkpoints (vits16, vits14, vits8) on the product path (wasm +
 * native kernels): teacher inference per image (a 224 px frame, CLS read back; 1 image and a batch of 8) and one
 * `finetune` training step (2 global 224 px + 8 local crops per image, student fwd+bwd, teacher fwd, AdamW, EMA) at
 * --batch images. Each preset runs in its own child process; medians of --runs.
 *
 *   npm run bench:presets [-- --presets vits16,vits14] [-- --batch N (default: the preset's, src/model/stepMemory.ts)] [-- --runs 5] [-- --steps 3] [-- --no-train]
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { VisionTransformer } from '../src/model/VisionTransformer';
import { Embedder } from '../src/model/Embedder';
import { modelSize } from '../src/model/modelSizes';
import { defaultBatchSize, wasmBatchProblem } from '../src/model/stepMemory';
import { Trainer } from '../src/train/Trainer';
import { recipe } from '../src/train/recipes';
import { arg, median, peakRssMb, table } from './benchCommon';

interface PresetBench {
  preset: string;
  backend: string;
  tokens: number;
  ms1: number;
  ms8: number;
  msStep?: number;
  batch: number;
  peakRssMb: number;
}

async function child(preset: string): Promise<void> {
  const info = await selectBackend({ backend: 'wasm', native: true, log: () => undefined });
  const model = modelSize(preset);
  const S = model.crops.globalSize;
  const runs = Number(arg('runs', '5'));
  const backbone = new VisionTransformer(model.vit, 0);
  const embedder = new Embedder(backbone);
  const time = async (n: number) => {
    const x = tf.randomUniform([n, S, S, 3], -2, 2, 'float32', n) as tf.Tensor4D;
    await embedder.embedToArrays(x);
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await embedder.embedToArrays(x);
      ts.push(performance.now() - t0);
    }
    x.dispose();
    return median(ts);
  };
  const ms1 = await time(1);
  const ms8 = (await time(8)) / 8;
  backbone.dispose();
  const B = Number(arg('batch', String(defaultBatchSize(model)))); // by default the agent's batch for the preset, which fits the wasm heap
  let msStep: number | undefined;
  if (!process.argv.includes('--no-train')) {
    const tooLarge = wasmBatchProblem(model, B);
    if (tooLarge) throw new Error(tooLarge);
    const trainer = new Trainer(recipe('finetune', { model, batchSize: B, horizonSteps: 1000 }));
    const c = trainer.opts.model.crops;
    const crops = [S, S, ...Array<number>(c.nLocal).fill(c.localSize)].map((s, k) => tf.randomUniform([B, s, s, 3], -2, 2, 'float32', k) as tf.Tensor4D);
    trainer.trainStep(crops);
    const ts: number[] = [];
    for (let i = 0; i < Number(arg('steps', '3')); i++) ts.push(trainer.trainStep(crops).ms);
    msStep = median(ts);
    tf.dispose(crops);
    trainer.dispose();
  }
  const tokens = 1 + (model.vit.numRegisterTokens ?? 0) + (S / model.vit.patchSize) ** 2;
  const out: PresetBench = { preset, backend: info.detail, tokens, ms1, ms8, msStep, batch: B, peakRssMb: peakRssMb() };
  console.log(JSON.stringify({ bench: out }));
}

function parent(): void {
  const presets = arg('presets', 'vits16,vits14,vits8').split(',');
  const pass = ['batch', 'runs', 'steps'].flatMap((k) => (process.argv.includes(`--${k}`) ? [`--${k}`, arg(k, '')] : []));
  if (process.argv.includes('--no-train')) pass.push('--no-train');
  console.log(`presets on wasm + native kernels; 224 px frames; training step at batch ${arg('batch', "each preset's default")} with the finetune recipe's crops`);
  const header = ['preset', 'tokens per frame', '1 image ms', 'per image in a batch of 8 ms', 'training step (batch)', 'peak RSS MB'];
  // each row as soon as its preset is done: a long run keeps what it measured
  console.log(table(header, []));
  presets.forEach((p) => {
    const r = spawnSync(process.execPath, [__filename, '--child', p, ...pass], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('{"bench"'));
    if (r.status !== 0 || !line) return console.log(`| ${p} | failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')} | | | | |`);
    const b = (JSON.parse(line) as { bench: PresetBench }).bench;
    const step = b.msStep === undefined ? '-' : `${(b.msStep / 1000).toFixed(1)} s at ${b.batch} (${((b.batch * 1000) / b.msStep).toFixed(2)} images/s)`;
    console.log(`| ${[p, String(b.tokens), b.ms1.toFixed(0), b.ms8.toFixed(0), step, b.peakRssMb.toFixed(0)].join(' | ')} |`);
  });
}

const i = process.argv.indexOf('--child');
if (i >= 0) child(process.argv[i + 1]!).catch((e) => (console.error(e), process.exit(1)));
else parent();
