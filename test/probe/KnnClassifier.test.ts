import * as tf from '@tensorflow/tfjs';
import { KnnClassifier } from '../../src/probe/KnnClassifier';
import { Random } from '../../src/util/Random';
// Features are stored as Float32 (as embeddings are), so values match to ~1e-7 relative.

// Bank on the unit circle: a = (1,0) class 0, b = (0.8,0.6) class 1, c = (0,1) class 1.
const train = [
  [1, 0],
  [0.8, 0.6],
  [0, 1],
];
const labels = [0, 1, 1];

describe('KnnClassifier (DINO eval_knn weighting)', () => {
  test('hand-worked votes: exp(sim / T) over the top-k', () => {
    // Query (1,0): similarities a 1, b 0.8, c 0.
    // k = 3, T = 1: class 0 gets e^1 = 2.718, class 1 gets e^0.8 + e^0 = 3.226 -> class 1 wins.
    const soft = new KnnClassifier(train, labels, 2, { k: 3, temperature: 1 }).predict([1, 0]);
    expect(soft.votes[0]).toBeCloseTo(Math.E, 6);
    expect(soft.votes[1]).toBeCloseTo(Math.exp(0.8) + 1, 6);
    expect(soft.ranking).toEqual([1, 0]);
    // T = 0.07 (DINO's): e^(1/0.07) = 1.6e6 dwarfs e^(0.8/0.07) + e^0 = 9.2e4 -> class 0 wins.
    const sharp = new KnnClassifier(train, labels, 2, { k: 3 }).predict([1, 0]);
    expect(sharp.votes[0]).toBeCloseTo(Math.exp(1 / 0.07), 0);
    expect(sharp.ranking).toEqual([0, 1]);
    // k = 2, T = 0.5, query (0.6, 0.8): sims a 0.6, b 0.96, c 0.8 -> top-2 are b, c (both class 1).
    const k2 = new KnnClassifier(train, labels, 2, { k: 2, temperature: 0.5 }).predict([0.6, 0.8]);
    expect(k2.votes[0]).toBe(0);
    expect(k2.votes[1]).toBeCloseTo(Math.exp(0.96 / 0.5) + Math.exp(0.8 / 0.5), 5);
  });

  test('features are L2-normalised (scale does not matter)', () => {
    const knn = new KnnClassifier([[10, 0], [0, 0.1]], [0, 1], 2, { k: 1 });
    expect(knn.predict([0.001, 0.0001]).ranking[0]).toBe(0);
    expect(knn.predict([1, 50]).ranking[0]).toBe(1);
  });

  test('fewer than 100 test images and k larger than the bank (k = 20 default, bank of 3)', async () => {
    const knn = new KnnClassifier(train, labels, 3); // 3 classes, class 2 has no training example
    expect(knn.k).toBe(20);
    // (1,0): class 0 wins (see above). (0,1): c 1, b 0.6, a 0 -> class 1. (0.8,-0.6) labelled 2: never predictable.
    const acc = await knn.evaluate([[1, 0], [0, 1], [0.8, -0.6]], [0, 1, 2]);
    expect(acc.n).toBe(3);
    expect(acc.top1).toBeCloseTo(2 / 3, 10);
    // Top-5 capped at 3 classes; class 2 got no vote, so it is not a top-5 hit.
    expect(acc.top5).toBeCloseTo(2 / 3, 10);
    expect(await knn.evaluate([[0, 1]], [1])).toEqual({ top1: 1, top5: 1, n: 1 });
    expect((await knn.evaluate([], [])).n).toBe(0);
  });

  test('leave-one-out: each bank image is classified by the others, never by itself', async () => {
    const knn = new KnnClassifier(train, labels, 2, { k: 1 });
    // With itself in the bank every image is its own nearest neighbour: 3 of 3.
    expect((await knn.evaluate(train, labels)).top1).toBe(1);
    // Without: a (class 0) -> nearest b 0.8 (class 1), wrong; b (class 1) -> a 0.8 beats c 0.6 (class 0), wrong;
    // c (class 1) -> b 0.6 (class 1), right. Top-5 has the same hits: with k = 1 the true class of a and b gets no vote.
    expect(await knn.leaveOneOut()).toEqual({ top1: 1 / 3, top5: 1 / 3, n: 3 });
    // k = 2, T = 1 for b: a e^0.8 (class 0) against c e^0.6 (class 1) -> class 0 still wins, and both vote.
    const b = new KnnClassifier(train, labels, 2, { k: 2, temperature: 1 }).predict(train[1]!, 1);
    expect(b.votes[0]).toBeCloseTo(Math.exp(0.8), 5);
    expect(b.votes[1]).toBeCloseTo(Math.exp(0.6), 5);
    await expect(new KnnClassifier([[1, 0]], [0], 2).leaveOneOut()).rejects.toThrow(/at least two/);
  });

  test('predictMany (a matrix product per chunk of queries) gives what predict gives, one query at a time', async () => {
    // 5000 bank rows make chunks of 838 queries, so 2000 queries cross two chunk boundaries
    const rng = new Random(3);
    const row = () => Array.from({ length: 8 }, () => rng.normal());
    const bank = Array.from({ length: 5000 }, row);
    const knn = new KnnClassifier(bank, bank.map((_, i) => i % 7), 7);
    const queries = Array.from({ length: 2000 }, (_, i) => (i % 2 ? bank[i]! : row()));
    const exclude = (i: number) => (i % 3 === 0 ? i : -1); // some leave their own bank row out
    const n0 = tf.memory().numTensors;
    const many = await knn.predictMany((i) => queries[i]!, queries.length, exclude);
    expect(tf.memory().numTensors).toBe(n0);
    let differ = 0;
    many.forEach((p, i) => {
      const one = knn.predict(queries[i]!, exclude(i));
      if (p.ranking.join() !== one.ranking.join()) differ++;
      one.votes.forEach((v, c) => {
        if (!(Math.abs(p.votes[c]! - v) <= 1e-4 * v)) differ++;
      });
    });
    expect(differ).toBe(0);
    // a query that is its own bank row and may use it scores ~1 against itself, so its class wins by a lot
    expect(many[1]!.ranking[0]).toBe(1 % 7);
  });

  test('ties in votes rank the lower class first', () => {
    const knn = new KnnClassifier([[1, 0], [1, 0]], [1, 0], 2, { k: 2 });
    expect(knn.predict([1, 0]).ranking).toEqual([0, 1]);
  });

  test('input errors are explicit', () => {
    expect(() => new KnnClassifier([], [], 2)).toThrow(/empty/);
    expect(() => new KnnClassifier([[1, 0]], [5], 2)).toThrow(/bad label 5/);
    expect(() => new KnnClassifier([[1, 0]], [0], 2).predict([1, 0, 0])).toThrow(/dimension 3/);
  });
});
