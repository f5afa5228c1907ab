/**
 * `eval novelty` on a small CIFAR-10 subset with the micro model and 2 training steps: the reported AUROC / FPR95
 * are recomputed from the reported per-image scores, the raw-pixel scores are recomputed from scratch (brute-force
 * k-th neighbour over the non-held-out train images), and the held-out classes are checked to reach neither the
 * training stream nor the bank.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend';
import * as StreamTrainingRun from '../../src/eval/StreamTrainingRun';
import { NoveltyDetector } from '../../src/detect/NoveltyDetector';
import { ImageFolder } from '../../src/probe/ImageFolder';
import { auroc, fprAtTpr } from '../../src/eval/auroc';
import * as FeatureExtraction from '../../src/eval/featureExtraction';
import { pixelFeatures } from '../../src/eval/featureExtraction';
import { patchNoveltyScores, pixelPatchFeatures } from '../../src/eval/patchNovelty';
import { EvalInputError } from '../../src/eval/EvalInputError';
import { noveltyEval, noveltyScores, type NoveltyEvalOptions } from '../../src/eval/noveltyEval';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10');
const TRAIN_PER_CLASS = 20;
const TEST_PER_CLASS = 10;
const HOLDOUT = ['cat', 'dog'];

const options: NoveltyEvalOptions = {
  data: CIFAR,
  holdout: HOLDOUT,
  model: 'micro',
  recipe: 'stream',
  batchSize: 8,
  budget: { steps: 2 },
  bufferSize: 64,
  bufferPolicy: 'reservoir',
  seed: 0,
  backend: { backend: 'wasm' },
  limitPerClass: TRAIN_PER_CLASS,
  testLimitPerClass: TEST_PER_CLASS,
};

const key = (im: Uint8Array) => Buffer.from(im).toString('base64');

/** Brute force: cosine distance of each query to its k-th nearest bank vector. */
function kthDistances(bank: Float32Array[], queries: Float32Array[], k: number): number[] {
  const unit = (v: Float32Array) => {
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const b = bank.map(unit);
  return queries.map((q) => {
    const u = unit(q);
    const d = b.map((v) => 1 - v.reduce((s, x, j) => s + x * u[j]!, 0)).sort((x, y) => x - y);
    return Math.max(0, d[k - 1]!);
  });
}

describe('eval novelty', () => {
  beforeAll(async () => {
    await selectBackend({ backend: 'wasm', log: () => undefined });
  });
  afterEach(() => jest.restoreAllMocks());

  test('metrics agree with auroc() on the scores; held-out classes reach neither training nor bank', async () => {
    const streamedImages: Uint8Array[][] = [];
    const realRun = StreamTrainingRun.runStreamTraining;
    jest.spyOn(StreamTrainingRun, 'runStreamTraining').mockImplementation(async (o) => {
      streamedImages.push([...o.images]);
      return realRun(o);
    });
    const bankSizes: number[] = [];
    const rebuild = NoveltyDetector.prototype.rebuild;
    jest.spyOn(NoveltyDetector.prototype, 'rebuild').mockImplementation(function (this: NoveltyDetector, ...args) {
      bankSizes.push(args[0].length);
      return rebuild.apply(this, args);
    });

    const before = tf.memory().numTensors;
    const r = await noveltyEval(options);
    expect(tf.memory().numTensors).toBe(before);

    // Reference data, loaded independently.
    const folder = ImageFolder.open(CIFAR);
    const held = new Set(HOLDOUT.map((c) => folder.classes.indexOf(c)));
    const train = await folder.load('train', { size: 16, limitPerClass: TRAIN_PER_CLASS });
    const test = await folder.load('test', { size: 16, limitPerClass: TEST_PER_CLASS });
    const knownTrain = train.images.filter((_, i) => !held.has(train.labels[i]!));
    const heldTrain = new Set(train.images.filter((_, i) => held.has(train.labels[i]!)).map(key));

    expect(r.holdout).toEqual(HOLDOUT);
    expect(r.streamed_classes).toEqual(folder.classes.filter((c) => !HOLDOUT.includes(c)));
    expect(r.bank_size).toBe(8 * TRAIN_PER_CLASS);
    expect([r.test_images, r.positives, r.negatives]).toEqual([10 * TEST_PER_CLASS, 2 * TEST_PER_CLASS, 8 * TEST_PER_CLASS]);
    expect(r.scores.heldOut).toEqual(test.labels.map((c) => held.has(c)));
    expect([r.steps, r.images_seen]).toEqual([2, 16]);

    // Training stream: exactly the non-held-out train images, none of the held-out ones.
    expect(streamedImages).toHaveLength(1);
    const streamed = streamedImages[0]!;
    expect(streamed).toHaveLength(knownTrain.length);
    expect(streamed.filter((im) => heldTrain.has(key(im)))).toHaveLength(0);
    expect(new Set(streamed.map(key))).toEqual(new Set(knownTrain.map(key)));

    // Banks: raw pixels, random-init teacher, trained teacher; each of the non-held-out images only.
    expect(bankSizes).toEqual([knownTrain.length, knownTrain.length, knownTrain.length]);

    // The reported raw-pixel scores are the k-th neighbour distances to the known classes' pixels.
    const raw = kthDistances(await pixelFeatures(knownTrain, 16), await pixelFeatures(test.images, 16), 5);
    r.scores.raw_pixels.forEach((s, i) => expect(s).toBeCloseTo(raw[i]!, 4));

    // Metrics recomputed from the scores with auroc() / fprAtTpr().
    const split = (s: number[]) => [s.filter((_, i) => r.scores.heldOut[i]), s.filter((_, i) => !r.scores.heldOut[i])] as const;
    for (const [name, scores, m] of [
      ['raw', r.scores.raw_pixels, r.raw_pixels],
      ['random', r.scores.random_init, r.random_init],
      ['teacher', r.scores.teacher, r.teacher],
    ] as const) {
      const [pos, neg] = split(scores);
      expect([name, m.auroc, m.fpr95]).toEqual([name, auroc(pos, neg), fprAtTpr(pos, neg, 0.95)]);
      expect(m.auroc).toBeGreaterThanOrEqual(0);
      expect(m.auroc).toBeLessThanOrEqual(1);
    }
    expect([r.auroc, r.fpr95]).toEqual([r.teacher.auroc, r.teacher.fpr95]);
    console.log(
      `novelty eval (micro, 2 steps, ${TRAIN_PER_CLASS}/class bank, held out ${HOLDOUT.join('+')}): AUROC raw ${r.raw_pixels.auroc.toFixed(3)}, ` +
        `random-init ${r.random_init.auroc.toFixed(3)}, teacher ${r.teacher.auroc.toFixed(3)}; FPR95 teacher ${r.teacher.fpr95.toFixed(3)}`,
    );
  });

  test('--readout cls+avgpool scores the CLS beside the mean patch token, each half unit-length', async () => {
    const real = FeatureExtraction.backboneFeatures;
    const calls: { readout?: string; features: Float32Array[] }[] = [];
    jest.spyOn(FeatureExtraction, 'backboneFeatures').mockImplementation(async (backbone, images, size, opts) => {
      const features = await real(backbone, images, size, opts);
      calls.push({ readout: opts?.readout, features });
      return features;
    });
    const before = tf.memory().numTensors;
    const r = await noveltyEval({ ...options, budget: { steps: 1 }, readout: 'cls+avgpool' });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.readout).toBe('cls+avgpool');
    // bank and test images, for the random-init and the trained teacher
    expect(calls.map((c) => c.readout)).toEqual(['cls+avgpool', 'cls+avgpool', 'cls+avgpool', 'cls+avgpool']);
    const dim = 16; // micro's embedDim
    for (const v of calls[1]!.features) {
      expect(v).toHaveLength(2 * dim);
      const half = (a: number, b: number) => Math.hypot(...v.slice(a, b));
      expect(half(0, dim)).toBeCloseTo(Math.SQRT1_2, 4);
      expect(half(dim, 2 * dim)).toBeCloseTo(Math.SQRT1_2, 4);
    }
    const expected = kthDistances(calls[2]!.features, calls[3]!.features, 5);
    r.scores.teacher.forEach((s, i) => expect(s).toBeCloseTo(expected[i]!, 4));
  });

  test('--score patch scores raw pixels and the teacher by their most novel patch', async () => {
    const before = tf.memory().numTensors;
    const r = await noveltyEval({ ...options, budget: { steps: 1 }, score: 'patch' });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.score).toBe('patch');
    const folder = ImageFolder.open(CIFAR);
    const held = new Set(HOLDOUT.map((c) => folder.classes.indexOf(c)));
    const train = await folder.load('train', { size: 16, limitPerClass: TRAIN_PER_CLASS });
    const test = await folder.load('test', { size: 16, limitPerClass: TEST_PER_CLASS });
    const known = train.images.filter((_, i) => !held.has(train.labels[i]!));
    const raw = patchNoveltyScores(await pixelPatchFeatures(known, 16, 4), await pixelPatchFeatures(test.images, 16, 4), 48); // micro: patch 4
    r.scores.raw_pixels.forEach((s, i) => expect(s).toBeCloseTo(raw[i]!, 4));
    for (const s of r.scores.teacher) {
      expect(s).toBeGreaterThanOrEqual(-1e-6);
      expect(s).toBeLessThanOrEqual(2);
    }
    expect(r.scores.teacher).not.toEqual(r.scores.random_init);
    await expect(noveltyEval({ ...options, score: 'patch', readout: 'cls+avgpool' })).rejects.toThrow(/--readout cls\+avgpool applies to the knn score/);
  });

  test('unknown holdout class: a clear error listing the classes, before any training', async () => {
    const run = jest.spyOn(StreamTrainingRun, 'runStreamTraining');
    const err = await noveltyEval({ ...options, holdout: ['cat', 'unicorn'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EvalInputError);
    const msg = (err as Error).message;
    expect(msg).toContain('"unicorn"');
    for (const c of ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']) expect(msg).toContain(c);
    expect(run).not.toHaveBeenCalled();
    await expect(noveltyEval({ ...options, holdout: ImageFolder.open(CIFAR).classes })).rejects.toThrow(/at least one must be streamed/);
    await expect(noveltyEval({ ...options, holdout: [''] })).rejects.toThrow(/at least one class/);
  });

  test('noveltyScores is the detector scoring: k-th neighbour cosine distance', () => {
    const bank = [
      [1, 0],
      [0, 1],
      [1, 1],
      [-1, 0],
    ].map((v) => Float32Array.from(v));
    const q = [Float32Array.from([2, 0])];
    expect(noveltyScores(bank, q, 1)[0]).toBeCloseTo(0, 6);
    expect(noveltyScores(bank, q, 2)[0]).toBeCloseTo(1 - Math.SQRT1_2, 6);
    expect(noveltyScores(bank, q, 3)[0]).toBeCloseTo(1, 6);
    expect(() => noveltyScores(bank, q, 5)).toThrow(EvalInputError);
  });
});
