import * as tf from '@tensorflow/tfjs';
import { Counter, Gauge, Summary, type Registry } from 'prom-client';
import type { TensorMemory } from '../train/workerProtocol';
import type { AgentEvent, StatsMessage } from '../types/messages';

/** The agent's Prometheus metrics (the server adds its own to the same registry). */
export class AgentMetrics {
  private readonly step: Gauge;
  private readonly loss: Gauge;
  private readonly lossOverLnK: Gauge;
  private readonly entropy: Gauge;
  private readonly embStd: Gauge;
  private readonly imagesPerSec: Gauge;
  private readonly stepMs: Gauge;
  private readonly streamFps: Gauge<'stream'>;
  private readonly streamDropped: Gauge<'stream'>;
  private readonly novelty: Gauge<'stream'>;
  private readonly events: Counter<'type'>;
  private readonly collapsed: Gauge;
  private readonly teacherStep: Gauge;
  private readonly probe: Gauge;
  private readonly stepFailures: Counter;
  private trainerMemory: (() => Promise<TensorMemory>) | undefined;
  readonly embeddingRound: Summary<'streams'>;

  constructor(registry: Registry) {
    const g = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
    const gs = (name: string, help: string) => new Gauge({ name, help, labelNames: ['stream'] as const, registers: [registry] });
    this.step = g('dino_train_step', 'Training steps done (resumed runs count from the checkpoint)');
    this.loss = g('dino_train_loss', 'DINO loss of the last step');
    this.lossOverLnK = g('dino_train_loss_over_ln_out_dim', 'Loss / ln(out_dim); near 1 = uniform collapse');
    this.entropy = g('dino_teacher_entropy', "Mean entropy of the teacher's centred, sharpened output");
    this.embStd = g('dino_embedding_std', 'Std of L2-normalised teacher embeddings (healthy ~1/sqrt(dim), 0 = collapse)');
    this.imagesPerSec = g('dino_train_images_per_second', 'Images per second through the training step');
    this.stepMs = g('dino_train_step_ms', 'Duration of the last training step');
    this.streamFps = gs('dino_stream_fps', 'Frames per second received per stream');
    this.streamDropped = gs('dino_stream_dropped_frames', 'Frames per stream that never reached the replay buffer');
    this.novelty = gs('dino_novelty_score', 'Latest calibrated novelty score per stream (percentile of recent scores)');
    this.events = new Counter({ name: 'dino_events_total', help: 'Events published, by type', labelNames: ['type'] as const, registers: [registry] });
    this.collapsed = g('dino_collapse_alert', '1 while a collapse alert is active');
    this.teacherStep = g('dino_embedder_teacher_step', 'Training step of the teacher copy used for embeddings');
    this.probe = g('dino_probe_knn_top1', 'Live k-NN top-1 accuracy on the probe set (when configured)');
    this.embeddingRound = new Summary({
      name: 'dino_embedding_round_ms',
      help: "Duration of an embedding round (the teacher on each stream's newest frame), over the last minute; streams: configured or open (opened by ingest clients)",
      labelNames: ['streams'] as const,
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 60,
      ageBuckets: 6,
      registers: [registry],
    });
    this.stepFailures = new Counter({ name: 'dino_train_step_failures_total', help: 'Training steps that failed (each is retried)', registers: [registry] });
    const self = this;
    new Gauge({
      name: 'dino_tfjs_tensors',
      help: 'tfjs tensors alive, in the main thread (teacher copy, embedding) and in the trainer worker (a leak grows it)',
      labelNames: ['thread'] as const,
      registers: [registry],
      async collect() {
        // a scaled-out role without a model (ingest, gateway) never chose a backend: tf.memory() would throw
        if (tf.getBackend()) this.set({ thread: 'main' }, tf.memory().numTensors);
        const m = await self.trainerMemory?.().catch(() => undefined);
        if (m) this.set({ thread: 'trainer' }, m.numTensors);
      },
    });
  }

  /** Where the trainer's tensor count comes from (the worker). */
  watchTrainer(memory: (() => Promise<TensorMemory>) | undefined): void {
    this.trainerMemory = memory;
  }

  onStepFailure(): void {
    this.stepFailures.inc();
  }

  onEmbeddingRound(streams: 'configured' | 'open', ms: number): void {
    this.embeddingRound.observe({ streams }, ms);
  }

  onStats(s: StatsMessage): void {
    this.step.set(s.step);
    this.loss.set(s.loss);
    this.lossOverLnK.set(s.lossOverLnK);
    this.entropy.set(s.teacherEntropy);
    this.embStd.set(s.embeddingStd);
    this.imagesPerSec.set(s.imagesPerSec);
    this.stepMs.set(s.stepMs);
    for (const [id, st] of Object.entries(s.streams)) {
      this.streamFps.set({ stream: id }, st.fps);
      this.streamDropped.set({ stream: id }, st.dropped);
    }
    if (s.probeTop1 !== undefined) this.probe.set(s.probeTop1);
  }

  onEvent(e: AgentEvent): void {
    this.events.inc({ type: e.type });
    if (e.type === 'collapse') this.collapsed.set(e.state === 'collapsed' ? 1 : 0);
  }

  onNovelty(streamId: string, calibrated: number): void {
    if (Number.isFinite(calibrated)) this.novelty.set({ stream: streamId }, calibrated);
  }

  /** Drops a forgotten stream's series (fps, dropped frames, novelty), so /metrics does not keep every id ever seen. */
  removeStream(streamId: string): void {
    for (const g of [this.streamFps, this.streamDropped, this.novelty]) g.remove({ stream: streamId });
  }

  onTeacher(step: number): void {
    this.teacherStep.set(step);
  }

  onProbe(top1: number): void {
    this.probe.set(top1);
  }
}
