/**
 * bench:train: one DINO training step of bench-tiny (the `tiny` model at batch 32; 2 global crops 64x64 + 4 local 32x32;
 * ViT patch 8, dim 192, depth 6, heads 3; head 512/128/4096): student fwd+bwd on 6 crops, teacher fwd on 2,
 * clipping, AdamW, EMA, centre. Median of --steps steps after --warmup, per backend configuration, with images/s,
 * GFLOP/s, peak RSS and tensors alive per step.
 *
 *   npm run bench:train [-- --modes native,wasm,webgpu] [-- --steps 10] [-- --warmup 3] [-- --profile]
 *   npm run bench:train -- --against-pytorch [--steps 10] [--warmup 3]   (the same step in PyTorch, alternating)
 *   [-- --precision fp32|bf16|auto]   (matmul precision of ours; default auto: bf16 where the CPU has AVX512_BF16)
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { Trainer } from '../src/train/Trainer';
import { paperRecipe } from '../src/train/TrainerOptions';
import { modelSize } from '../src/model/modelSizes';
import {
  arg, benchBackend, BENCH_MODES, median, modeOptions, passOn, peakRssMb, runModes, stepCounts, table, webgpuNotes,
  type BenchBackend, type BenchMode,
} from './benchCommon';
import { alternate, comparisonTable, LineChild, loadLine, serveCommands, side, startTorch } from './benchAgainst';
import { trainStepFlops } from './benchFlops';

interface TrainBench extends BenchBackend {
  msPerStep: number;
  minMs: number;
  imagesPerSec: number;
  peakRssMb: number;
  tensorsDelta: number;
  profile?: [string, number][];
}

const batch = () => Number(arg('batch', '32'));
const GFLOP = () => trainStepFlops(modelSize('tiny'), batch()) / 1e9;

/** The bench-tiny trainer on a backend configuration, with fixed random crops. */
async function setup(mode: BenchMode) {
  const info = await selectBackend({ ...modeOptions(mode), log: () => undefined });
  const model = modelSize('tiny');
  const B = batch();
  const trainer = new Trainer({ ...paperRecipe(model, B, 1000, 10), warmupSteps: 0, freezeLastLayerSteps: 0 });
  const crops = tf.tidy(() => [
    ...[0, 1].map((k) => tf.randomUniform([B, 64, 64, 3], -2, 2, 'float32', k) as tf.Tensor4D),
    ...[2, 3, 4, 5].map((k) => tf.randomUniform([B, 32, 32, 3], -2, 2, 'float32', k) as tf.Tensor4D),
  ]);
  // the asynchronous step: a GPU backend reads its results back only that way (and the wait is part of the step)
  return { info, trainer, crops, step: async () => (await trainer.trainStepAsync(crops)).ms };
}

