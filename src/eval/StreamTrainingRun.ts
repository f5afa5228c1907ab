import { Subject } from 'rxjs';
import { ReplayBuffer } from '../../streams/ReplayBuffer';
import type { EvalTraining } from './evalTrainer';
import { trainingLoop } from '../../streams/operators/trainingLoop';
import type { Frame } from '../../streams/Frame';
import { Random } from '../util/Random';
import type { TrainerService } from '../train/TrainerService';
import type { StepResult } from '../train/Trainer';

export interface Budget {
  /** Images through training steps (steps x batch), the unit of the DINO paper's "images seen". */
  images?: number;
  steps?: number;
  minutes?: number;
}

/** The schedules' horizon for a budget: its steps (a wall-clock budget alone is set from the first steps' speed). */
export function horizonSteps(budget: Budget, batchSize: number): number {
  const images = budget.images ?? (budget.steps !== undefined ? budget.steps * batchSize : undefined);
  return Math.ceil((images ?? 1e9) / batchSize);
}

export interface StreamTrainingOptions extends Pick<EvalTraining, 'batchSize' | 'bufferSize' | 'bufferPolicy' | 'seed'> {
  service: TrainerService;
  /** Unlabelled training images (frameSize x frameSize RGB), streamed in random order, reshuffled each pass. */
  images: readonly Uint8Array[];
  frameSize: number;
  budget: Budget;
  /** Called after the step that crosses each of these images-seen marks (e.g. to evaluate mid-run). */
  marks?: number[];
  onMark?: (imagesSeen: number, steps: number, trainMs: number) => Promise<void>;
  onStep?: (r: StepResult, imagesSeen: number) => void;
  /** Progress lines, at most every 30 s. */
  log?: (msg: string) => void;
}

export interface StreamTrainingResult {
  steps: number;
  imagesSeen: number;
  wallMs: number;
  /** Wall time spent in training steps only (marks excluded). */
  trainMs: number;
}

/**
 * Trains through the live pipeline (replay buffer -> multi-crop -> trainer) on an image set streamed as an
 * unlabelled feed: B new images enter the stream per step (one step per batch of new frames, as one pass of
 * i.i.d. training would use them), the buffer de-correlates, the step samples from the buffer.
 */
export async function runStreamTraining(o: StreamTrainingOptions): Promise<StreamTrainingResult> {
  const rng = new Random(o.seed);
  const frames$ = new Subject<Frame>();
  let order: number[] = [];
  let cursor = 0;
  let index = 0;
  const push = (n: number) => {
    for (let k = 0; k < n; k++) {
      if (cursor >= order.length) {
        order = rng.shuffle(Array.from({ length: o.images.length }, (_, i) => i));
        cursor = 0;
      }
      const rgb = o.images[order[cursor++]!]!;
      frames$.next({ streamId: 'eval', t: Date.now(), index: index++, width: o.frameSize, height: o.frameSize, rgb });
    }
  };
  // seeded, so that a run is repeatable for its seed (an unseeded reservoir made runs of one seed differ)
  const buffer = new ReplayBuffer({ capacity: o.bufferSize, policy: o.bufferPolicy, width: o.frameSize, height: o.frameSize, rng: new Random(o.seed + 11) });
  const marks = [...(o.marks ?? [])].sort((a, b) => a - b);
  const t0 = Date.now();
  let trainMs = 0;
  let steps = 0;
  let imagesSeen = 0;
  let lastLog = Date.now();
  // a wall-clock budget alone: set the schedules' horizon from the speed of the first steps
  let calibrated = o.budget.minutes === undefined || o.budget.images !== undefined || o.budget.steps !== undefined;
  const done = () =>
    (o.budget.images !== undefined && imagesSeen >= o.budget.images) ||
    (o.budget.steps !== undefined && steps >= o.budget.steps) ||
    (o.budget.minutes !== undefined && trainMs >= o.budget.minutes * 60_000);

  await new Promise<void>((resolve, reject) => {
    const step = async (frames: Frame[]): Promise<StepResult> => {
      const s0 = Date.now();
      const r = await o.service.trainStep(frames);
      trainMs += Date.now() - s0;
      steps += 1;
      imagesSeen += frames.length;
      if (!calibrated && steps === 6) {
        calibrated = true;
        o.service.frameTrainer.trainer.setHorizon(Math.ceil((o.budget.minutes! * 60_000) / r.ms));
      }
      if (o.log && Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        o.log(`step ${r.step + 1}, ${imagesSeen} images seen, loss ${r.loss.toFixed(3)}, entropy ${r.teacherEntropy.toFixed(2)}, std ${r.embeddingStd.toFixed(3)}, ${r.ms.toFixed(0)} ms/step`);
      }
      o.onStep?.(r, imagesSeen);
      while (marks.length && imagesSeen >= marks[0]!) {
        marks.shift();
        await o.onMark?.(imagesSeen, steps, trainMs);
      }
      return r;
    };
    const sub = frames$
      .pipe(trainingLoop({ buffer, batchSize: o.batchSize, updatesPerFrame: 1 / o.batchSize, rng: new Random(o.seed + 7), runner: { step } }))
      .subscribe({
        next: () => {
          if (done()) {
            sub.unsubscribe();
            frames$.complete();
            resolve();
          } else {
            push(o.batchSize);
          }
        },
        error: reject,
      });
    push(Math.max(o.batchSize, Math.min(o.bufferSize, 4 * o.batchSize)));
  });
  return { steps, imagesSeen, wallMs: Date.now() - t0, trainMs };
}
