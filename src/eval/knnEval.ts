import { CHECKPOINT_RECIPE, openEvalTrainer, type EvalTraining } from './evalTrainer';
import type { ReplayPolicy } from '../types/ReplayPolicy';
import type { VisionTransformer } from '../model/VisionTransformer';
import { ImageFolder, type LoadedImages } from '../probe/ImageFolder';
import { KnnClassifier } from '../probe/KnnClassifier';
import { backboneFeatures, pixelFeatures } from './featureExtraction';
import type { Readout } from '../model/Embedder';
import { horizonSteps, runStreamTraining, type Budget } from './StreamTrainingRun';

export interface KnnEvalOptions extends EvalTraining {
  data: string;
  budget: Budget;
  /** Extra evaluations at these images-seen marks during the run. */
  marks?: number[];
  /** Save the trained agent here at every evaluation (each mark and the end): ckpt-<run>-<step>.dino files. */
  saveDir?: string;
  /** Also score each train image against the rest of the train bank (leave-one-out), for every feature set. */
  trainLeaveOneOut?: boolean;
  k?: number;
  temperature?: number;
  /** The model's feature: its CLS (default, the DINO feature) or the CLS beside its mean patch token. */
  readout?: Readout;
}

export interface Accuracy {
  top1: number;
  top5: number;
  /** Leave-one-out top-1 on the train images (with --train-loo): far above top1, the features fit the streamed images. */
  train_loo_top1?: number;
}

export interface KnnPoint {
  images_seen: number;
  steps: number;
  train_s: number;
  teacher: Accuracy;
  student: Accuracy;
}

export interface KnnEvalReport {
  data: string;
  model: string;
  recipe: string;
  backend: string;
  readout: Readout;
  /** The replay buffer the stream went through (the policy decides how evenly the images are drawn). */
  buffer: { size: number; policy: ReplayPolicy };
  train_images: number;
  test_images: number;
  raw_pixels: Accuracy;
  /** The teacher before any training: a random initialisation, or the --init weights (then `init` names the file). */
  random_init: Accuracy;
  init?: string;
  teacher: Accuracy;
  student: Accuracy;
  images_seen: number;
  steps: number;
  wall_s: number;
  train_s: number;
  images_per_s: number;
  /** Evaluations along the run (the --eval-at marks), the final one included. */
  curve: KnnPoint[];
}

const pct = (a: { top1: number; top5: number }): Accuracy => ({ top1: 100 * a.top1, top5: 100 * a.top5 });

export interface KnnSettings {
  k: number;
  temperature: number;
  trainLeaveOneOut: boolean;
  readout: Readout;
}

/** k-NN top-1/top-5 (official eval_knn.py: cosine on L2-normalised CLS, k=20, weights exp(sim/0.07)). */
export async function knnAccuracy(backbone: VisionTransformer, train: LoadedImages, test: LoadedImages, size: number, numClasses: number, s: KnnSettings): Promise<Accuracy> {
  const features = (images: readonly Uint8Array[]) => backboneFeatures(backbone, images, size, { readout: s.readout });
  return await knnOn(await features(train.images), await features(test.images), train, test, numClasses, s);
}

/** Test features classified by their k nearest train features (and, when asked, each train feature by the others). */
async function knnOn(bank: Float32Array[], queries: Float32Array[], train: LoadedImages, test: LoadedImages, numClasses: number, s: KnnSettings): Promise<Accuracy> {
  const knn = new KnnClassifier(bank, train.labels, numClasses, { k: s.k, temperature: s.temperature });
  const acc = pct(await knn.evaluate(queries, test.labels));
  return s.trainLeaveOneOut ? { ...acc, train_loo_top1: 100 * (await knn.leaveOneOut()).top1 } : acc;
}

/**
 * `dino-stream eval knn`: raw-pixel and random-init baselines, then the DINO pipeline trained on DIR/train as an
 * unlabelled stream within the budget, then k-NN of teacher and student on DIR/test with DIR/train as the bank.
 */
export async function knnEval(o: KnnEvalOptions): Promise<KnnEvalReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const folder = ImageFolder.open(o.data);
  const { service, info, size, checkpointFile } = await openEvalTrainer({ ...o, horizonSteps: horizonSteps(o.budget, o.batchSize) });
  try {
    const numClasses = folder.classes.length;
    log(`loading ${o.data} at ${size}x${size}`);
    const train = await folder.load('train', { size });
    const test = await folder.load('test', { size });
    const settings: KnnSettings = { k: o.k ?? 20, temperature: o.temperature ?? 0.07, trainLeaveOneOut: o.trainLeaveOneOut ?? false, readout: o.readout ?? 'cls' };
    const raw = await knnOn(await pixelFeatures(train.images, size), await pixelFeatures(test.images, size), train, test, numClasses, settings);
    log(`raw pixels: top-1 ${raw.top1.toFixed(2)}`);

    const trainer = service.frameTrainer.trainer;
    const randomInit = checkpointFile ? { top1: NaN, top5: NaN } : await knnAccuracy(trainer.teacher.backbone, train, test, size, numClasses, settings);
    if (!checkpointFile) log(`${o.init ? 'init weights' : 'random-init'} teacher: top-1 ${randomInit.top1.toFixed(2)}`);
    const curve: KnnPoint[] = [];
    const evaluate = async (imagesSeen: number, steps: number, trainS: number) => {
      const teacher = await knnAccuracy(trainer.teacher.backbone, train, test, size, numClasses, settings);
      const student = await knnAccuracy(trainer.student.backbone, train, test, size, numClasses, settings);
      curve.push({ images_seen: imagesSeen, steps, train_s: trainS, teacher, student });
      const looNote = settings.trainLeaveOneOut ? ` (train leave-one-out ${teacher.train_loo_top1!.toFixed(2)}, ${student.train_loo_top1!.toFixed(2)})` : '';
      log(`images seen ${imagesSeen} (step ${steps}): teacher top-1 ${teacher.top1.toFixed(2)}, student ${student.top1.toFixed(2)}${looNote}`);
      if (o.saveDir) log(`saved ${await service.checkpoint()}`);
    };
    const hasBudget = o.budget.images !== undefined || o.budget.steps !== undefined || o.budget.minutes !== undefined;
    let run = { steps: 0, imagesSeen: 0, wallMs: 0, trainMs: 0 };
    if (hasBudget) {
      run = await runStreamTraining({ ...o, service, images: train.images, frameSize: size, onMark: (seen, steps, ms) => evaluate(seen, steps, ms / 1000) });
    }
    if (curve.length === 0 || curve[curve.length - 1]!.images_seen !== run.imagesSeen) await evaluate(run.imagesSeen, run.steps, run.trainMs / 1000);
    const last = curve[curve.length - 1]!;
    return {
      data: o.data,
      model: checkpointFile ? `checkpoint ${checkpointFile}` : o.model,
      recipe: checkpointFile ? CHECKPOINT_RECIPE : o.recipe,
      backend: info.detail,
      readout: settings.readout,
      buffer: { size: o.bufferSize, policy: o.bufferPolicy },
      train_images: train.images.length,
      test_images: test.images.length,
      raw_pixels: raw,
      random_init: randomInit,
      ...(o.init ? { init: o.init } : {}),
      teacher: last.teacher,
      student: last.student,
      images_seen: run.imagesSeen,
      steps: run.steps,
      wall_s: (Date.now() - t0) / 1000,
      train_s: run.trainMs / 1000,
      images_per_s: run.trainMs > 0 ? (run.imagesSeen * 1000) / run.trainMs : 0,
      curve,
    };
  } finally {
    service.dispose();
  }
}
