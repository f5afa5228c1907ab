/**
 * bench:infer: teacher embedding latency of bench-tiny (ViT patch 8, dim 192, depth 6, 64x64 input) for 1 and 32
 * images, median after warm-up, per backend configuration. PyTorch CPU reference: ~75 ms for 32 images.
 *
 *   npm run bench:infer [-- --modes native,wasm,webgpu] [-- --runs 20]
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { VisionTransformer } from '../src/model/VisionTransformer';
import { Embedder } from '../src/model/Embedder';
import { modelSize } from '../src/model/modelSizes';
import { arg, benchBackend, BENCH_MODES, median, peakRssMb, runModes, table, webgpuNotes, type BenchBackend, type BenchMode } from './benchCommon';

interface InferBench extends BenchBackend {
  ms1: number;
  ms32: number;
  ms32Attention: number;
  peakRssMb: number;
  tensorsDelta: number;
}

async function child(mode: BenchMode): Promise<void> {
  const info = await selectBackend({ ...BENCH_MODES[mode].opts, log: () => undefined });
  const backbone = new VisionTransformer(modelSize('tiny').vit, 0);
  const embedder = new Embedder(backbone);
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

function parent(): void {
  const modes = arg('modes', 'native,wasm').split(',') as BenchMode[];
  const pass = process.argv.includes('--runs') ? ['--runs', arg('runs', '20')] : [];
  const results = runModes<InferBench>(__filename, modes, pass);
  console.log('bench-tiny teacher inference (CLS embeddings, values read back), median; PyTorch CPU reference ~75 ms for 32 images');
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
  for (const line of webgpuNotes(results)) console.log(line);
}

const i = process.argv.indexOf('--child');
if (i >= 0) child(process.argv[i + 1] as BenchMode).catch((e) => (console.error(e), process.exit(1)));
else parent();
