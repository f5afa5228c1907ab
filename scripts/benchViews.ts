/**
 * Times one bench-tiny batch of DINO views: B=32 frames of 96x96 -> 2 global 64x64 + 4 local 32x32.
 *   npm run build && npm run bench:views [-- --backend wasm|cpu] [--native false] [--runs 10] [--profile]
 * Prints the median / min / max over the runs (after warm-up) and, with --profile, the kernels by total time.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend';
import { Random } from '../src/util/Random';
import { DataAugmentationDINO, framesToTensor } from '../src/views';
import type { Frame } from '../streams/Frame';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

function syntheticFrames(n: number, size: number, rng: Random): Frame[] {
  return Array.from({ length: n }, (_, i) => {
    const rgb = new Uint8Array(size * size * 3);
    for (let j = 0; j < rgb.length; j++) rgb[j] = rng.int(256);
    return { streamId: 'bench', t: i, index: i, width: size, height: size, rgb };
  });
}

async function main(): Promise<void> {
  const backend = arg('backend', 'wasm');
  const runs = Number(arg('runs', '10'));
  const B = Number(arg('batch', '32'));
  const src = Number(arg('src', '96'));
  const info = await selectBackend({ backend: backend as 'wasm', native: arg('native', 'true') !== 'false', log: () => undefined });
  const aug = new DataAugmentationDINO({ globalSize: 64, localSize: 32, nLocal: 4, seed: 1 });
  const frames = syntheticFrames(B, src, new Random(2));

  const images = framesToTensor(frames);
  const stages: [string, () => tf.Tensor[]][] = [
    ['framesToTensor', () => [framesToTensor(frames)]],
    ['views (apply)', () => aug.apply(images)],
    ['framesToTensor + views', () => tf.tidy(() => aug.apply(framesToTensor(frames)))],
  ];
  let medianBatch = NaN;
  const time = (f: () => tf.Tensor[]): number => {
    const t0 = performance.now();
    const out = f();
    out.forEach((v) => v.dataSync()); // wasm/cpu run eagerly; this just pins the end of the work
    const ms = performance.now() - t0;
    tf.dispose(out);
    return ms;
  };
  console.log(`backend ${tf.getBackend()}, B=${B} frames ${src}x${src} -> 2x${aug.globalSize}^2 + ${aug.nLocal}x${aug.localSize}^2, median of ${runs} runs after 3 warm-up`);
  console.log('| stage | median ms | min ms | max ms |\n|---|---|---|---|');
  for (const [name, f] of stages) {
    for (let i = 0; i < 3; i++) time(f);
    const ts = Array.from({ length: runs }, () => time(f)).sort((a, b) => a - b);
    const median = ts.length % 2 ? ts[ts.length >> 1]! : (ts[ts.length / 2 - 1]! + ts[ts.length / 2]!) / 2;
    console.log(`| ${name} | ${median.toFixed(1)} | ${ts[0]!.toFixed(1)} | ${ts[ts.length - 1]!.toFixed(1)} |`);
    if (name === 'framesToTensor + views') medianBatch = median;
  }

  if (process.argv.includes('--profile')) {
    const prof = await tf.profile(() => {
      tf.dispose(aug.apply(images));
    });
    const byName = new Map<string, { ms: number; n: number }>();
    for (const k of prof.kernels) {
      const e = byName.get(k.name) ?? { ms: 0, n: 0 };
      e.ms += Number(k.kernelTimeMs) || 0;
      e.n += 1;
      byName.set(k.name, e);
    }
    console.log('\n| kernel | calls | total ms |\n|---|---|---|');
    [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms).forEach(([name, e]) => console.log(`| ${name} | ${e.n} | ${e.ms.toFixed(2)} |`));
  }
  images.dispose();
  const leaked = tf.memory().numTensors;
  console.log(`\ntensors alive at exit: ${leaked}`);
  // one machine-readable line for bench:ingest, which reports the batch-building time beside the cameras
  console.log(JSON.stringify({ benchViews: { backend: info.detail, batch: B, src, medianMs: medianBatch } }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
