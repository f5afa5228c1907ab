/**
 * The student's loss and gradients with the native fused kernels (GEMMs whose output pass adds bias, GELU,
 * residual and the gradient through GELU, bias gradients summed while packing dy, attention on the micro-kernel)
 * against the composite of tf ops on the same wasm backend: they compute the same sums in other orders, so
 * they must agree to float32 round-off. The model is large enough for every GEMM driver (one thread, tasks,
 * split-K weight gradients) and for attention's micro-kernel path (head width 64).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { microStudent } from '../helpers/microStudent';
import { modelSize } from '../../src/model/modelSizes';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { variableGrads } from '../../src/ops/variableGrads';
import { Random } from '../../src/util/Random';
import { describeNative } from '../backend/helpers';

describeNative('fused kernels against the composite of tf ops: student loss and gradients', () => {
  beforeAll(() => selectBackend({ backend: 'wasm', log: () => undefined }));
  afterAll(() => setFusedKernelsEnabled(true));

  test.each([0, 0.5])('agree to float32 round-off (drop path rate %p)', (rate) => {
    const micro = modelSize('micro');
    const cfg = { ...micro, vit: { ...micro.vit, embedDim: 64, numHeads: 1 }, head: { ...micro.head, hiddenDim: 96 } };
    const B = 32; // 32 images x 17 tokens x 2 global crops: weight gradients take the split-K driver
    const run = (fused: boolean) => {
      setFusedKernelsEnabled(fused);
      const n0 = tf.memory().numTensors;
      const { model, loss, dispose } = microStudent(B, cfg);
      // the mask token enters only masked forwards: no gradient here
      const params = model.namedParameters().filter(([n, v]) => v.trainable && !n.endsWith('mask_token'));
      const dp = rate > 0 ? { rate, rng: new Random(3) } : undefined;
      const { value, grads } = variableGrads(() => loss(dp), params.map(([, v]) => v));
      const out = new Map(params.map(([name, v]) => [name, grads[v.name]!.dataSync() as Float32Array]));
      const lossValue = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      dispose();
      expect(tf.memory().numTensors).toBe(n0);
      return { out, lossValue };
    };
    const fused = run(true);
    const composite = run(false);
    expect(Math.abs(fused.lossValue - composite.lossValue)).toBeLessThan(1e-5 * Math.abs(composite.lossValue));
    const bad: string[] = [];
    for (const [name, gc] of composite.out) {
      const gf = fused.out.get(name)!;
      let d = 0, n = 0;
      for (let i = 0; i < gc.length; i++) {
        d += (gf[i]! - gc[i]!) ** 2;
        n += gc[i]! ** 2;
      }
      const rel = Math.sqrt(d / Math.max(n, 1e-30));
      if (!(rel < 1e-4)) bad.push(`${name}: relative L2 difference ${rel}`);
    }
    expect(bad).toEqual([]);
    expect(composite.out.size).toBeGreaterThan(20);
  });
});
