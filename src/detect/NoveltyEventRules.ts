import type { NoveltyResult } from './NoveltyDetector';

export interface NoveltyEventRulesOptions {
  /** No event in a stream's first warmupMs (its bank, calibration and teacher all start from nothing). */
  warmupMs: number;
  /**
   * A novel frame's score must exceed the score at the threshold's percentile by this fraction of that score (3: at
   * least four times it). A percentile alone fires on a fixed share of frames even when nothing changes; a margin in
   * the score's own units does not carry over between teachers (training shrinks a still scene's scores ~15x).
   * Relative to the stream's own tail, the rule reads the same for any teacher and scene. The tail (not a multiple
   * of the median) is the scale because it is where a still scene's false events come from; were it exponential,
   * twice the 99.5th percentile's score would already leave 1 frame in 40,000, but a moving scene's rare moments
   * (shapes meeting) reach twice it, and scene changes measured 33-490 times it: four times leaves room both ways.
   */
  margin: number;
  /** No event within cooldownMs after the stream's previous one (one change, one event). */
  cooldownMs: number;
}

/** Below float32's resolution of a cosine distance a score is rounding, not a scene (a window of identical frames). */
const SCORE_RESOLUTION = 1e-6;

/** The score the margin is relative to: the threshold percentile's score, at least the score's resolution. */
export function noveltyRatioBase(r: Pick<NoveltyResult, 'thresholdScore'>): number {
  return r.thresholdScore === undefined ? -Infinity : Math.max(r.thresholdScore, SCORE_RESOLUTION);
}

/** Why a frame the detector flagged was not published. */
export type NoveltySuppression = 'warmup' | 'margin' | 'cooldown';

/**
 * What a person expects of novelty events, on top of NoveltyDetector's percentile: nothing while the stream warms
 * up, nothing that is only a percentile (a margin relative to the stream's own scores), and at most one event per
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
    if (!(r.score >= noveltyRatioBase(r) * (1 + this.o.margin))) return { publish: false, suppressed: 'margin' };
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
