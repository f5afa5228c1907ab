import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { DINOLoss, sinkhornKnopp } from '../../src/train/DINOLoss';

const ln = Math.log;
const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const logSoftmax = (z: number[]) => softmax(z).map(ln);

describe('DINOLoss', () => {
  beforeAll(() => useBackend('cpu'));

  // K=2, B=1, 2 global crops + 1 local. Teacher logits t0=[1,0], t1=[0,1]; student logits s0=s1=[0,0] and
  // s2=[0.1 ln 3, 0], so s/0.1 gives log-softmaxes [-ln2,-ln2] and [ln(3/4), ln(1/4)].
  const teacher = [
    [1, 0],
    [0, 1],
  ];
  const student = [
    [0, 0],
    [0, 0],
    [0.1 * ln(3), 0],
  ];

  function lossOf(l: DINOLoss, temp: number): number {
    return tf.tidy(() => l.loss(tf.tensor2d(student), tf.tensor2d(teacher), temp).dataSync()[0]!);
  }

  test('matches the hand computation over the 2*(ncrops-1) view pairs', () => {
    const n0 = tf.memory().numTensors;
    const l = new DINOLoss({ outDim: 2, nCrops: 3 });
    expect(l.numTerms).toBe(4);
    const e = Math.E;
    const q0 = [e / (e + 1), 1 / (e + 1)];
    const q1 = [1 / (e + 1), e / (e + 1)];
    const ce = (q: number[], lsv: number[]) => -(q[0]! * lsv[0]! + q[1]! * lsv[1]!);
    const uniform = [-ln(2), -ln(2)];
    const local = [ln(3 / 4), ln(1 / 4)];
    // pairs (teacher 0, student 1), (0, 2), (1, 0), (1, 2); the same view (0,0), (1,1) is skipped
    const hand = (ce(q0, uniform) + ce(q0, local) + ce(q1, uniform) + ce(q1, local)) / 4;
    expect(hand).toBeCloseTo(0.7650677, 6);
    expect(lossOf(l, 1)).toBeCloseTo(hand, 6);
    l.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('centering: a centre equal to a teacher output makes that target uniform', () => {
    const l = new DINOLoss({ outDim: 2, nCrops: 3 });
    l.center.assign(tf.tensor2d([[1, 0]]));
    // t0 - c = [0,0] -> q0 uniform; t1 - c = [-1, 1] -> q1 = softmax([-1,1])
    const q0 = [0.5, 0.5];
    const q1 = softmax([-1, 1]);
    const ce = (q: number[], lsv: number[]) => -(q[0]! * lsv[0]! + q[1]! * lsv[1]!);
    const ls = student.map((s) => logSoftmax(s.map((v) => v / 0.1)));
    const hand = (ce(q0, ls[1]!) + ce(q0, ls[2]!) + ce(q1, ls[0]!) + ce(q1, ls[2]!)) / 4;
    expect(lossOf(l, 1)).toBeCloseTo(hand, 6);
    l.dispose();
  });

  test('sharpening: a low teacher temperature makes the targets one-hot', () => {
    const l = new DINOLoss({ outDim: 2, nCrops: 3 });
    // temp -> 0: q0 = [1,0], q1 = [0,1]
    const ls = student.map((s) => logSoftmax(s.map((v) => v / 0.1)));
    const hand = (-ls[1]![0]! - ls[2]![0]! - ls[0]![1]! - ls[2]![1]!) / 4;
    expect(lossOf(l, 1e-3)).toBeCloseTo(hand, 5);
    // and a high one makes them uniform: the loss tends to the mean cross-entropy against uniform targets
    const flat = (ls[1]!.concat(ls[2]!, ls[0]!, ls[2]!).reduce((a, b) => a - b, 0) / 2) / 4;
    expect(lossOf(l, 1e4)).toBeCloseTo(flat, 4);
    l.dispose();
  });

  test('centre update is the EMA of the batch mean of the teacher logits', () => {
    const n0 = tf.memory().numTensors;
    const l = new DINOLoss({ outDim: 3, nCrops: 4, centerMomentum: 0.9 });
    const t = tf.tensor2d([
      [1, 2, 3],
      [3, 2, 1],
      [0, 0, 6],
      [4, 4, 4],
    ]);
    l.updateCenter(t as tf.Tensor2D);
    const mean = [2, 2, 3.5];
    Array.from(l.center.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(0.1 * mean[i]!, 6));
    l.updateCenter(t as tf.Tensor2D);
    Array.from(l.center.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(0.9 * 0.1 * mean[i]! + 0.1 * mean[i]!, 6));
    t.dispose();
    l.dispose();
    expect(tf.memory().numTensors).toBe(n0);
  });

  test('refuses mismatched shapes with a clear message', () => {
    const l = new DINOLoss({ outDim: 2, nCrops: 3 });
    expect(() => tf.tidy(() => l.loss(tf.zeros([4, 2]) as tf.Tensor2D, tf.zeros([2, 2]) as tf.Tensor2D, 0.04))).toThrow(/student rows/);
    l.dispose();
  });

  test('Sinkhorn-Knopp targets match the iteration written out, rows sum to 1, prototypes share the mass', () => {
    const n0 = tf.memory().numTensors;
    const logits = [
      [0.9, 0.1, -0.3],
      [0.8, 0.2, -0.1],
      [0.7, -0.5, 0.4],
      [0.95, 0.0, 0.05],
    ];
    const T = 0.1;
    const B = 4;
    const K = 3;
    // by hand: Q = exp(l/T) (up to a constant), 3 x (columns to 1/K, rows to 1/B), rows scaled by B
    let q = logits.map((r) => r.map((v) => Math.exp(v / T)));
    const tot = q.flat().reduce((a, b) => a + b, 0);
    q = q.map((r) => r.map((v) => v / tot));
    for (let it = 0; it < 3; it++) {
      const cols = [0, 1, 2].map((k) => q.reduce((a, r) => a + r[k]!, 0));
      q = q.map((r) => r.map((v, k) => v / cols[k]! / K));
      q = q.map((r) => {
        const s = r.reduce((a, b) => a + b, 0);
        return r.map((v) => v / s / B);
      });
    }
    const want = q.map((r) => r.map((v) => v * B));
    const got = tf.tidy(() => sinkhornKnopp(tf.tensor2d(logits), T, 3).arraySync());
    got.forEach((r, i) => r.forEach((v, k) => expect(v).toBeCloseTo(want[i]![k]!, 5)));
    got.forEach((r) => expect(r.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5));
    // every row prefers prototype 0 under a plain softmax; Sinkhorn spreads the batch over all three
    const colMass = [0, 1, 2].map((k) => got.reduce((a, r) => a + r[k]!, 0));
    colMass.forEach((m) => expect(m).toBeGreaterThan(0.8));
    expect(tf.memory().numTensors).toBe(n0);
  });
  test('Sinkhorn-Knopp stays finite when a prototype is far below the batch best at T = 0.01', () => {
    const n0 = tf.memory().numTensors;
    // prototype 2's best cosine (-0.85) is 1.8 below the batch's best (0.95): exp(-180) underflows float32 unless
    // the iteration stays in log space
    const logits = [
      [0.9, 0.5, -0.9],
      [0.2, 0.95, -0.85],
      [0.6, 0.4, -0.95],
    ];
    const got = tf.tidy(() => sinkhornKnopp(tf.tensor2d(logits), 0.01, 3).arraySync());
    got.flat().forEach((v) => expect(Number.isFinite(v)).toBe(true));
    got.forEach((r) => expect(r.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5));
    // the column normalisation gives the trailing prototype its share of the batch's mass, and it goes to the
    // sample closest to it (row 1: -0.85)
    const col2 = got.map((r) => r[2]!);
    expect(col2.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.5);
    expect(col2[1]!).toBeGreaterThan(col2[0]!);
    expect(tf.memory().numTensors).toBe(n0);
  });
});
