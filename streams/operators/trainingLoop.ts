import { Observable, type OperatorFunction } from 'rxjs';
import { Frame } from '../Frame';
import { ReplayBuffer } from '../ReplayBuffer';
import { DropCounter } from '../DropCounter';
import { Random } from '../../src/util/Random';

/** The training engine as the loop sees it: one async step on a batch of same-size frames, reporting `S`. */
export interface StepRunner<S> {
  step(frames: Frame[]): Promise<S>;
}

export interface TrainingLoopOptions<S> {
  buffer: ReplayBuffer;
  runner: StepRunner<S>;
  batchSize: number;
  /**
   * Optimisation steps per frame offered to the buffer: 0.1 = one step per 10 new frames, 2 = two per frame.
   * Credit that the trainer cannot keep up with is not hoarded (at most max(1, updatesPerFrame) steps are owed),
   * so a burst of frames never turns into a backlog of steps. Default 1.
   */
  updatesPerFrame?: number;
  /** No step before the buffer holds this many frames; credit only accrues from then on. Default batchSize. */
  minBufferSize?: number;
  rng?: Random;
  /** Drops counted upstream (fairMix) to report alongside the buffer's rejections. */
  upstreamDrops?: DropCounter;
  /**
   * What to do when runner.step fails: the delay in ms before the next attempt (on a freshly sampled batch), or
   * null to give up (the stream errors with that error), or throw (the stream errors with what it threw).
   * `consecutive` counts the failures since the last step that succeeded, this one included. Without it, the
   * first failure errors the stream.
   */
  onStepError?: (err: unknown, consecutive: number) => number | null;
  now?: () => number;
  /** Streams to forget: their frames leave the buffer and their counts the stats. */
  forget$?: Observable<string>;
}

export interface TrainingLoopStats<S> {
  /** What the runner returned (the trainer's StepResult in the agent). */
  stats: S;
  /** Duration of runner.step for this batch. */
  stepMs: number;
  /** batchSize / stepMs: the engine's speed. */
  imagesPerSec: number;
  /** batchSize / time since the previous step finished: what training actually achieves, waiting included. */
  effectiveImagesPerSec: number;
  batchSize: number;
  bufferSize: number;
  /** Frames offered to the loop per stream, since start. */
  received: Record<string, number>;
  /** Frames per stream that never reached the buffer: rejected by it, or dropped upstream. Since start. */
  dropped: Record<string, number>;
  /** Steps started so far by this loop. */
  steps: number;
}

/**
 * Online training, as an operator from all streams' frames (mixed upstream) to per-step stats. Frames go into the replay buffer as they arrive (a cheap
 * synchronous add: ingest never waits for training). When the previous step has finished and enough frames have
 * arrived since (updatesPerFrame), a batch is sampled and runner.step runs; never two at once.
 * Unsubscribing stops ingest and starts no further step; a step in flight runs to its end inside the runner but
 * its result is discarded. Completes after frames$ completes and the owed steps are done. A runner error errors
 * the stream, unless onStepError asks for another attempt: the failed step's credit is given back and the next
 * attempt waits for the delay it returned.
 */
/** Resolves a step that was never started because the loop was unsubscribed first. */
const STOPPED: unique symbol = Symbol('stopped');

export function trainingLoop<S>(o: TrainingLoopOptions<S>): OperatorFunction<Frame, TrainingLoopStats<S>> {
  const upf = o.updatesPerFrame ?? 1;
  if (!(upf > 0)) throw new Error('trainingLoop: updatesPerFrame must be > 0');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error('trainingLoop: batchSize must be an integer >= 1');
  const minBuffer = Math.min(o.buffer.capacity, o.minBufferSize ?? o.batchSize);
  const maxCredit = Math.max(1, upf);
  const EPS = 1e-9; // 10 x 0.1 must make a whole step
  const now = o.now ?? (() => performance.now());
  const rng = o.rng ?? new Random();

  return (frames$) =>
    new Observable<TrainingLoopStats<S>>((subscriber) => {
    const received: Record<string, number> = {};
    const rejected: Record<string, number> = {};
    let credit = 0;
    let running = false;
    let stopped = false;
    let framesDone = false;
    let steps = 0;
    let lastStepEnd = now();
    let failures = 0;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;

    const dropped = (): Record<string, number> => {
      const up = o.upstreamDrops?.snapshot() ?? {};
      const out: Record<string, number> = {};
      for (const k of new Set([...Object.keys(received), ...Object.keys(up)])) out[k] = (rejected[k] ?? 0) + (up[k] ?? 0);
      return out;
    };

    const finishIfDone = () => {
      if (framesDone && !running && retryTimer === undefined && (credit < 1 - EPS || o.buffer.size < minBuffer)) subscriber.complete();
    };

    const maybeStep = () => {
      if (running || stopped || retryTimer !== undefined || credit < 1 - EPS || o.buffer.size < minBuffer) return;
      credit -= 1;
      running = true;
      steps++;
      const batch = o.buffer.sample(o.batchSize, rng);
      const t0 = now();
      // Always asynchronous, even for a runner that returns synchronously: keeps ingest and steps interleaved.
      Promise.resolve()
        .then<S | typeof STOPPED>(() => (stopped ? STOPPED : o.runner.step(batch)))
        .then(
          (stats) => {
            running = false;
            if (stopped || stats === STOPPED) return;
            failures = 0;
            const t1 = now();
            const stepMs = Math.max(1e-3, t1 - t0);
            const sinceLast = Math.max(1e-3, t1 - lastStepEnd);
            lastStepEnd = t1;
            subscriber.next({
              stats,
              stepMs,
              imagesPerSec: (batch.length * 1000) / stepMs,
              effectiveImagesPerSec: (batch.length * 1000) / sinceLast,
              batchSize: batch.length,
              bufferSize: o.buffer.size,
              received: { ...received },
              dropped: dropped(),
              steps,
            });
            maybeStep();
            finishIfDone();
          },
          (err) => {
            running = false;
            if (stopped) return;
            failures++;
            let delay: number | null;
            try {
              delay = o.onStepError ? o.onStepError(err, failures) : null;
            } catch (e) {
              subscriber.error(e);
              return;
            }
            if (delay === null) {
              subscriber.error(err);
              return;
            }
            credit = Math.min(maxCredit, credit + 1);
            retryTimer = setTimeout(() => {
              retryTimer = undefined;
              maybeStep();
              finishIfDone();
            }, delay);
          },
        );
    };

    const forgetting = o.forget$?.subscribe((id) => {
      o.buffer.remove(id);
      delete received[id];
      delete rejected[id];
    });
    const sub = frames$.subscribe({
      next: (f) => {
        received[f.streamId] = (received[f.streamId] ?? 0) + 1;
        if (!o.buffer.add(f).added) rejected[f.streamId] = (rejected[f.streamId] ?? 0) + 1;
        if (o.buffer.size >= minBuffer) credit = Math.min(maxCredit, credit + upf);
        maybeStep();
      },
      error: (e) => subscriber.error(e),
      complete: () => {
        framesDone = true;
        finishIfDone();
      },
    });

    return () => {
      stopped = true;
      clearTimeout(retryTimer);
      sub.unsubscribe();
      forgetting?.unsubscribe();
    };
  });
}
