/**
 * bench:infer: teacher embedding latency of bench-tiny (ViT patch 8, dim 192, depth 6, 64x64 input) for 1 and 32
 * images, median after warm-up, per backend configuration, values read back.
 *
 *   npm run bench:infer [-- --modes native,wasm,webgpu] [-- --runs 20] [-- --precision fp32|bf16|auto]
 *   npm run bench:infer -- --against-pytorch --against-onnxruntime [--runs 20] [--warmup 3]
 *     32 images: ours, PyTorch's backbone and onnxruntime-node on the same ViT exported to ONNX by the PyTorch
 *     reference, in turns in one run
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { VisionTransformer } from '../src/model/VisionTransformer';
import { Embedder } from '../src/model/Embedder';
import { modelSize } from '../src/model/modelSizes';
import {
  arg, benchBackend, BENCH_MODES, median, modeOptions, passOn, peakRssMb, runModes, table, webgpuNotes, type BenchBackend,
  type BenchMode,
} from './benchCommon';
import {
  alternate, comparisonTable, LineChild, loadLine, pythonCommand, serveCommands, side, startTorch, TORCH_SCRIPT, torchEnv,
  type Side,
} from './benchAgainst';
import { vitForwardFlops } from './benchFlops';

interface InferBench extends BenchBackend {
  ms1: number;
  ms32: number;
  ms32Attention: number;
  peakRssMb: number;
  tensorsDelta: number;
}

async function setup(mode: BenchMode) {
  const info = await selectBackend({ ...modeOptions(mode), log: () => undefined });
  const embedder = new Embedder(new VisionTransformer(modelSize('tiny').vit, 0));
  return { info, embedder };
}

async function child(mode: BenchMode): Promise<void> {
  const { info, embedder } = await setup(mode);
  const runs = Number(arg('runs', mode === 'cpu' || info.adapter?.software ? '3' : '20'));
  const time = async (n: number, attention: boolean) => {
    const x = tf.randomUniform([n, 64, 64, 3], -2, 2, 'float32', n) as tf.Tensor4D;
    for (let i = 0; i < 3; i++) await embedder.embedToArrays(x, { attention });
    const ts: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await embedder.embedToArrays(x, { attention }); // includes reading the values back
      ts.push(performance.now() - t0);
    }
    x.dispose();
    return median(ts);
  };
  const n0 = tf.memory().numTensors;
  const ms1 = await time(1, false);
  const ms32 = await time(32, false);
  const ms32Attention = await time(32, true);
  const out: InferBench = { ...benchBackend(info), ms1, ms32, ms32Attention, peakRssMb: peakRssMb(), tensorsDelta: tf.memory().numTensors - n0 };
  console.log(JSON.stringify({ bench: out }));
}

/** Line-protocol engine: one run = 32 images embedded and read back. */
async function serve(mode: BenchMode): Promise<void> {
  const { info, embedder } = await setup(mode);
  const x = tf.randomUniform([32, 64, 64, 3], -2, 2, 'float32', 32) as tf.Tensor4D;
  console.log(JSON.stringify({ ready: true, detail: info.detail }));
  await serveCommands(async () => {
    const t0 = performance.now();
    await embedder.embedToArrays(x);
    return performance.now() - t0;
  }, () => ({ tensors: tf.memory().numTensors }));
}

function parent(): void {
  const modes = arg('modes', 'native,wasm').split(',') as BenchMode[];
  const results = runModes<InferBench>(__filename, modes, passOn(['runs', 'precision']));
  console.log(`bench-tiny teacher inference (CLS embeddings, values read back), median; ${loadLine()}`);
  console.log(
    table(
      ['configuration', '1 image ms', '32 images ms', '32 images + attention maps ms', 'images/s at 32', 'peak RSS MB', 'tensors leaked'],
      results.map(({ mode, result: r, error }) =>
        r
          ? [BENCH_MODES[mode].label, r.ms1.toFixed(1), r.ms32.toFixed(1), r.ms32Attention.toFixed(1), ((32 * 1000) / r.ms32).toFixed(0), r.peakRssMb.toFixed(0), String(r.tensorsDelta)]
          : [BENCH_MODES[mode].label, `failed: ${error}`, '', '', '', '', ''],
      ),
    ),
  );
  for (const { mode, result } of results) if (result) console.log(`${BENCH_MODES[mode].label}: ${result.backend}`);
  for (const line of webgpuNotes(results)) console.log(line);
}

