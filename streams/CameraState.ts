import type { CameraStateName } from '../src/types/CameraStateName';

export type { CameraStateName };

/** One state change of a live source (see CameraStateName). */
export interface CameraState {
  readonly streamId: string;
  readonly state: CameraStateName;
  /** Milliseconds since the Unix epoch. */
  readonly t: number;
  /** Human-readable reason (exit code, last stderr line, back-off delay). */
  readonly detail: string;
}

/** Exponential back-off with a cap: attempt 1 waits initialMs, each further attempt multiplies by factor. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2 };

export function backoffDelay(attempt: number, b: BackoffOptions): number {
  return Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, attempt - 1)));
}
