/** Native Sum / Mean on the wasm backend against a float64 reference; non-contiguous axes use the original. */
import * as tf from '@tensorflow/tfjs';

import { planReduce } from '../../src/backend/reduceKernels';
import { selectBackend } from '../../src/backend/selectBackend';
import { describeNative, expectClose, quiet, randArray, take, trackLeaks } from './helpers';

function refReduce(x: Float32Array, shape: number[], axes: number[], mean: boolean): Float64Array {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const outStrides = outShape.map((_, i) => outShape.slice(i + 1).reduce((a, b) => a * b, 1));
  for (let f = 0; f < x.length; f++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) {
      const idx = Math.floor(f / strides[d]) % shape[d];
      if (!axes.includes(d)) o += idx * outStrides[d];
    }
    out[o] += x[f];
  }
  const count = axes.reduce((a, d) => a * shape[d], 1);
  return mean ? out.map((v) => v / count) : out;
}

beforeAll(async () => {
  await selectBackend({ backend: 'wasm', log: quiet });
});

trackLeaks();

describe('planReduce', () => {
  it('maps contiguous axes to [outer, reduce, inner]', () => {
    expect(planReduce([4, 5, 6], 0, false)).toEqual({ outer: 1, reduce: 4, inner: 30, outShape: [5, 6] });
    expect(planReduce([4, 5, 6], [1, 2], true)).toEqual({ outer: 4, reduce: 30, inner: 1, outShape: [4, 1, 1] });
    expect(planReduce([4, 5, 6], -2, false)).toEqual({ outer: 4, reduce: 5, inner: 6, outShape: [4, 6] });
    expect(planReduce([4, 5, 6], [0, 2], false)).toBeNull();
  });
});

describeNative('native Sum / Mean', () => {
  const cases: Array<[number[], number | number[] | undefined]> = [
    [[4160, 65], 0], [[257, 65], 1], [[7, 65, 33], [0, 1]], [[7, 65, 33], 1], [[3, 1, 100003], undefined],
    [[100003], 0], [[1, 1], [0, 1]], [[2, 3, 4, 5], [1, 2]], [[17], -1],
  ];
  for (const [shape, axis] of cases) {
    for (const mean of [false, true]) {
      it(`${mean ? 'mean' : 'sum'} of [${shape}] over ${JSON.stringify(axis)} (keepDims both ways)`, () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const xd = randArray(n, n % 97);
        const axes = axis === undefined ? shape.map((_, i) => i) : tf.util.parseAxisParam(axis, shape);
        const [y, yk] = tf.tidy(() => {
          const x = tf.tensor(xd, shape);
          return mean ? [tf.mean(x, axis), tf.mean(x, axis, true)] : [tf.sum(x, axis), tf.sum(x, axis, true)];
        });
        expect(yk.shape).toEqual(shape.map((d, i) => (axes.includes(i) ? 1 : d)));
        expect(y.shape).toEqual(shape.filter((_, i) => !axes.includes(i)));
        const [yd, ykd] = take([y, yk]);
        const ref = refReduce(xd, shape, axes, mean);
        expectClose(yd, ref, 1e-3, 1e-4);
        expectClose(ykd, ref, 1e-3, 1e-4);
      });
    }
  }

  it('non-contiguous axes and int32 fall back to the wasm kernel', () => {
    const xd = randArray(2 * 3 * 4, 3);
    const [y] = take(tf.tidy(() => tf.sum(tf.tensor(xd, [2, 3, 4]), [0, 2])));
    expectClose(y, refReduce(xd, [2, 3, 4], [0, 2], false), 1e-4, 1e-4);
    const [yi] = take(tf.tidy(() => tf.sum(tf.tensor([[1, 2], [3, 4]], [2, 2], 'int32'), 0)));
    expect(Array.from(yi)).toEqual([4, 6]);
  });

  it('gradient of a bias add (sum over rows) through tf.grad', () => {
    const dyd = randArray(65 * 48, 9);
    const [g] = take(tf.tidy(() => tf.grad((b: tf.Tensor) => tf.add(tf.zeros([65, 48]), b))(tf.zeros([48]), tf.tensor(dyd, [65, 48]))));
    expectClose(g, refReduce(dyd, [65, 48], [0], false), 1e-4, 1e-4);
  });
});