/** The ViT exported to ONNX by the PyTorch reference (needs python3-torch; torch.onnx needs no onnx package). */
function exportOnnx(batch: number): { file: string } | { missing: string } {
  const te = torchEnv(1);
  if ('missing' in te) return { missing: `${te.missing}; onnxruntime needs the model the PyTorch reference exports` };
  const file = path.join(os.tmpdir(), `dino-bench-tiny-b${batch}-${process.pid}.onnx`);
  const r = spawnSync(pythonCommand(), [TORCH_SCRIPT, 'export-onnx', file, '--batch', String(batch)], { env: te.env, encoding: 'utf8' });
  if (r.status !== 0 || !fs.existsSync(file)) return { missing: `ONNX export failed: ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}` };
  return { file };
}

async function against(): Promise<void> {
  const mode = (arg('modes', 'native').split(',')[0] ?? 'native') as BenchMode;
  const warmup = Number(arg('warmup', '3')), runs = Number(arg('runs', '20')), threads = Number(arg('threads', '2'));
  const B = 32;
  const gflop = vitForwardFlops(modelSize('tiny').vit, B, 64) / 1e9;
  const started = new Date().toISOString();
  const load0 = loadLine();
  const children: { child: LineChild; label: string; detail: string }[] = [];
  const ours = new LineChild('ours', process.execPath, [__filename, '--serve', mode, ...passOn(['precision']), '--threads', String(threads)]);
  const oursDetail = (await ours.next<{ detail: string }>()).detail;
  children.push({ child: ours, label: `ours: ${mode}, ${threads} threads`, detail: oursDetail });
  const notes: string[] = [];
  if (process.argv.includes('--against-pytorch')) {
    const t = await startTorch('infer', B, threads);
    if ('missing' in t) notes.push(t.missing);
    else children.push({ child: t.child, label: t.detail, detail: t.detail });
  }
  let onnx: string | undefined;
  if (process.argv.includes('--against-onnxruntime')) {
    const ex = exportOnnx(B);
    if ('missing' in ex) notes.push(ex.missing);
    else {
      onnx = ex.file;
      const c = new LineChild('onnxruntime', process.execPath, [path.join(__dirname, 'benchOnnxruntime.js'), onnx, '--batch', String(B), '--threads', String(threads)]);
      const banner = await c.next<{ detail?: string; missing?: string }>();
      if (banner.missing) {
        notes.push(banner.missing);
        c.close();
      } else children.push({ child: c, label: banner.detail!, detail: banner.detail! });
    }
  }
  console.log(`bench-tiny teacher inference, ${B} images 64x64 (${gflop.toFixed(2)} GFLOP of matmuls), ${warmup} warm-up + ${runs} timed runs each, in turns; ${started}`);
  for (const n of notes) console.log(n);
  const replies = await alternate(children.map((c) => c.child), warmup, runs);
  for (const c of children) c.child.close();
  if (onnx) fs.rmSync(onnx, { force: true });
  const sides: Side[] = children.map((c, i) => side(c.label, c.detail, replies[i]!));
  console.log(comparisonTable(sides[0]!, sides.slice(1), gflop, (s) => `${(median(s.ms) / B).toFixed(2)} ms`));
  console.log(`ours: ${oursDetail}; tensors alive after each run: ${[...new Set(replies[0]!.map((r) => r['tensors']))].join(', ')}`);
  console.log(`${load0} at start, ${loadLine()} at the end`);
}

const i = process.argv.indexOf('--child');
const s = process.argv.indexOf('--serve');
const fail = (e: unknown) => (console.error(e), process.exit(1));
if (i >= 0) child(process.argv[i + 1] as BenchMode).catch(fail);
else if (s >= 0) serve(process.argv[s + 1] as BenchMode).catch(fail);
else if (process.argv.includes('--against-pytorch') || process.argv.includes('--against-onnxruntime')) against().catch(fail);
else parent();
