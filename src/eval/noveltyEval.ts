import type { VisionTransformer } from '../model/VisionTransformer';
import type { Readout } from '../model/Embedder';
import { NoveltyDetector } from '../detect/NoveltyDetector';
import { ImageFolder, type LoadedImages } from '../probe/ImageFolder';
import { auroc, fprAtTpr } from './auroc';
import { backboneFeatures, pixelFeatures } from './featureExtraction';
import { patchFeatures, patchNoveltyScores, pixelPatchFeatures } from './patchNovelty';
import { horizonSteps, runStreamTraining, type Budget } from './StreamTrainingRun';
import { CHECKPOINT_RECIPE, openEvalTrainer, type EvalTraining } from './evalTrainer';
import { EvalInputError } from './EvalInputError';

export interface NoveltyEvalOptions extends EvalTraining {
  data: string;
  /** Class names never streamed nor put in the bank; their test images are the positives. */
  holdout: string[];
  budget: Budget;
  /** The score is the cosine distance to the k-th nearest bank neighbour (default 5, as the agent's detector). */
  k?: number;
  /** The teacher's feature (default the CLS, what the agent's detector scores). */
  readout?: Readout;
  /** 'knn' (default): the image feature's k-th neighbour distance; 'patch': the largest nearest-patch distance (patchNovelty). */
  score?: NoveltyScore;
  /** Train / test images per class (first in sorted order), for quick runs; default all. */
  limitPerClass?: number;
  testLimitPerClass?: number;
}

export type NoveltyScore = 'knn' | 'patch';
export const NOVELTY_SCORES: readonly NoveltyScore[] = ['knn', 'patch'];

export interface NoveltyMetrics {
  auroc: number;
  /** False-positive rate at the threshold that flags 95% of the held-out test images. */
  fpr95: number;
}

export interface NoveltyEvalReport {
  data: string;
  model: string;
  recipe: string;
  backend: string;
  holdout: string[];
  streamed_classes: string[];
  k: number;
  readout: Readout;
  score: NoveltyScore;
  /** Train images streamed through training and put in the bank (held-out classes excluded). */
  bank_size: number;
  test_images: number;
  positives: number;
  negatives: number;
  raw_pixels: NoveltyMetrics;
  random_init: NoveltyMetrics;
  teacher: NoveltyMetrics;
  /** The trained teacher's numbers, repeated at the top level. */
  auroc: number;
  fpr95: number;
  images_seen: number;
  steps: number;
  wall_s: number;
  train_s: number;
  /** Per test image (test order): held out or not, and the score under each representation. */
  scores: { heldOut: boolean[]; raw_pixels: number[]; random_init: number[]; teacher: number[] };
}

/**
 * Novelty scores as the agent's NoveltyDetector computes them (cosine distance to the k-th nearest neighbour of
 * the L2-normalised query in the bank), with the whole bank loaded at once: capacity = bank size, no eviction.
 */
export function noveltyScores(bank: readonly ArrayLike<number>[], queries: readonly ArrayLike<number>[], k: number): number[] {
  if (bank.length < k) throw new EvalInputError(`novelty bank holds ${bank.length} images, fewer than k = ${k}`);
  const det = new NoveltyDetector({ k, capacity: bank.length, calibrationWindow: 1, minCalibration: 1 });
  det.rebuild(bank as ArrayLike<number>[], 0);
  return queries.map((q) => det.score(q).score);
}

/** AUROC and FPR@95%TPR of scores split by the held-out mask. */
export function noveltyMetrics(scores: readonly number[], heldOut: readonly boolean[]): NoveltyMetrics {
  const pos = scores.filter((_, i) => heldOut[i]);
  const neg = scores.filter((_, i) => !heldOut[i]);
  return { auroc: auroc(pos, neg), fpr95: fprAtTpr(pos, neg, 0.95) };
}

/** Resolves class names to indices; an unknown name is the user's error, listed against the real classes. */
export function holdoutLabels(classes: readonly string[], holdout: readonly string[], root: string): Set<number> {
  const names = [...new Set(holdout.map((s) => s.trim()).filter((s) => s.length > 0))];
  if (names.length === 0) throw new EvalInputError('--holdout: name at least one class to hold out');
  const unknown = names.filter((n) => !classes.includes(n));
  if (unknown.length > 0) {
    throw new EvalInputError(`unknown holdout class${unknown.length > 1 ? 'es' : ''} ${unknown.map((u) => `"${u}"`).join(', ')}; the classes of ${root} are: ${classes.join(', ')}`);
  }
  if (names.length === classes.length) throw new EvalInputError(`--holdout names every class of ${root}: at least one must be streamed`);
  return new Set(names.map((n) => classes.indexOf(n)));
}

function subset(images: LoadedImages, keep: (label: number) => boolean): Uint8Array[] {
  return images.images.filter((_, i) => keep(images.labels[i]!));
}

