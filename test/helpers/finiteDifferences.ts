import * as tf from '@tensorflow/tfjs';

/**
 * Checks the gradient of a scalar function of some variables against central finite differences. Each parameter
 * tensor is probed along a direction mixing its gradient with a random component, so both the magnitude and the
 * direction of the gradient are checked. Returns the failures (empty when every parameter agrees) and the total
 * absolute gradient (a probe of all-zero gradients would pass trivially).
 */
export function gradientFailures(
  params: [string, tf.Variable][],
  f: () => tf.Scalar,
  opts: { rtol?: number; seed?: number } = {},
): { failures: string[]; total: number } {
  const { value, grads } = tf.variableGrads(f, params.map(([, v]) => v));
  value.dispose();
  const failures: string[] = [];
  params.forEach(([name, v], k) => {
    const g = grads[v.name];
    if (!g) {
      failures.push(`${name}: no gradient`);
      return;
    }
    const { d, analytic } = tf.tidy(() => {
      const gn = tf.norm(g).dataSync()[0]!;
      const r = tf.randomNormal(v.shape, 0, 1, 'float32', (opts.seed ?? 100) + k);
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
    if (!(rel < (opts.rtol ?? 2e-2))) failures.push(`${name}: analytic ${analytic} vs numeric ${numeric} (rel ${rel.toFixed(4)})`);
  });
  const total = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.abs(g)))).dataSync()[0]!);
  tf.dispose(Object.values(grads));
  return { failures, total };
}
