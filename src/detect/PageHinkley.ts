/**
 * Page-Hinkley change detector on a scalar stream (e.g. the novelty scores of one stream), with River's
 * semantics (river.drift.PageHinkley, two-sided since River 0.15):
 *   mean_t   = running mean of all values since the last reset
 *   up_t     = alpha * up_{t-1}   + (x_t - mean_t) - delta      test_up   = up_t - min(up)
 *   down_t   = alpha * down_{t-1} + (x_t - mean_t) + delta      test_down = max(down) - down_t
 *   drift when n >= minInstances and test > threshold (lambda), for mode 'up', 'down' or 'both';
 *   the update after a detection starts from a fresh state.
 * River initialises max(down) to -1, not -Infinity; kept so results match River value for value
 * (its documented example detects at index 1006, which the test reproduces).
 * `delta` is the magnitude of change tolerated, `threshold` trades delay for false alarms, and
 * `alpha` < 1 slowly forgets old deviations.
 */
import type { DriftEvent } from './DetectorEvent';

export type PageHinkleyMode = 'up' | 'down' | 'both';

export interface PageHinkleyOptions {
  /** Values needed since the last reset before a drift can be flagged (default 30). */
  minInstances?: number;
  /** Tolerated deviation from the mean (default 0.005). */
  delta?: number;
  /** Detection threshold lambda (default 50). */
  threshold?: number;
  /** Forgetting factor of the cumulative sums (default 1 - 1e-4). */
  alpha?: number;
  /** Which direction of change to detect (default 'both'). */
  mode?: PageHinkleyMode;
  streamId?: string;
}

export interface PageHinkleyResult {
  drift: boolean;
  /** The larger of the enabled test statistics. */
  statistic: number;
  testIncrease: number;
  testDecrease: number;
  /** Running mean since the last reset, and its count. */
  mean: number;
  n: number;
  event?: DriftEvent;
}

export class PageHinkley {
  readonly minInstances: number;
  readonly delta: number;
  readonly threshold: number;
  readonly alpha: number;
  readonly mode: PageHinkleyMode;
  readonly streamId?: string;

  private n = 0;
  private mean = 0;
  private sumIncrease = 0;
  private sumDecrease = 0;
  private minIncrease = Infinity;
  private maxDecrease = -1;
  private detected = false;
  private updates = 0;

  constructor(opts: PageHinkleyOptions = {}) {
    this.minInstances = opts.minInstances ?? 30;
    this.delta = opts.delta ?? 0.005;
    this.threshold = opts.threshold ?? 50;
    this.alpha = opts.alpha ?? 1 - 0.0001;
    this.mode = opts.mode ?? 'both';
    this.streamId = opts.streamId;
  }

  get driftDetected(): boolean {
    return this.detected;
  }

  update(x: number, opts: { t?: number } = {}): PageHinkleyResult {
    const index = this.updates++;
    if (this.detected) this.reset();
    this.n++;
    this.mean += (x - this.mean) / this.n;
    const dev = x - this.mean;
    this.sumIncrease = this.alpha * this.sumIncrease + dev - this.delta;
    this.sumDecrease = this.alpha * this.sumDecrease + dev + this.delta;
    if (this.sumIncrease < this.minIncrease) this.minIncrease = this.sumIncrease;
    if (this.sumDecrease > this.maxDecrease) this.maxDecrease = this.sumDecrease;

    const testIncrease = this.sumIncrease - this.minIncrease;
    const testDecrease = this.maxDecrease - this.sumDecrease;
    const up = this.mode !== 'down' ? testIncrease : -Infinity;
    const down = this.mode !== 'up' ? testDecrease : -Infinity;
    const statistic = Math.max(up, down);
    if (this.n >= this.minInstances) this.detected = statistic > this.threshold;

    const result: PageHinkleyResult = {
      drift: this.detected,
      statistic,
      testIncrease,
      testDecrease,
      mean: this.mean,
      n: this.n,
    };
    if (this.detected) {
      result.event = {
        type: 'drift',
        method: 'page-hinkley',
        streamId: this.streamId,
        t: opts.t ?? index,
        statistic,
        threshold: this.threshold,
        index,
      };
    }
    return result;
  }

  reset(): void {
    this.n = 0;
    this.mean = 0;
    this.sumIncrease = 0;
    this.sumDecrease = 0;
    this.minIncrease = Infinity;
    this.maxDecrease = -1;
    this.detected = false;
  }
}
