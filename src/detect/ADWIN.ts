/**
 * ADWIN (Bifet & Gavalda, 2007) on a scalar stream, ported from River's river.drift.ADWIN so that results
 * match River value for value (its documented example detects at index 1023; the test reproduces it).
 * The window is kept as an exponential histogram: row r holds up to maxBuckets + 1 buckets of 2^r values
 * (total and variance each); when a row overflows its two oldest buckets merge into the next row.
 * Every `clock` updates, once the window exceeds `gracePeriod`, every cut of the window into an older
 * part W0 and a newer part W1 is tested: |mean(W0) - mean(W1)| > eps_cut (Hoeffding/Bernstein bound with
 * confidence `delta`) drops the oldest bucket and tests again. A detection is reported on that update and,
 * as in River, the detector starts from scratch on the next one.
 * River's quirks are kept on purpose: the newest bucket of each row is not used as a cut point, and cuts
 * need both parts to hold at least `minWindowLength` values.
 */
import type { DriftEvent } from './DetectorEvent';

export interface ADWINOptions {
  /** Confidence: smaller means fewer false alarms and later detections (default 0.002). */
  delta?: number;
  /** Test for cuts every this many updates (default 32). */
  clock?: number;
  /** Buckets per histogram row before merging (default 5). */
  maxBuckets?: number;
  /** Minimum values on each side of a cut (default 5). */
  minWindowLength?: number;
  /** No test until the window holds more than this many values (default 10). */
  gracePeriod?: number;
  streamId?: string;
}

export interface ADWINResult {
  drift: boolean;
  /** Current window length and mean. */
  width: number;
  estimation: number;
  event?: DriftEvent;
}

/** One histogram row: buckets oldest first. */
interface Row {
  total: number[];
  variance: number[];
}

export class ADWIN {
  readonly delta: number;
  readonly clock: number;
  readonly maxBuckets: number;
  readonly minWindowLength: number;
  readonly gracePeriod: number;
  readonly streamId?: string;

  private rows: Row[] = [];
  private total = 0;
  private variance = 0;
  private width = 0;
  private tick = 0;
  private detected = false;
  private updates = 0;

  constructor(opts: ADWINOptions = {}) {
    this.delta = opts.delta ?? 0.002;
    this.clock = opts.clock ?? 32;
    this.maxBuckets = opts.maxBuckets ?? 5;
    this.minWindowLength = opts.minWindowLength ?? 5;
    this.gracePeriod = opts.gracePeriod ?? 10;
    this.streamId = opts.streamId;
    this.reset();
  }

  get driftDetected(): boolean {
    return this.detected;
  }

  update(x: number, opts: { t?: number } = {}): ADWINResult {
    const index = this.updates++;
    if (this.detected) this.reset();
    this.insert(x);
    this.detected = this.detectChange();
    const result: ADWINResult = { drift: this.detected, width: this.width, estimation: this.width ? this.total / this.width : 0 };
    if (this.detected) {
      result.event = {
        type: 'drift',
        method: 'adwin',
        streamId: this.streamId,
        t: opts.t ?? index,
        statistic: result.estimation,
        threshold: this.delta,
        index,
      };
    }
    return result;
  }

  reset(): void {
    this.rows = [{ total: [], variance: [] }];
    this.total = 0;
    this.variance = 0;
    this.width = 0;
    this.tick = 0;
    this.detected = false;
  }

  private insert(x: number): void {
    const row0 = this.rows[0]!;
    row0.total.push(x);
    row0.variance.push(0);
    this.width++;
    if (this.width > 1) {
      const mean = this.total / (this.width - 1);
      this.variance += ((this.width - 1) * (x - mean) * (x - mean)) / this.width;
    }
    this.total += x;
    this.compress();
  }

  /** Merges the two oldest buckets of any row that overflowed into the next row (2^r values each). */
  private compress(): void {
    for (let r = 0; r < this.rows.length; r++) {
      const row = this.rows[r]!;
      if (row.total.length !== this.maxBuckets + 1) break;
      if (r + 1 === this.rows.length) this.rows.push({ total: [], variance: [] });
      const next = this.rows[r + 1]!;
      const n = 2 ** r;
      const mu1 = row.total[0]! / n;
      const mu2 = row.total[1]! / n;
      next.total.push(row.total[0]! + row.total[1]!);
      next.variance.push(row.variance[0]! + row.variance[1]! + (n * n * (mu1 - mu2) * (mu1 - mu2)) / (2 * n));
      row.total.splice(0, 2);
      row.variance.splice(0, 2);
      if (next.total.length <= this.maxBuckets) break;
    }
  }

  /** Drops the oldest bucket; returns how many values it held. */
  private deleteOldest(): number {
    const r = this.rows.length - 1;
    const row = this.rows[r]!;
    const n = 2 ** r;
    const u = row.total[0]!;
    const v = row.variance[0]!;
    const mu = u / n;
    this.width -= n;
    this.total -= u;
    const muWindow = this.total / this.width;
    this.variance -= v + (n * this.width * (mu - muWindow) * (mu - muWindow)) / (n + this.width);
    row.total.shift();
    row.variance.shift();
    if (row.total.length === 0) this.rows.pop();
    return n;
  }

  private detectChange(): boolean {
    let changed = false;
    this.tick++;
    if (this.tick % this.clock !== 0 || this.width <= this.gracePeriod) return false;
    let reduce = true;
    while (reduce) {
      reduce = false;
      let exit = false;
      let n0 = 0;
      let n1 = this.width;
      let u0 = 0;
      let u1 = this.total;
      // Oldest rows first; within a row oldest bucket first; River skips each row's newest bucket.
      for (let r = this.rows.length - 1; r >= 0 && !exit; r--) {
        const row = this.rows[r]!;
        const n2 = 2 ** r;
        for (let k = 0; k < row.total.length - 1; k++) {
          n0 += n2;
          n1 -= n2;
          u0 += row.total[k]!;
          u1 -= row.total[k]!;
          const deltaMean = u0 / n0 - u1 / n1;
          if (n1 >= this.minWindowLength && n0 >= this.minWindowLength && this.cutSignificant(n0, n1, deltaMean)) {
            reduce = true;
            changed = true;
            if (this.width > 0) {
              this.deleteOldest();
              exit = true;
              break;
            }
          }
        }
      }
    }
    return changed;
  }

  private cutSignificant(n0: number, n1: number, deltaMean: number): boolean {
    const deltaPrime = Math.log((2 * Math.log(this.width)) / this.delta);
    const mRecip = 1 / (n0 - this.minWindowLength + 1) + 1 / (n1 - this.minWindowLength + 1);
    const epsilon = Math.sqrt(2 * mRecip * (this.variance / this.width) * deltaPrime) + (2 / 3) * deltaPrime * mRecip;
    return Math.abs(deltaMean) > epsilon;
  }
}
