import { Counter, Gauge, Summary, type Registry } from 'prom-client';

/** The scale-out roles' Prometheus metrics (beside the agent's own, in the same registry). */
export class ScaleMetrics {
  /** Frames published to FRAMES by stream, and frames not published (reason: broker = the broker was away or refused). */
  readonly framesPublished: Counter<'stream'>;
  readonly framesUnpublished: Counter<'stream' | 'reason'>;
  /**
   * Embed workers: frames embedded, frames skipped as older than nats.maxFrameAgeSec, redelivered frames (another
   * worker had them), frames given up as malformed.
   */
  readonly framesEmbedded: Counter;
  readonly framesStale: Counter;
  readonly redelivered: Counter<'role'>;
  readonly malformed: Counter<'role'>;
  readonly embedRoundMs: Summary;
  readonly embedBatch: Summary;
  /** Detect: embeddings scored, and frames re-embedded because their teacher was not the detectors' one. */
  readonly scored: Counter;
  readonly reembedded: Counter;
  /** Training steps this process ran (dino_train_step counts from a resumed checkpoint's step). */
  readonly trainSteps: Counter;
  /** Teachers: published (trainer), loaded (workers and detect) and the time from publication to loaded. */
  readonly teachersPublished: Counter;
  readonly teachersLoaded: Counter<'role'>;
  readonly teacherSwapMs: Summary<'role'>;
  readonly teacherStep: Gauge<'role'>;
  readonly lockHeld: Gauge;
  /** Gateway: the roles that reported within their heartbeat TTL. */
  readonly rolesUp: Gauge<'role' | 'instance'>;

  constructor(registry: Registry) {
    const r = [registry];
    const pct = [0.5, 0.9, 0.99];
    this.framesPublished = new Counter({ name: 'dino_scale_frames_published_total', help: 'Frames published to FRAMES', labelNames: ['stream'] as const, registers: r });
    this.framesUnpublished = new Counter({
      name: 'dino_scale_frames_unpublished_total', help: 'Frames not published (broker away or refusing)', labelNames: ['stream', 'reason'] as const, registers: r,
    });
    this.framesEmbedded = new Counter({ name: 'dino_scale_frames_embedded_total', help: 'Frames embedded by this worker', registers: r });
    this.framesStale = new Counter({ name: 'dino_scale_frames_stale_total', help: 'Frames skipped by embed workers as older than nats.maxFrameAgeSec', registers: r });
    this.redelivered = new Counter({ name: 'dino_scale_redelivered_total', help: 'Messages received again (another consumer had them)', labelNames: ['role'] as const, registers: r });
    this.malformed = new Counter({ name: 'dino_scale_malformed_total', help: 'Messages refused as malformed (not redelivered)', labelNames: ['role'] as const, registers: r });
    this.embedRoundMs = new Summary({ name: 'dino_scale_embed_round_ms', help: 'One embedding batch: decode, teacher, publish', percentiles: pct, registers: r });
    this.embedBatch = new Summary({ name: 'dino_scale_embed_batch_frames', help: 'Frames per embedding batch', percentiles: pct, registers: r });
    this.scored = new Counter({ name: 'dino_scale_scored_total', help: 'Embeddings scored by the detectors', registers: r });
    this.reembedded = new Counter({ name: 'dino_scale_reembedded_total', help: 'Frames re-embedded by detect (embedded with another teacher)', registers: r });
    this.trainSteps = new Counter({ name: 'dino_scale_train_steps_total', help: 'Training steps run by this process', registers: r });
    this.teachersPublished = new Counter({ name: 'dino_scale_teachers_published_total', help: 'Teachers put into the Object Store', registers: r });
    this.teachersLoaded = new Counter({ name: 'dino_scale_teachers_loaded_total', help: 'Teachers fetched, verified and loaded', labelNames: ['role'] as const, registers: r });
    this.teacherSwapMs = new Summary({
      name: 'dino_scale_teacher_swap_ms', help: 'From a teacher pointer to the teacher in use', labelNames: ['role'] as const, percentiles: pct, registers: r,
    });
    this.teacherStep = new Gauge({ name: 'dino_scale_teacher_step', help: 'Step of the teacher in use, by role', labelNames: ['role'] as const, registers: r });
    this.lockHeld = new Gauge({ name: 'dino_scale_trainer_lock_held', help: '1 while this process holds the trainer lock', registers: r });
    this.rolesUp = new Gauge({ name: 'dino_scale_role_up', help: 'Roles seen by the gateway (1 ok, 0 unhealthy)', labelNames: ['role', 'instance'] as const, registers: r });
  }
}
