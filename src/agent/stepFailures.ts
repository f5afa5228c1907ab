import { backoffDelay, type BackoffOptions } from '../../streams/CameraState';
import type { Logger } from '../util/Logger';

/** Training gave up: `consecutive` steps failed in a row. The agent checkpoints and exits non-zero on it. */
export class TrainingFailedError extends Error {
  constructor(readonly consecutive: number, readonly last: unknown) {
    super(`training failed ${consecutive} times in a row; last error: ${last instanceof Error ? last.message : String(last)}`);
    this.name = 'TrainingFailedError';
  }
}

export interface StepFailureOptions {
  /** Failures in a row that end training. */
  max: number;
  log: Logger;
  onFailure: () => void;
  backoff?: BackoffOptions;
}

/** 1 s, doubling to 30 s: long enough for a transient fault (memory, a busy disk) to pass. */
const STEP_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2 };

/**
 * trainingLoop's onStepError for the agent: every failed step is logged and counted; it is retried after an
 * exponential back-off until `max` fail in a row, then it throws a TrainingFailedError (the loop errors with it).
 */
export function stepFailureHandler(o: StepFailureOptions): (err: unknown, consecutive: number) => number {
  return (err, consecutive) => {
    o.onFailure();
    const msg = err instanceof Error ? err.message : String(err);
    if (consecutive >= o.max) {
      o.log.error({ err: msg, consecutive }, `training step failed ${consecutive} times in a row: giving up`);
      throw new TrainingFailedError(consecutive, err);
    }
    const delay = backoffDelay(consecutive, o.backoff ?? STEP_BACKOFF);
    o.log.warn({ err: msg, consecutive, retryInMs: delay }, `training step failed (${consecutive} in a row of at most ${o.max}); retrying in ${delay} ms`);
    return delay;
  };
}
