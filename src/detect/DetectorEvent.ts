/**
 * The one event shape every detector emits, so publishers (ws, dashboard, /metrics) can handle them alike
 * without knowing the detector. `t` is the caller's clock (frame time in ms, or an update index when the
 * caller gives none); `index` is always the detector's own update count, to measure delays in samples.
 */
export type DetectorEventType = 'novelty' | 'drift' | 'collapse';

interface BaseEvent {
  type: DetectorEventType;
  streamId?: string;
  t: number;
}

export interface NoveltyEvent extends BaseEvent {
  type: 'novelty';
  /** Cosine distance to the k-th nearest neighbour in the bank. */
  score: number;
  /** Empirical CDF of `score` among recent scores, in [0, 1]. */
  calibrated: number;
  threshold: number;
  teacherStep?: number;
  index: number;
}

export interface DriftEvent extends BaseEvent {
  type: 'drift';
  /** Which test fired: the MMD two-sample test on embeddings, or a scalar detector on novelty scores. */
  method: 'mmd' | 'page-hinkley' | 'adwin';
  /** MMD^2 (unbiased) for 'mmd'; the Page-Hinkley cumulative statistic for 'page-hinkley'. */
  statistic: number;
  pValue?: number;
  /** alpha for 'mmd' (event when pValue < alpha), lambda for 'page-hinkley'. */
  threshold: number;
  refSize?: number;
  recentSize?: number;
  /** MMD^2 the reference reaches against its own blocks (scene-relative threshold = margin x this). */
  withinStatistic?: number;
  index: number;
}

export type CollapseReason = 'uniform-loss' | 'low-std' | 'one-hot-entropy' | 'uniform-entropy' | 'non-finite';

export interface CollapseEvent extends BaseEvent {
  type: 'collapse';
  /** True while any collapse reason is active; the event marks a change of the active set. */
  active: boolean;
  reasons: CollapseReason[];
  raised: CollapseReason[];
  cleared: CollapseReason[];
  step?: number;
  /** Human-readable explanation with the monitored values, for logs and the dashboard. */
  message: string;
}

export type DetectorEvent = NoveltyEvent | DriftEvent | CollapseEvent;
