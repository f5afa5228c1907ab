import type { AgentEvent, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../types/messages';
import type { CameraStateName } from '../types/CameraStateName';

/** What the dashboard shows per stream. Times are the agent's ms since epoch; the snapshot's `t` is "now" to diff against. */
export interface StreamStatus {
  streamId: string;
  /** Last embedded frame. */
  lastFrameT?: number;
  frameIndex?: number;
  teacherStep?: number;
  embeddings: number;
  /** Latest calibrated novelty of an embedded frame, and the highest since the previous snapshot. */
  novelty?: number;
  noveltyMax?: number;
  /** Last novelty event (the score crossed the threshold). */
  lastNoveltyEvent?: { t: number; score: number; calibrated: number; threshold: number };
  /** Last drift event. */
  drift?: { t: number; statistic: number; pValue: number; alpha: number; method: string };
  camera?: { state: CameraStateName; t: number; detail?: string };
  fps?: number;
  dropped?: number;
  frames?: number;
  lastThumbnailT?: number;
}

export interface StatusSnapshot {
  type: 'status';
  t: number;
  streams: StreamStatus[];
  collapse?: { state: 'collapsed' | 'healthy'; reason: string; t: number; step: number };
}

/** Folds the hub's messages into the latest per-stream state; bounded by the number of streams. */
export class StreamStatusBoard {
  private readonly byId = new Map<string, StreamStatus>();
  private collapse?: StatusSnapshot['collapse'];

  constructor(private readonly maxStreams = 256) {}

  private get(id: string): StreamStatus | undefined {
    let s = this.byId.get(id);
    if (!s) {
      if (this.byId.size >= this.maxStreams) return undefined; // a runaway id generator must not grow memory
      s = { streamId: id, embeddings: 0 };
      this.byId.set(id, s);
    }
    return s;
  }

  onEmbedding(m: EmbeddingMessage): void {
    const s = this.get(m.streamId);
    if (!s) return;
    s.embeddings++;
    s.lastFrameT = m.t;
    s.frameIndex = m.frameIndex;
    s.teacherStep = m.teacherStep;
    if (typeof m.novelty === 'number' && Number.isFinite(m.novelty)) {
      s.novelty = m.novelty;
      s.noveltyMax = Math.max(s.noveltyMax ?? -Infinity, m.novelty);
    }
  }

  onEvent(e: AgentEvent): void {
    if (e.type === 'collapse') {
      this.collapse = { state: e.state, reason: e.reason, t: e.t, step: e.step };
      return;
    }
    const s = this.get(e.streamId);
    if (!s) return;
    if (e.type === 'novelty') s.lastNoveltyEvent = { t: e.t, score: e.score, calibrated: e.calibrated, threshold: e.threshold };
    else if (e.type === 'drift') s.drift = { t: e.t, statistic: e.statistic, pValue: e.pValue, alpha: e.alpha, method: e.method };
    else if (e.type === 'camera') s.camera = { state: e.state, t: e.t, ...(e.detail !== undefined ? { detail: e.detail } : {}) };
  }

  onStats(m: StatsMessage): void {
    for (const [id, st] of Object.entries(m.streams)) {
      const s = this.get(id);
      if (!s) continue;
      s.fps = st.fps;
      s.dropped = st.dropped;
      s.frames = st.frames;
      // A camera event carries a reason; stats only the state: keep the richer one when they agree.
      if (st.state && s.camera?.state !== st.state) s.camera = { state: st.state, t: m.t };
    }
  }

  onThumbnail(m: ThumbnailMessage): void {
    const s = this.get(m.streamId);
    if (s) s.lastThumbnailT = m.t;
  }

  /** Forgets a stream (it leaves the next snapshot). */
  remove(streamId: string): boolean {
    return this.byId.delete(streamId);
  }

  streamIds(): string[] {
    return [...this.byId.keys()];
  }

  /** The current state; `resetInterval` starts a new interval for noveltyMax. */
  snapshot(now = Date.now(), resetInterval = true): StatusSnapshot {
    const streams = [...this.byId.values()].map((s) => ({ ...s }));
    if (resetInterval) for (const s of this.byId.values()) delete s.noveltyMax;
    const snap: StatusSnapshot = { type: 'status', t: now, streams };
    if (this.collapse) snap.collapse = { ...this.collapse };
    return snap;
  }
}
