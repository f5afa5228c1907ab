import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { KoLeoLoss } from '../../src/train/KoLeoLoss';
import { Trainer } from '../../src/train/Trainer';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { modelSize } from '../../src/model/modelSizes';
import { batchFor } from './resumeRun';

describe.each(['wasm', 'cpu'] as const)('KoLeoLoss (%s)', (backend) => {
  beforeAll(() => useBackend(backend));

  test('matches a hand computation on three points of the unit circle', () => {
    // angles 0, 90 and 30 degrees (the last given unnormalised): nn(0)=30 deg, nn(90)=30 deg, nn(30)=0 deg;
    // the chord between angles a and b is 2 sin(|a - b| / 2)
    const x = tf.tensor2d([
      [1, 0],
      [0, 1],
      [2 * Math.cos(Math.PI / 6), 2 * Math.sin(Math.PI / 6)],
    ]);
    const n0 = tf.memory().numTensors;
    const loss = new KoLeoLoss().apply(x);
    const chord = (deg: number) => 2 * Math.sin((deg * Math.PI) / 360);
    const expected = -(Math.log(chord(30)) + Math.log(chord(60)) + Math.log(chord(30))) / 3;
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    x.dispose();
  });

  test('refuses a single row (it has no neighbour)', () => {
    const x = tf.ones([1, 3]) as tf.Tensor2D;
    expect(() => new KoLeoLoss().apply(x)).toThrow(/at least 2 rows/);
    x.dispose();
  });

  test('the nearest neighbour is never the row itself', () => {
    const x = tf.tensor2d([
      [1, 0.1],
      [1, 0.12],
      [-1, 0],
      [-1, 0.3],
    ]);
    const idx = tf.tidy(() => KoLeoLoss.nearest(x.div(x.norm('euclidean', 1, true)) as tf.Tensor2D));
    expect(Array.from(idx.dataSync())).toEqual([1, 0, 3, 2]);
    tf.dispose([x, idx]);
  });

  test('its gradient matches central finite differences', () => {
    const rows = 5;
    const d = 4;
    const base = Array.from({ length: rows * d }, (_, i) => Math.sin(1.7 * i + 0.3) + 0.1 * i);
    const koleo = new KoLeoLoss();
    const f = (v: number[]) => tf.tidy(() => koleo.apply(tf.tensor2d(v, [rows, d])).dataSync()[0]!);
    const n0 = tf.memory().numTensors;
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => koleo.apply(x as tf.Tensor2D))(tf.tensor2d(base, [rows, d])));
    const analytic = Array.from(g.dataSync());
    g.dispose();
    expect(tf.memory().numTensors).toBe(n0);
    const h = 1e-2;
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < base.length; i++) {
      const p = base.slice();
      const m = base.slice();
      p[i]! += h;
      m[i]! -= h;
      const numeric = (f(p) - f(m)) / (2 * h);
      maxErr = Math.max(maxErr, Math.abs(numeric - analytic[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(numeric));
    }
    expect(maxAbs).toBeGreaterThan(1e-2); // the check means something
    expect(maxErr / maxAbs).toBeLessThan(2e-2);
  });

  test('spreads a clustered batch: gradient steps raise the nearest-neighbour distances', () => {
    const x = tf.variable(tf.tensor2d([
      [1, 0.05, 0],
      [1, 0.06, 0.01],
      [1, -0.04, 0.02],
      [0.9, 0, -0.05],
    ]));
    const koleo = new KoLeoLoss();
    const n0 = tf.memory().numTensors;
    const before = tf.tidy(() => koleo.apply(x).dataSync()[0]!);
    const opt = tf.train.sgd(0.05);
    for (let i = 0; i < 20; i++) tf.dispose(opt.minimize(() => koleo.apply(x)) ?? []);
    const after = tf.tidy(() => koleo.apply(x).dataSync()[0]!);
    opt.dispose();
    expect(after).toBeLessThan(before - 0.5);
    expect(tf.memory().numTensors).toBe(n0);
    x.dispose();
  });

  test("koleoSchedule 'cosine' takes the weight from koleoWeight to 0 at the horizon; 'constant' keeps it", () => {
    const opts = { ...paperRecipe(modelSize('micro'), 4, 100, 2), koleoWeight: 0.1 };
    const cosine = new Trainer({ ...opts, koleoSchedule: 'cosine' });
    const constant = new Trainer(opts);
    // official cosine_scheduler(0.1, 0, total=100): 0.05 (1 + cos(pi i / 100))
    for (const i of [0, 25, 50, 99]) {
      expect(cosine.koleoWeight(i)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * i) / 100)), 10);
      expect(constant.koleoWeight(i)).toBe(0.1);
    }
    expect(cosine.koleoWeight(500)).toBeCloseTo(0.05 * (1 + Math.cos((Math.PI * 99) / 100)), 10); // holds past it
    cosine.setHorizon(200); // a wall-clock budget moves the horizon: the KoLeo decay follows
    expect(cosine.koleoWeight(100)).toBeCloseTo(0.05, 10);
    cosine.dispose();
    constant.dispose();
  });

  test('the Trainer adds it to the student loss with its weight, and reports DINO loss and KoLeo apart', () => {
    const opts = { ...paperRecipe(modelSize('micro'), 4, 20, 2), warmupSteps: 0 }; // lr > 0 at step 0
    const plain = new Trainer(opts);
    const withKoleo = new Trainer({ ...opts, koleoWeight: 0.1 });
    const crops = batchFor(0);
    const n0 = tf.memory().numTensors;
    // the same initial weights, so the regulariser computed by hand on the first global crops' CLS must match
    const expected = tf.tidy(() => {
      const f = withKoleo.student.apply(crops).features;
      const B = crops[0]!.shape[0];
      const k = new KoLeoLoss();
      return k.apply(f.slice([0, 0], [B, -1])).add(k.apply(f.slice([B, 0], [B, -1]))).dataSync()[0]!;
    });
    const a = plain.trainStep(crops);
    const b = withKoleo.trainStep(crops);
    expect(a.koleo).toBe(0);
    expect(b.koleo).toBeCloseTo(expected, 4);
    expect(b.koleoWeight).toBe(0.1);
    expect(b.loss).toBeCloseTo(a.loss, 4); // the reported loss is DINO's alone
    // and the regulariser changed the update
    const sa = plain.student.namedParameters().find(([n]) => n.includes('blocks.0'))![1];
    const sb = withKoleo.student.namedParameters().find(([n]) => n.includes('blocks.0'))![1];
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(sa, sb))).dataSync()[0]!);
    expect(diff).toBeGreaterThan(1e-6);
    expect(tf.memory().numTensors).toBe(n0);
    tf.dispose(crops);
    plain.dispose();
    withKoleo.dispose();
  });
});
