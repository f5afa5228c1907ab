import sharp from 'sharp';
import type { Subject } from 'rxjs';
import type { Frame } from '../../streams/Frame';
import type { StreamLogger } from '../../streams/Logger';
import type { AgentConfig } from '../../config/schema';
import type { EmbeddingService } from './EmbeddingService';
import type { TeacherSnapshot } from '../train/TrainerService';
import type { StreamDetectors } from './StreamDetectors';
import type { AgentEvent, AttentionMessage, EmbeddingMessage, ThumbnailMessage } from '../types/messages';
import type { AgentMetrics } from './AgentMetrics';

export interface EmbedLoopSinks {
  embeddings: Subject<EmbeddingMessage>;
  events: Subject<AgentEvent>;
  thumbnails: Subject<ThumbnailMessage>;
  attention: Subject<AttentionMessage>;
}

async function jpegOf(f: Frame): Promise<Buffer> {
  return sharp(Buffer.from(f.rgb.buffer, f.rgb.byteOffset, f.rgb.byteLength), { raw: { width: f.width, height: f.height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/**
 * The teacher side of the live agent: keeps each stream's latest frame, and on its own clock (independent of
 * training) embeds the new ones in one batch, scores them with the detectors, and publishes embeddings, events,
 * thumbnails and attention maps. All main-thread inference goes through `exclusive`, so a teacher refresh (which
 * re-embeds the drift windows) never interleaves with a tick.
 */
export class EmbedLoop {
  private readonly latest = new Map<string, Frame>();
  private readonly lastEmbedded = new Map<string, number>();
  private readonly lastThumb = new Map<string, number>();
  private lock: Promise<unknown> = Promise.resolve();
  private ticking = false;
  private nextAttentionAt = 0;
  private attentionTurn = 0;

  constructor(
    private readonly cfg: AgentConfig['embed'],
    private readonly service: EmbeddingService,
    private readonly detectors: StreamDetectors,
    private readonly sinks: EmbedLoopSinks,
    private readonly metrics: AgentMetrics,
    private readonly log: StreamLogger,
  ) {}

  offer(frame: Frame): void {
    this.latest.set(frame.streamId, frame);
  }

  /** Run `fn` with exclusive use of the main-thread model. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** One embedding round; skipped when the previous one is still running (never queues up). */
  async tick(now = Date.now()): Promise<void> {
    if (this.ticking || this.service.version < 0) return;
    this.ticking = true;
    try {
      const frames = [...this.latest.values()].filter((f) => this.lastEmbedded.get(f.streamId) !== f.index);
      if (frames.length === 0) return;
      for (const f of frames) this.lastEmbedded.set(f.streamId, f.index);
      const attention = this.cfg.attentionEverySec > 0 && now >= this.nextAttentionAt;
      const version = this.service.version;
      const out = await this.exclusive(() => this.service.embed(frames, { attention }));
      frames.forEach((f, i) => {
        const embedding = out.normalized[i]!;
        const { novelty, events } = this.detectors.observe(f, embedding, version);
        this.metrics.onNovelty(f.streamId, novelty.calibrated);
        this.sinks.embeddings.next({
          streamId: f.streamId,
          t: f.t,
          frameIndex: f.index,
          teacherStep: version,
          dim: embedding.length,
          embedding,
          raw: out.raw[i],
          novelty: novelty.warm ? novelty.calibrated : undefined,
        });
        for (const e of events) this.sinks.events.next(e);
      });
      if (attention && out.attention) {
        this.nextAttentionAt = now + this.cfg.attentionEverySec * 1000;
        const i = this.attentionTurn++ % frames.length;
        const f = frames[i]!;
        this.sinks.attention.next({
          streamId: f.streamId,
          t: f.t,
          frameIndex: f.index,
          teacherStep: version,
          grid: this.service.grid,
          heads: this.service.heads,
          maps: out.attention[i]!,
          jpeg: await jpegOf(f),
        });
      }
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'embedding round failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Small JPEGs of each stream's newest frame for the dashboard's live view. */
  async thumbnails(): Promise<void> {
    for (const f of this.latest.values()) {
      if (this.lastThumb.get(f.streamId) === f.index) continue;
      this.lastThumb.set(f.streamId, f.index);
      try {
        this.sinks.thumbnails.next({ streamId: f.streamId, t: f.t, frameIndex: f.index, width: f.width, height: f.height, jpeg: await jpegOf(f) });
      } catch (e) {
        this.log.warn({ streamId: f.streamId, err: (e as Error).message }, 'thumbnail failed');
      }
    }
  }

  /**
   * Switch to a newer teacher copy and re-embed the detectors' frames with it, as one exclusive step so that no
   * embedding round sees the new teacher against memories of the old one.
   */
  adoptTeacher(snapshot: TeacherSnapshot): Promise<void> {
    return this.exclusive(async () => {
      this.service.load(snapshot);
      await this.detectors.reembed(async (frames) => (await this.service.embed(frames)).normalized, this.service.version);
    });
  }
}
