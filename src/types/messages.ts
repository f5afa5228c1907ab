/**
 * What the agent publishes. Producers (trainer, embedding service, detectors, sources) push these into an AgentHub;
 * publishers (ws server, dashboard feed, metrics) only read them. Arrows point one way: nothing in src/serve calls
 * back into training.
 */
import type { Observable } from 'rxjs';
import type { CameraStateName } from './CameraStateName';

/** One teacher embedding of one frame. */
export interface EmbeddingMessage {
  streamId: string;
  /** Frame capture/arrival time, ms since epoch. */
  t: number;
  frameIndex: number;
  /** The training step whose EMA teacher produced this embedding (the teacher copy the embedder used). */
  teacherStep: number;
  dim: number;
  /** L2-normalised CLS feature of the teacher backbone. */
  embedding: Float32Array;
  /** The raw (un-normalised) CLS feature, for subscribers that ask for it. */
  raw?: Float32Array;
  /** Novelty score of this frame, when the detector is warmed up (calibrated percentile in [0,1]). */
  novelty?: number;
}

/**
 * What the event store adds to a novelty or drift event before it is published: an id, and the paths of its
 * pictures (`/api/events/<id>/snapshot.jpg`, and `before.jpg` for drift), or why it has none.
 */
export interface StoredFields {
  id?: string;
  snapshot?: string;
  before?: string;
  snapshotError?: string;
}

/** Events on /events. */
export type AgentEvent =
  | ({ type: 'novelty'; streamId: string; t: number; frameIndex: number; score: number; calibrated: number; threshold: number; teacherStep: number } & StoredFields)
  | ({ type: 'drift'; streamId: string; t: number; statistic: number; pValue: number; alpha: number; method: string; teacherStep: number } & StoredFields)
  | { type: 'collapse'; t: number; state: 'collapsed' | 'healthy'; reason: string; step: number; monitors: Record<string, number> }
  | { type: 'camera'; streamId: string; t: number; state: CameraStateName; detail?: string };

/** One training step's report, plus pipeline counters. */
export interface StatsMessage {
  t: number;
  step: number;
  loss: number;
  lossOverLnK: number;
  teacherEntropy: number;
  embeddingStd: number;
  healthyStd: number;
  lnOutDim: number;
  lr: number;
  momentum: number;
  teacherTemp: number;
  stepMs: number;
  imagesPerSec: number;
  /** Per stream: frames received and used per second over the last interval, frames dropped in total, frames in the replay buffer. */
  streams: Record<string, { fps: number; dropped: number; frames: number; state?: CameraStateName; buffered?: number }>;
  bufferSize: number;
  /** Live k-NN probe accuracy when a probe set is configured. */
  probeTop1?: number;
}

/** A small JPEG of a stream's latest frame, for the dashboard's live view. */
export interface ThumbnailMessage {
  streamId: string;
  t: number;
  frameIndex: number;
  width: number;
  height: number;
  jpeg: Buffer;
}

/** The teacher's last-block CLS attention over one frame: per head, a grid x grid map (row-major, sums to 1). */
export interface AttentionMessage {
  streamId: string;
  t: number;
  frameIndex: number;
  teacherStep: number;
  grid: number;
  heads: number;
  /** heads * grid * grid values. */
  maps: Float32Array;
  /** The frame the map was computed on (JPEG), so the overlay matches exactly. */
  jpeg: Buffer;
}

/** The hub the agent fills and the publishers read. Subjects in the implementation; Observables to readers. */
export interface AgentHub {
  embeddings$: Observable<EmbeddingMessage>;
  events$: Observable<AgentEvent>;
  stats$: Observable<StatsMessage>;
  thumbnails$: Observable<ThumbnailMessage>;
  attention$: Observable<AttentionMessage>;
}
