/**
 * Mixed precision (backend.precision bf16): every matmul of the student's forward and backward, attention's
 * included, takes bf16 operands and accumulates in fp32, while weights, loss, softmax and norms stay fp32. Its
 * gradients must stay within a stated tolerance of fp32's. Where the CPU lacks AVX512_BF16 this runs the emulation
 * (the same numbers as VDPBF16PS, test/backend/bf16.test.ts), so it is checked on every machine.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import { loadNativeAddon } from '../../src/backend/nativeAddon';
import { microStudent } from '../helpers/microStudent';
import { modelSize } from '../../src/model/modelSizes';
import { variableGrads } from '../../src/ops/variableGrads';
import { describeNative } from '../backend/helpers';

/** ||g_bf16 - g_fp32|| / ||g_fp32|| allowed per parameter tensor: bf16 keeps 8 bits (2^-9 relative per operand). */
const GRAD_REL_TOL = 0.03;

describeNative('bf16 matmuls: student gradients against fp32', () => {
  const quiet = () => undefined;
  afterAll(() => selectBackend({ backend: 'wasm', precision: 'fp32', log: quiet }));

  test('every parameter of the micro student within 3% (relative L2), and bf16 really ran (not fp32)', async () => {
    const cfg = { ...modelSize('micro'), vit: { ...modelSize('micro').vit, embedDim: 32, numHeads: 2 } };
    const B = 4;
    const grads = async (precision: 'fp32' | 'bf16') => {
      const info = await selectBackend({ backend: 'wasm', precision, log: quiet });
      expect(info.native).toBe(true);
      expect(info.precision).toBe(precision === 'fp32' ? 'fp32' : loadNativeAddon().addon!.hasAvx512Bf16 ? 'bf16' : 'bf16-emulated');
      const n0 = tf.memory().numTensors;
      const { model, loss, dispose } = microStudent(B, cfg);
      // the mask token enters only masked forwards: no gradient here
      const params = model.namedParameters().filter(([n, v]) => v.trainable && !n.endsWith('mask_token'));
      const { value, grads: g } = variableGrads(() => loss(), params.map(([, v]) => v));
      const out = new Map(params.map(([name, v]) => [name, g[v.name]!.dataSync() as Float32Array]));
      const lossValue = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(g)]);
      dispose();
      expect(tf.memory().numTensors).toBe(n0);
      return { out, lossValue };
    };
    const fp32 = await grads('fp32');
    const bf16 = await grads('bf16');
    expect(Math.abs(bf16.lossValue - fp32.lossValue)).toBeLessThan(1e-2 * Math.abs(fp32.lossValue));
    const rel: [string, number][] = [];
    for (const [name, g32] of fp32.out) {
      const g16 = bf16.out.get(name)!;
      let d = 0, n = 0;
      for (let i = 0; i < g32.length; i++) {
        d += (g16[i]! - g32[i]!) ** 2;
        n += g32[i]! ** 2;
      }
      rel.push([name, Math.sqrt(d / Math.max(n, 1e-30))]);
    }
    const worst = rel.reduce((a, b) => (b[1] > a[1] ? b : a));
    expect(worst[1]).toBeLessThan(GRAD_REL_TOL);
    // bf16 rounding must be visible (an fp32 run would agree to ~1e-6)
    expect(Math.max(...rel.map(([, r]) => r))).toBeGreaterThan(1e-4);
  });
});