async function child(mode: BenchMode): Promise<void> {
  const { info, trainer, crops, step } = await setup(mode);
  const { warmup, steps } = mode === 'cpu'
    ? { warmup: Number(arg('warmup', '0')), steps: Number(arg('steps', '1')) }
    : stepCounts(info, { warmup: 3, steps: 10 });
  for (let i = 0; i < warmup; i++) await step();
  const n0 = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push(await step());
  const tensorsDelta = (tf.memory().numTensors - n0) / steps;
  let profile: [string, number][] | undefined;
  if (process.argv.includes('--profile')) {
    const p = await tf.profile(async () => {
      await trainer.trainStepAsync(crops);
    });
    const agg = new Map<string, number>();
    for (const k of p.kernels) agg.set(k.name, (agg.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    profile = [...agg].sort((a, b) => b[1] - a[1]).slice(0, 15);
  }
  const ms = median(times);
  const out: TrainBench = { ...benchBackend(info), msPerStep: ms, minMs: Math.min(...times), imagesPerSec: (batch() * 1000) / ms, peakRssMb: peakRssMb(), tensorsDelta, profile };
  console.log(JSON.stringify({ bench: out }));
}

/** Line-protocol engine for --against-pytorch; replies also carry the tensors alive (flat = no leak). */
async function serve(mode: BenchMode): Promise<void> {
  const { info, step } = await setup(mode);
  console.log(JSON.stringify({ ready: true, detail: info.detail }));
  await serveCommands(step, () => ({ tensors: tf.memory().numTensors }));
}

function parent(): void {
  const modes = arg('modes', 'native,wasm').split(',') as BenchMode[];
  const pass = passOn(['steps', 'warmup', 'batch', 'precision']);
  if (process.argv.includes('--profile')) pass.push('--profile');
  const results = runModes<TrainBench>(__filename, modes, pass);
  const gflop = GFLOP();
  console.log(`bench-tiny training step (batch ${batch()}, ${gflop.toFixed(1)} GFLOP of matmuls), median after warm-up; ${loadLine()}`);
  console.log(
    table(
      ['configuration', 'ms/step (median)', 'min', 'images/s', 'GFLOP/s', 'peak RSS MB', 'tensors +/step'],
      results.map(({ mode, result: r, error }) =>
        r
          ? [BENCH_MODES[mode].label, r.msPerStep.toFixed(0), r.minMs.toFixed(0), r.imagesPerSec.toFixed(1), (gflop / (r.msPerStep / 1000)).toFixed(1), r.peakRssMb.toFixed(0), r.tensorsDelta.toString()]
          : [BENCH_MODES[mode].label, `failed: ${error}`, '', '', '', '', ''],
      ),
    ),
  );
  for (const { mode, result } of results) if (result) console.log(`${BENCH_MODES[mode].label}: ${result.backend}`);
  for (const line of webgpuNotes(results)) console.log(line);
  for (const { mode, result } of results) {
    if (result?.profile) {
      console.log(`\nprofile of one step, ${BENCH_MODES[mode].label} (kernel ms, top 15; tf.profile adds sync overhead)`);
      console.log(table(['kernel', 'ms'], result.profile.map(([k, v]) => [k, v.toFixed(0)])));
    }
  }
}

/** --against-pytorch: ours (first of --modes, default native) and PyTorch's statement of the step, in turns. */
async function againstPytorch(): Promise<void> {
  const mode = (arg('modes', 'native').split(',')[0] ?? 'native') as BenchMode;
  const warmup = Number(arg('warmup', '3')), steps = Number(arg('steps', '10'));
  const threads = Number(arg('threads', '2'));
  const gflop = GFLOP();
  const started = new Date().toISOString();
  const load0 = loadLine();
  const ours = new LineChild('ours', process.execPath, [__filename, '--serve', mode, ...passOn(['batch', 'precision']), '--threads', String(threads)]);
  const oursDetail = (await ours.next<{ detail: string }>()).detail;
  const torch = await startTorch('train', batch(), threads);
  console.log(`bench-tiny training step (batch ${batch()}, ${gflop.toFixed(1)} GFLOP of matmuls), ${warmup} warm-up + ${steps} timed steps each, alternating; ${started}`);
  if ('missing' in torch) console.log(torch.missing);
  const children = 'missing' in torch ? [ours] : [ours, torch.child];
  const [ro, rt] = await alternate(children, warmup, steps);
  for (const c of children) c.close();
  const tensors = ro.map((r) => Number(r['tensors']));
  const so = side(`ours: ${mode}, ${threads} threads`, oursDetail, ro);
  console.log(comparisonTable(so, rt && !('missing' in torch) ? [side(torch.detail, torch.detail, rt)] : [], gflop));
  console.log(`ours: ${oursDetail}; tensors alive after each step: ${[...new Set(tensors)].join(', ')}`);
  console.log(`${load0} at start, ${loadLine()} at the end`);
}

const i = process.argv.indexOf('--child');
const s = process.argv.indexOf('--serve');
const fail = (e: unknown) => (console.error(e), process.exit(1));
if (i >= 0) child(process.argv[i + 1] as BenchMode).catch(fail);
else if (s >= 0) serve(process.argv[s + 1] as BenchMode).catch(fail);
else if (process.argv.includes('--against-pytorch')) againstPytorch().catch(fail);
else parent();
