import { MMDDriftDetector } from './MMDDriftDetector';
import { NoveltyDetector } from './NoveltyDetector';
import { NoveltyEventRules } from './NoveltyEventRules';
import type { AgentConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';

export type DetectSettings = AgentConfig['detect'];

/** The agent's drift detector for one stream, from the `detect` settings (also used by `eval drift`). */
export function createDriftDetector(d: DetectSettings, streamId: string): MMDDriftDetector<Frame> {
  return new MMDDriftDetector<Frame>({
    refSize: d.driftWindow,
    recentSize: d.driftRecentWindow,
    testEvery: d.driftTestEvery,
    alpha: d.driftAlpha,
    nPermutations: d.driftPermutations,
    minStatistic: d.driftMinStatistic,
    withinReference: d.driftMargin > 0,
    margin: d.driftMargin,
    // The reference (driftWindow) outnumbers the recent window 4:1: a pooled median would keep the kernel at the
    // reference's own scale and cap the statistic of a far-away scene (measured: tree -> vtest was missed).
    bandwidth: 'cross',
    streamId,
  });
}

/** The agent's novelty detector for one stream. */
export function createNoveltyDetector(d: DetectSettings, streamId: string): NoveltyDetector<Frame> {
  return new NoveltyDetector<Frame>({
    k: d.noveltyK,
    capacity: d.noveltyBank,
    calibrationWindow: d.noveltyBank,
    threshold: d.noveltyThreshold,
    streamId,
  });
}

/** The rules a stream's novelty events pass besides the percentile (warm-up, margin, cooldown). */
export function createNoveltyRules(d: DetectSettings): NoveltyEventRules {
  return new NoveltyEventRules({ warmupMs: d.noveltyWarmupSec * 1000, margin: d.noveltyMargin, cooldownMs: d.noveltyCooldownSec * 1000 });
}