/**
 * `dino-stream eval novelty`: the DINO pipeline trained on the train images of all classes but the held-out
 * ones (streamed unlabelled, as a live feed), a bank of the teacher's embeddings of those same images, and
 * every test image scored against it; AUROC / FPR95 of the held-out classes' test images vs the others',
 * beside raw pixels and the random-init teacher.
 */
export async function noveltyEval(o: NoveltyEvalOptions): Promise<NoveltyEvalReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const k = o.k ?? 5;
  const readout = o.readout ?? 'cls';
  const score = o.score ?? 'knn';
  if (score === 'patch' && readout !== 'cls') throw new EvalInputError(`--readout ${readout} applies to the knn score; --score patch reads every patch token`);
  // Layout and class names first: a typo must not cost a backend start and a dataset load.
  const folder = ImageFolder.open(o.data);
  const held = holdoutLabels(folder.classes, o.holdout, o.data);
  const et = await openEvalTrainer({ ...o, horizonSteps: horizonSteps(o.budget, o.batchSize) });
  const { service, size } = et;
  try {
    log(`loading ${o.data} at ${size}x${size}`);
    const train = await folder.load('train', { size, limitPerClass: o.limitPerClass });
    const test = await folder.load('test', { size, limitPerClass: o.testLimitPerClass });
    const streamed = subset(train, (c) => !held.has(c));
    const heldOut = test.labels.map((c) => held.has(c));
    const positives = heldOut.filter(Boolean).length;
    if (positives === 0) throw new EvalInputError(`no test images of the held-out classes in ${o.data}/test`);
    if (positives === heldOut.length) throw new EvalInputError(`no test images of the streamed classes in ${o.data}/test`);
    log(`held out ${[...held].map((c) => folder.classes[c]).join(', ')}: ${streamed.length} train images streamed and banked, ${positives}/${heldOut.length} test images novel`);

    const trainer = service.frameTrainer.trainer;
    const p = trainer.teacher.backbone.config.patchSize;
    const rawScores =
      score === 'patch'
        ? patchNoveltyScores(await pixelPatchFeatures(streamed, size, p), await pixelPatchFeatures(test.images, size, p), p * p * 3)
        : noveltyScores(await pixelFeatures(streamed, size), await pixelFeatures(test.images, size), k);
    const raw = noveltyMetrics(rawScores, heldOut);
    log(`raw pixels: AUROC ${raw.auroc.toFixed(3)}`);
    const teacherScores = async (backbone: VisionTransformer) =>
      score === 'patch'
        ? patchNoveltyScores(await patchFeatures(backbone, streamed, size), await patchFeatures(backbone, test.images, size), backbone.config.embedDim)
        : noveltyScores(await backboneFeatures(backbone, streamed, size, { readout }), await backboneFeatures(backbone, test.images, size, { readout }), k);
    let randomScores: number[] = test.images.map(() => NaN);
    let randomInit = { auroc: NaN, fpr95: NaN };
    if (!et.checkpointFile) {
      randomScores = await teacherScores(trainer.teacher.backbone);
      randomInit = noveltyMetrics(randomScores, heldOut);
      log(`random-init teacher: AUROC ${randomInit.auroc.toFixed(3)}`);
    }

    let run = { steps: 0, imagesSeen: 0, wallMs: 0, trainMs: 0 };
    if (o.budget.images !== undefined || o.budget.steps !== undefined || o.budget.minutes !== undefined) {
      run = await runStreamTraining({ ...o, service, images: streamed, frameSize: size });
    }
    const scores = await teacherScores(trainer.teacher.backbone);
    const teacher = noveltyMetrics(scores, heldOut);
    log(`teacher after ${run.imagesSeen} images seen: AUROC ${teacher.auroc.toFixed(3)}`);
    return {
      data: o.data,
      model: et.checkpointFile ? `checkpoint ${et.checkpointFile}` : o.model,
      recipe: et.checkpointFile ? CHECKPOINT_RECIPE : o.recipe,
      backend: et.info.detail,
      holdout: [...held].sort((a, b) => a - b).map((c) => folder.classes[c]!),
      streamed_classes: folder.classes.filter((_, c) => !held.has(c)),
      k,
      readout,
      score,
      bank_size: streamed.length,
      test_images: test.images.length,
      positives,
      negatives: heldOut.length - positives,
      raw_pixels: raw,
      random_init: randomInit,
      teacher,
      auroc: teacher.auroc,
      fpr95: teacher.fpr95,
      images_seen: run.imagesSeen,
      steps: run.steps,
      wall_s: (Date.now() - t0) / 1000,
      train_s: run.trainMs / 1000,
      scores: { heldOut, raw_pixels: rawScores, random_init: randomScores, teacher: scores },
    };
  } finally {
    service.dispose();
  }
}
