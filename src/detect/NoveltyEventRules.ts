import type { NoveltyResult } from './NoveltyDetector';

export interface NoveltyEventRulesOptions {
  /** No event in a stream's first warmupMs (its bank, calibration and teacher all start from nothing). */
  warmupMs: number;
  /**
   * A novel frame's score must exceed the score at the threshold's percentile by at least this much (cosine
   * distance): a percentile alone fires on a fixed share of frames even when nothing changes, at any scale of
   * scores (a still scene under a random teacher scores ~0.002).
   */
  margin: number;
  /** No event within cooldownMs after the stream's previous one (one change, one event). */
  cooldownMs: number;
}

/** Why a frame the detector flagged was not published. */
export type NoveltySuppression = 'warmup' | 'margin' | 'cooldown';

/**
 * What a person expects of novelty events, on top of NoveltyDetector's percentile: nothing while the stream warms
 * up, nothing that is only a percentile (an absolute margin in the score's own units), and at most one event per
 * cooldown. One instance per stream; times are the caller's clock in ms (frame times).
 */
export class NoveltyEventRules {
  private start: number | undefined;
  private lastEvent = -Infinity;

  constructor(readonly o: NoveltyEventRulesOptions) {
    for (const k of ['warmupMs', 'margin', 'cooldownMs'] as const) {
      if (!(o[k] >= 0)) throw new Error(`NoveltyEventRules: ${k} must be >= 0, got ${o[k]}`);
    }
  }

  /** Decides on one scored frame at time t: publish it, or why not (undefined: the detector did not flag it). */
  admit(r: NoveltyResult, t: number): { publish: boolean; suppressed?: NoveltySuppression } {
    this.start ??= t;
    if (!r.isNovel) return { publish: false };
    if (t - this.start < this.o.warmupMs) return { publish: false, suppressed: 'warmup' };
    if (!(r.score >= (r.thresholdScore ?? -Infinity) + this.o.margin)) return { publish: false, suppressed: 'margin' };
    if (t - this.lastEvent < this.o.cooldownMs) return { publish: false, suppressed: 'cooldown' };
    this.lastEvent = t;
    return { publish: true };
  }

  /** Starts over (the stream restarted). */
  reset(): void {
    this.start = undefined;
    this.lastEvent = -Infinity;
  }
}
