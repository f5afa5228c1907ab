/**
 * The im2col convolution against tfjs's own conv2d (cpu backend) in value and in both gradients, col2im as the
 * exact adjoint of im2col, and the wasm path (native GEMM) against the cpu reference.
 */
import * as tf from '@tensorflow/tfjs';
import { expectClose, useBackend } from '../helpers/backend';
import { col2im, conv2d, convOutSize, im2col, type ConvGeometry } from '../../src/ops/conv2d';

const GEOMETRIES: [string, ConvGeometry, number][] = [
  ['3x3 stride 2 pad 1', { kernel: 3, stride: 2, pad: 1 }, 8],
  ['3x3 stride 1 pad 1', { kernel: 3, stride: 1, pad: 1 }, 6],
  ['2x2 stride 2 pad 0', { kernel: 2, stride: 2, pad: 0 }, 8],
  ['3x3 stride 2 pad 1, odd side', { kernel: 3, stride: 2, pad: 1 }, 7],
];

/** tfjs's conv2d with our weight layout: [k*k*Cin, Cout] is [kh, kw, Cin, Cout] flattened. */
function reference(x: tf.Tensor4D, w: tf.Tensor2D, g: ConvGeometry): tf.Tensor2D {
  return tf.tidy(() => {
    const filter = tf.reshape(w, [g.kernel, g.kernel, x.shape[3], w.shape[1]]) as tf.Tensor4D;
    const p = g.pad;
    const y = tf.conv2d(x, filter, g.stride, [[0, 0], [p, p], [p, p], [0, 0]]);
    return tf.reshape(y, [-1, w.shape[1]]) as tf.Tensor2D;
  });
}

describe('conv2d as im2col + matmul', () => {
  beforeAll(() => useBackend('cpu'));

  test.each(GEOMETRIES)('%s: value and gradients match tf.conv2d', (_name, g, side) => {
    const n0 = tf.memory().numTensors;
    const x = tf.randomNormal([2, side, side, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([g.kernel * g.kernel * 3, 5], 0, 1, 'float32', 2) as tf.Tensor2D;
    const Ho = convOutSize(side, g);
    const dy = tf.randomNormal([2 * Ho * Ho, 5], 0, 1, 'float32', 3) as tf.Tensor2D;
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor2D, g), dy)));
    const theirs = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(reference(a as tf.Tensor4D, b as tf.Tensor2D, g), dy)));
    const [dxO, dwO] = ours([x, w]);
    const [dxR, dwR] = theirs([x, w]);
    const yO = conv2d(x, w, g);
    const yR = reference(x, w, g);
    expect(yO.shape).toEqual([2 * Ho * Ho, 5]);
    expectClose(yO.dataSync(), yR.dataSync(), 1e-4, 1e-4, 'y');
    expectClose(dxO!.dataSync(), dxR!.dataSync(), 1e-4, 1e-4, 'dx');
    expectClose(dwO!.dataSync(), dwR!.dataSync(), 1e-4, 1e-4, 'dW');
    // a gradient that is all zeros would pass trivially
    expect(tf.tidy(() => tf.max(tf.abs(dxO!)).dataSync()[0]!)).toBeGreaterThan(0.1);
    // without the input gradient, dW is the same
    const dwOnly = tf.grad((b: tf.Tensor) => tf.sum(tf.mul(conv2d(x, b as tf.Tensor2D, g, { inputGrad: false }), dy)))(w);
    expectClose(dwOnly.dataSync(), dwR!.dataSync(), 1e-4, 1e-4, 'dW without dx');
    tf.dispose([x, w, dy, dxO!, dwO!, dxR!, dwR!, yO, yR, dwOnly]);
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('col2im is the adjoint of im2col: <im2col(x), c> = <x, col2im(c)>', () => {
    const n0 = tf.memory().numTensors;
    const g = { kernel: 3, stride: 2, pad: 1 };
    const shape: [number, number, number, number] = [3, 10, 10, 4];
    tf.tidy(() => {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 5) as tf.Tensor4D;
      const cols = im2col(x, g);
      // a hand count: output 5x5 per image, 9 offsets of 4 channels
      expect(cols.shape).toEqual([3 * 25, 36]);
      const c = tf.randomNormal(cols.shape, 0, 1, 'float32', 6) as tf.Tensor2D;
      const lhs = tf.sum(tf.mul(cols, c)).dataSync()[0]!;
      const rhs = tf.sum(tf.mul(x, col2im(c, shape, g))).dataSync()[0]!;
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3 * Math.abs(lhs) + 1e-3);
    });
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('a receptive field in (row, column, channel) order, zeros in the padding', () => {
    tf.tidy(() => {
      // pixel value = 100 * row + 10 * col + channel
      const vals = Array.from({ length: 4 * 4 * 2 }, (_, i) => 100 * Math.floor(i / 8) + 10 * (Math.floor(i / 2) % 4) + (i % 2));
      const x = tf.tensor4d(vals, [1, 4, 4, 2]);
      const cols = im2col(x, { kernel: 3, stride: 2, pad: 1 }).arraySync();
      // output (0, 0) sees rows -1..1, cols -1..1: the top row and left column are padding
      expect(cols[0]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 10, 11, 0, 0, 100, 101, 110, 111]);
      // output (1, 1) sees rows 1..3, cols 1..3
      expect(cols[3]).toEqual([110, 111, 120, 121, 130, 131, 210, 211, 220, 221, 230, 231, 310, 311, 320, 321, 330, 331]);
    });
  });
});

describe('conv2d on wasm (native GEMM) matches the cpu reference', () => {
  test('value, dx and dW', async () => {
    const g = { kernel: 3, stride: 2, pad: 1 };
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(Float32Array.from({ length: 4 * 16 * 16 * 8 }, (_, i) => Math.sin(i * 0.37)), [4, 16, 16, 8]);
        const w = tf.tensor2d(Float32Array.from({ length: 72 * 12 }, (_, i) => Math.cos(i * 0.11) * 0.3), [72, 12]);
        const dy = tf.tensor2d(Float32Array.from({ length: 4 * 64 * 12 }, (_, i) => Math.sin(i * 0.05)), [4 * 64, 12]);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2d(a as tf.Tensor4D, b as tf.Tensor2D, g), dy)))([x, w]);
        return [conv2d(x, w, g).dataSync(), dx!.dataSync(), dw!.dataSync()].map((a) => Float32Array.from(a));
      });
    await useBackend('cpu');
    const ref = run();
    await useBackend('wasm');
    const n0 = tf.memory().numTensors;
    const got = run();
    expect(tf.memory().numTensors).toBe(n0);
    ['y', 'dx', 'dW'].forEach((what, i) => expectClose(got[i]!, ref[i]!, 1e-3, 1e-3, what));
  });
});
