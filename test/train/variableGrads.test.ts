/**
 * variableGrads (src/ops/variableGrads.ts) against tf.variableGrads: the same gradients, bit for bit, on the whole
 * micro student (custom ops, tensors used twice by the residuals, broadcasting, a frozen parameter), no tensor left
 * behind, and a lower peak of live memory during the backward.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { microStudent } from '../helpers/microStudent';
import { variableGrads } from '../../src/ops/variableGrads';
import { linear } from '../../src/ops/linear';
import { gelu } from '../../src/ops/gelu';

describe('variableGrads releasing memory during the backward', () => {
  beforeAll(() => useBackend('cpu'));

  test('the micro student: every gradient equals tf.variableGrads exactly, nothing leaks', () => {
    const { model, loss, dispose } = microStudent(2);
    const f = () => loss();
    const params = model.namedParameters().map(([, v]) => v); // includes the frozen weight_g: no gradient for it
    expect(params.some((v) => !v.trainable)).toBe(true);
    const theirs = tf.variableGrads(f, params);
    const n0 = tf.memory().numTensors;
    const ours = variableGrads(f, params);
    expect(tf.memory().numTensors - n0).toBe(1 + Object.keys(ours.grads).length); // the value and the gradients
    expect(ours.value.dataSync()[0]).toBe(theirs.value.dataSync()[0]);
    // tf.variableGrads maps a non-trainable variable to null; ours leaves it out
    const theirGrads = Object.entries(theirs.grads).filter(([, g]) => g != null);
    expect(Object.keys(ours.grads).sort()).toEqual(theirGrads.map(([k]) => k).sort());
    for (const [name, g] of theirGrads) {
      expect(Array.from(ours.grads[name]!.dataSync())).toEqual(Array.from(g.dataSync()));
    }
    tf.dispose([ours.value, theirs.value, ...Object.values(ours.grads), ...theirGrads.map(([, g]) => g)]);
    dispose();
  });

  test('a deep MLP: live bytes during the backward peak at 70% of tfjs own or less (saved tensors and gradients freed per layer)', async () => {
    const depth = 12, n = 1024, d = 64;
    const ws = Array.from({ length: depth }, (_, i) => tf.variable(tf.randomNormal([d, d], 0, 0.05, 'float32', i)));
    const bs = Array.from({ length: depth }, () => tf.variable(tf.zeros([d])));
    const x = tf.randomNormal([n, d], 0, 1, 'float32', 99) as tf.Tensor2D;
    const f = () => {
      let h = x;
      for (let i = 0; i < depth; i++) h = gelu(linear(h, ws[i] as tf.Tensor2D, bs[i] as tf.Tensor1D));
      return tf.mean(tf.square(h)) as tf.Scalar;
    };
    const vars = [...ws, ...bs];
    const n0 = tf.memory().numTensors;
    const peak = async (run: typeof variableGrads) => {
      let out: ReturnType<typeof variableGrads> | undefined;
      const p = await tf.profile(() => {
        out = run(f, vars);
      });
      const values = Object.values(out!.grads).map((g) => Array.from(g.dataSync()));
      tf.dispose([out!.value, ...Object.values(out!.grads)]);
      // the forward ends with the loss's Mean; tfjs counts a saved clone's bytes twice until the forward's scope
      // ends, so the forward's peak says nothing about real memory and only the backward's is compared
      const start = p.kernels.findIndex((k) => k.name === 'Mean');
      expect(start).toBeGreaterThan(0);
      return { peak: Math.max(...p.kernels.slice(start + 1).map((k) => k.totalBytesSnapshot)), values };
    };
    const theirs = await peak((g, v) => tf.variableGrads(g, v) as ReturnType<typeof variableGrads>);
    const ours = await peak(variableGrads);
    expect(ours.values).toEqual(theirs.values);
    expect(tf.memory().numTensors).toBe(n0);
    expect(ours.peak).toBeLessThan(0.7 * theirs.peak);
    tf.dispose([...ws, ...bs, x]);
  });
});
