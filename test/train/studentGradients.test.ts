/**
 * Gradients of the whole student (micro ViT + DINO head + DINO loss) against central finite differences, on the
 * cpu backend. Each parameter tensor is probed along a direction mixing its gradient with a random component, so
 * both the magnitude and the direction of the gradient are checked.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { microStudent } from '../helpers/microStudent';
import { Random } from '../../src/util/Random';

describe('student gradients vs finite differences', () => {
  beforeAll(() => useBackend('cpu'));

  // with drop path, every evaluation redraws the same masks (a fresh generator of one seed), so the loss is one
  // function of the weights; the micro model's 2 blocks drop at 0 and 0.5
  test.each([0, 0.5])('every parameter of the micro student (drop path rate %p)', (rate) => {
    const n0 = tf.memory().numTensors;
    const { model, crops, targets, loss: studentLoss, dispose } = microStudent(2);
    const dropPath = () => (rate > 0 ? { rate, rng: new Random(17) } : undefined);
    const f = () => studentLoss(dropPath());
    if (rate > 0) {
      // the masks must change the loss, or this case would only repeat the first
      const [on, off] = tf.tidy(() => [f().dataSync()[0]!, studentLoss().dataSync()[0]!]);
      expect(Math.abs(on - off)).toBeGreaterThan(1e-3);
    }
    const params = model.namedParameters().filter(([, v]) => v.trainable);
    const { value, grads } = tf.variableGrads(f, params.map(([, v]) => v));
    value.dispose();
    const failures: string[] = [];
    params.forEach(([name, v], k) => {
      const g = grads[v.name]!;
      const { d, analytic } = tf.tidy(() => {
        const gn = tf.norm(g).dataSync()[0]!;
        const r = tf.randomNormal(v.shape, 0, 1, 'float32', 100 + k);
        const mix = gn > 0 ? tf.add(tf.div(g, gn), tf.div(r, tf.norm(r))) : r;
        const dir = tf.keep(tf.div(mix, tf.norm(mix)));
        return { d: dir, analytic: tf.sum(tf.mul(g, dir)).dataSync()[0]! };
      });
      // the head L2-normalises a small bottleneck, so the loss is sharply curved where gradients are large:
      // scale the step so that it moves the loss by ~0.05 at first order, far above float32 round-off
      const eps = Math.min(1e-2, 0.05 / Math.max(Math.abs(analytic), 1e-6));
      const orig = tf.keep(v.clone());
      const at = (s: number) => {
        tf.tidy(() => v.assign(tf.add(orig, tf.mul(d, s))));
        return tf.tidy(() => f().dataSync()[0]!);
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(orig);
      orig.dispose();
      d.dispose();
      const rel = Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), Math.abs(numeric), 1e-4);
      if (!(rel < 2e-2)) failures.push(`${name}: analytic ${analytic} vs numeric ${numeric} (rel ${rel.toFixed(4)})`);
    });
    expect(failures).toEqual([]);
    // the probe is meaningful only if gradients are not all ~0
    const total = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.abs(g)))).dataSync()[0]!);
    expect(total).toBeGreaterThan(1e-2);
    tf.dispose(Object.values(grads));
    dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });
});
