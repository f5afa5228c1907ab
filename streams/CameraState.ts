/**
 * Connection state of one live source, published on the source's state$.
 * connecting: process spawned, no frame yet; live: frames flowing; stalled: watchdog saw no frame for too long
 * (the process is being killed); reconnecting: waiting out the back-off before the next attempt;
 * failed: gave up after the configured number of attempts (terminal); ended: a finite input finished (terminal).
 */
export type CameraStateName = 'connecting' | 'live' | 'stalled' | 'reconnecting' | 'failed' | 'ended';

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
