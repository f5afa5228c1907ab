import { Subject } from 'rxjs';
import type { AgentEvent, AgentHub, AttentionMessage, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../../src/types/messages';

/** An AgentHub made of Subjects the test pushes into (the real agent is wired by the lead). */
export class FakeHub implements AgentHub {
  readonly embeddingsS = new Subject<EmbeddingMessage>();
  readonly eventsS = new Subject<AgentEvent>();
  readonly statsS = new Subject<StatsMessage>();
  readonly thumbnailsS = new Subject<ThumbnailMessage>();
  readonly attentionS = new Subject<AttentionMessage>();
  readonly embeddings$ = this.embeddingsS.asObservable();
  readonly events$ = this.eventsS.asObservable();
  readonly stats$ = this.statsS.asObservable();
  readonly thumbnails$ = this.thumbnailsS.asObservable();
  readonly attention$ = this.attentionS.asObservable();
}

/** A deterministic unit vector per (stream, frame), with a raw (un-normalised) twin. */
export function embedding(streamId: string, frameIndex: number, dim = 16, opts: { raw?: boolean; novelty?: number; t?: number } = {}): EmbeddingMessage {
  const raw = new Float32Array(dim);
  let seed = frameIndex * 7919 + [...streamId].reduce((a, c) => a * 31 + c.charCodeAt(0), 7);
  for (let i = 0; i < dim; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) | 0;
    raw[i] = ((seed >>> 8) / (1 << 24)) * 4 - 2;
  }
  const n = Math.hypot(...raw) || 1;
  const m: EmbeddingMessage = {
    streamId,
    t: opts.t ?? 1_700_000_000_000 + frameIndex * 100.25,
    frameIndex,
    teacherStep: 40 + Math.floor(frameIndex / 10),
    dim,
    embedding: raw.map((v) => v / n),
  };
  if (opts.raw !== false) m.raw = raw;
  if (opts.novelty !== undefined) m.novelty = opts.novelty;
  return m;
}

export function stats(step: number, loss: number, streams: string[] = ['cam1']): StatsMessage {
  const lnOutDim = Math.log(4096);
  return {
    t: Date.now(),
    step,
    loss,
    lossOverLnK: loss / lnOutDim,
    teacherEntropy: 3 + Math.sin(step / 5),
    embeddingStd: 0.06,
    healthyStd: 1 / Math.sqrt(192),
    lnOutDim,
    lr: 5e-4,
    momentum: 0.996,
    teacherTemp: 0.04,
    stepMs: 300,
    imagesPerSec: 50 + 5 * Math.sin(step),
    streams: Object.fromEntries(streams.map((s, i) => [s, { fps: 10 - i, dropped: step * i, frames: step * 10, state: 'live' as const }])),
    bufferSize: 512,
  };
}
