/**
 * onnxruntime-node side of `bench:infer -- --against-onnxruntime`: the bench-tiny backbone exported to ONNX by the
 * PyTorch reference (scripts/reference/bench_tiny_torch.py export-onnx), run on the CPU execution provider with
 * the bench's thread count, speaking the line protocol of benchAgainst.ts. A devDependency: the product never loads it.
 *
 *   node dist/scripts/benchOnnxruntime.js MODEL.onnx --batch 32 --threads 2
 */
import { performance } from 'node:perf_hooks';
import { arg } from './benchCommon';
import { serveCommands } from './benchAgainst';

interface Ort {
  env: { versions: Record<string, string> };
  InferenceSession: { create(path: string, o: object): Promise<{ run(feeds: object): Promise<Record<string, { data: Float32Array }>>; inputNames: string[] }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => object;
}

async function main(): Promise<void> {
  let ort: Ort;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    ort = require('onnxruntime-node') as Ort;
  } catch (e) {
    console.log(JSON.stringify({ missing: `onnxruntime-node is not installed (npm install; it is a devDependency): ${(e as Error).message.split('\n')[0]}` }));
    return;
  }
  const model = process.argv[2]!;
  const B = Number(arg('batch', '32')), threads = Number(arg('threads', '2'));
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all',
  });
  const x = new Float32Array(B * 3 * 64 * 64);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 7919) % 4001) / 1000 - 2;
  const feeds = { [session.inputNames[0]!]: new ort.Tensor('float32', x, [B, 3, 64, 64]) };
  console.log(JSON.stringify({ ready: true, detail: `onnxruntime-node ${ort.env.versions['node'] ?? ''} CPU EP, ${threads} intra-op threads` }));
  await serveCommands(async () => {
    const t0 = performance.now();
    const out = await session.run(feeds);
    if (!Object.values(out)[0]?.data.length) throw new Error('onnxruntime returned no output');
    return performance.now() - t0;
  });
}

main().catch((e) => (console.error(e), process.exit(1)));
