/**
 * bench:train: one DINO training step of bench-tiny (the `tiny` model at batch 32; 2 global crops 64x64 + 4 local 32x32;
 * ViT patch 8, dim 192, depth 6, heads 3; head 512/128/4096): student fwd+bwd on 6 crops, teacher fwd on 2,
 * clipping, AdamW, EMA, centre. Median of --steps steps after --warmup, per backend configuration, with images/s,
 * the ratio to PyTorch's 935 ms/step on these machines, peak RSS and tensors alive per step.
 *
 *   npm run bench:train [-- --modes native,wasm] [-- --steps 10] [-- --warmup 3] [-- --profile]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { Trainer } from '../src/train/Trainer';
import { paperRecipe } from '../src/train/TrainerOptions';
import { modelSize } from '../src/model/modelSizes';
import { arg, BENCH_MODES, median, peakRssMb, runModes, table, type BenchMode } from './benchCommon';

const PYTORCH_MS = 935;

interface TrainBench {
  backend: string;
  msPerStep: number;
  minMs: number;
  imagesPerSec: number;
  peakRssMb: number;
  tensorsDelta: number;
  profile?: [string, number][];
}

async function child(mode: BenchMode): Promise<void> {
  const info = await selectBackend({ ...BENCH_MODES[mode].opts, log: () => undefined });
  const model = modelSize('tiny');
  const B = Number(arg('batch', '32'));
  const trainer = new Trainer({ ...paperRecipe(model, B, 1000, 10), warmupSteps: 0, freezeLastLayerSteps: 0 });
  const crops = tf.tidy(() => [
    ...[0, 1].map((k) => tf.randomUniform([B, 64, 64, 3], -2, 2, 'float32', k) as tf.Tensor4D),
    ...[2, 3, 4, 5].map((k) => tf.randomUniform([B, 32, 32, 3], -2, 2, 'float32', k) as tf.Tensor4D),
  ]);
  const warmup = Number(arg('warmup', mode === 'cpu' ? '0' : '3'));
  const steps = Number(arg('steps', mode === 'cpu' ? '1' : '10'));
  for (let i = 0; i < warmup; i++) trainer.trainStep(crops);
  const n0 = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push(trainer.trainStep(crops).ms);
  const tensorsDelta = (tf.memory().numTensors - n0) / steps;
  let profile: [string, number][] | undefined;
  if (process.argv.includes('--profile')) {
    const p = await tf.profile(() => {
      trainer.trainStep(crops);
    });
    const agg = new Map<string, number>();
    for (const k of p.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    profile = [...agg].sort((a, b) => b[1] - a[1]).slice(0, 15);
  }
  const ms = median(times);
  const out: TrainBench = { backend: info.detail, msPerStep: ms, minMs: Math.min(...times), imagesPerSec: (B * 1000) / ms, peakRssMb: peakRssMb(), tensorsDelta, profile };
  console.log(JSON.stringify({ bench: out }));
}

function parent(): void {
  const modes = arg('modes', 'native,wasm').split(',') as BenchMode[];
  const pass = ['steps', 'warmup', 'batch'].flatMap((k) => (process.argv.includes(`--${k}`) ? [`--${k}`, arg(k, '')] : []));
  if (process.argv.includes('--profile')) pass.push('--profile');
  const results = runModes<TrainBench>(__filename, modes, pass);
  console.log(`bench-tiny training step (batch ${arg('batch', '32')}), median after warm-up; PyTorch 1.13 CPU reference ${PYTORCH_MS} ms/step`);
  console.log(
    table(
      ['configuration', 'ms/step (median)', 'min', 'images/s', 'vs PyTorch', 'peak RSS MB', 'tensors +/step'],
      results.map(({ mode, result: r, error }) =>
        r
          ? [BENCH_MODES[mode].label, r.msPerStep.toFixed(0), r.minMs.toFixed(0), r.imagesPerSec.toFixed(1), `${(r.msPerStep / PYTORCH_MS).toFixed(2)}x`, r.peakRssMb.toFixed(0), r.tensorsDelta.toString()]
          : [BENCH_MODES[mode].label, `failed: ${error}`, '', '', '', '', ''],
      ),
    ),
  );
  for (const { mode, result } of results) {
    if (result?.profile) {
      console.log(`\nprofile of one step, ${BENCH_MODES[mode].label} (kernel ms, top 15; tf.profile adds sync overhead)`);
      console.log(table(['kernel', 'ms'], result.profile.map(([k, v]) => [k, v.toFixed(0)])));
    }
  }
}

const i = process.argv.indexOf('--child');
if (i >= 0) child(process.argv[i + 1] as BenchMode).catch((e) => (console.error(e), process.exit(1)));
else parent();
