import type { NoveltyDetector, NoveltyResult } from '../detect/NoveltyDetector';
import type { MMDDriftDetector } from '../detect/MMDDriftDetector';
import { createDriftDetector, createNoveltyDetector, createNoveltyRules } from '../detect/detectorFactory';
import type { NoveltyEventRules } from '../detect/NoveltyEventRules';
import type { AgentConfig } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { AgentEvent } from '../types/messages';

/** A detector event with the frames that show it, for the event store's pictures. */
export interface DetectedEvent {
  event: Extract<AgentEvent, { type: 'novelty' | 'drift' }>;
  pictures: { snapshot?: Frame; before?: Frame };
}

interface PerStream {
  novelty: NoveltyDetector<Frame>;
  noveltyRules: NoveltyEventRules;
  drift: MMDDriftDetector<Frame>;
}

/** Frames re-embedded at once when the teacher changes. */
export const REEMBED_CHUNK = 32;

/**
 * Novelty and drift detectors for every stream, in the teacher's embedding space.
 * The teacher moves, so the detectors keep the frames behind their embeddings (novelty bank, drift windows) and
 * re-embed them with each new teacher copy (reembed): a score or a test never mixes embeddings of two teachers.
 * After a re-embedding the novelty calibration restarts from the bank's leave-one-out distances, so the
 * detector stays warm across teacher refreshes.
 */
export class StreamDetectors {
  private readonly streams = new Map<string, PerStream>();

  constructor(private readonly d: AgentConfig['detect']) {}

  /** Streams with detectors. */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  private forStream(streamId: string): PerStream {
    let s = this.streams.get(streamId);
    if (!s) {
      s = { novelty: createNoveltyDetector(this.d, streamId), noveltyRules: createNoveltyRules(this.d), drift: createDriftDetector(this.d, streamId) };
      this.streams.set(streamId, s);
    }
    return s;
  }

  /**
   * Score one embedded frame; returns the novelty result and any events to publish, each with the frames that
   * show it (novelty: this frame; drift: the newest frame of the old scene, and this one).
   */
  observe(frame: Frame, embedding: Float32Array, teacherStep: number): { novelty: NoveltyResult; events: DetectedEvent[] } {
    const s = this.forStream(frame.streamId);
    const events: DetectedEvent[] = [];
    const novelty = s.novelty.update(embedding, { teacherStep: teacherStep, t: frame.t, payload: frame });
    if (novelty.event && s.noveltyRules.admit(novelty, frame.t).publish) {
      const event = {
        type: 'novelty' as const,
        streamId: frame.streamId,
        t: frame.t,
        frameIndex: frame.index,
        score: novelty.score,
        calibrated: novelty.calibrated,
        threshold: novelty.threshold,
        teacherStep,
      };
      events.push({ event, pictures: { snapshot: frame } });
    }
    const drift = s.drift.update(embedding, { t: frame.t, payload: frame });
    if (drift.event) {
      const event = {
        type: 'drift' as const,
        streamId: frame.streamId,
        t: frame.t,
        statistic: drift.event.statistic,
        pValue: drift.event.pValue ?? NaN,
        alpha: drift.event.threshold,
        method: drift.event.method,
        teacherStep,
      };
      events.push({ event, pictures: { before: drift.payloads?.before, snapshot: drift.payloads?.after ?? frame } });
    }
    return { novelty, events };
  }

  /** A stream removed at run time: its detectors and the frames they keep are dropped. */
  forget(streamId: string): void {
    this.streams.delete(streamId);
  }

  /** Re-embed every novelty bank and drift window with the current teacher (embed: frames -> L2-normalised). */
  async reembed(embedAll: (frames: Frame[]) => Promise<Float32Array[]>, teacherStep: number): Promise<void> {
    // Hundreds of frames per stream: in chunks, letting the event loop run between them, so that sockets, pings,
    // ingest and camera pipes are served meanwhile (one synchronous pass held the loop for seconds on a busy machine).
    const embed = async (frames: Frame[]): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for (let i = 0; i < frames.length; i += REEMBED_CHUNK) {
        await new Promise<void>((r) => setImmediate(r));
        out.push(...(await embedAll(frames.slice(i, i + REEMBED_CHUNK))));
      }
      return out;
    };
    for (const s of this.streams.values()) {
      const bank = s.novelty.bankPayloads().filter((f): f is Frame => f !== undefined);
      if (bank.length > 0) s.novelty.rebuild(await embed(bank), teacherStep, { payloads: bank, calibrateFromBank: true });
      const { ref, recent } = s.drift.windowPayloads();
      const frames = [...ref, ...recent];
      if (frames.length === 0 || frames.some((f) => f === undefined)) continue;
      const embs = await embed(frames as Frame[]);
      s.drift.replaceEmbeddings(embs.slice(0, ref.length), embs.slice(ref.length));
    }
  }
}
