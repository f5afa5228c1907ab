import { headers as natsHeaders } from '@nats-io/nats-core';
import type { JsMsg } from '@nats-io/jetstream';
import { catchError, concatMap, defer, EMPTY, filter, ignoreElements, merge, Observable, share, switchMap, take, tap } from 'rxjs';
import type { Frame } from '../../streams/Frame';
import { batchWhileBusy } from '../../streams/operators/batchWhileBusy';
import { attentionMessage, type EmbeddedRound } from '../agent/agentPipeline';
import { EmbeddingService } from '../agent/EmbeddingService';
import { encodeEmbeddedFrame } from './EmbeddedFrameCodec';
import { decodeFrame } from './FrameCodec';
import { followTeacher } from './followTeacher';
import { PulledMessages } from './jetstreamRx';
import type { RoleContext } from './RoleContext';
import { EMBEDDED_BY_HEADER, TEACHER_STEP_HEADER, TOPOLOGY } from './Topology';
import { encodeAttention } from './UiFeedCodec';

/** The id a message made from a frame is de-duplicated by: the frame's own (its stream sequence if it has none). */
export const sourceMsgId = (m: JsMsg) => m.headers?.get('Nats-Msg-Id') || `${m.info.stream}:${m.seq}`;

/** How long a message waited in its stream, from the broker's receipt (its clock) to now (this process's clock), in ms. */
export const waitedMs = (m: Pick<JsMsg, 'timestampNanos'>, now = Date.now()) => now - Number(m.timestampNanos / 1_000_000n);

/**
 * An embed worker: a competing consumer of FRAMES. Frames are taken in batches (all that arrived while the previous
 * batch ran, up to nats.embedBatch), embedded with the current teacher and published to EMBEDDED under their
 * frame's id, then acknowledged. A worker that dies leaves its frames unacknowledged: after nats.ackWaitSec they go
 * to another worker, which publishes them under the same ids, so the broker stores each once. Until the first
 * teacher arrives the worker takes no frame. A frame that waited longer than nats.maxFrameAgeSec is skipped.
 */
export function embedRole(ctx: RoleContext): { run$: Observable<never>; teacher: EmbeddingService } {
  const { config: cfg, conn, scale, log } = ctx;
  const n = cfg.nats;
  const teacher = new EmbeddingService(ctx.trainerOptions.model);
  const pulled = new PulledMessages(conn.js, TOPOLOGY.frames.stream, TOPOLOGY.embedConsumer, { prefetch: n.embedBatch, inFlight: n.embedBatch, log });
  ctx.health.set('embed', { ok: false, status: 'waiting_for_teacher' });

  let attentionDue = 0;
  let attentionTurn = 0;
  let staleWarnDue = 0;
  const embedBatch = (msgs: JsMsg[]) =>
    defer(async () => {
      const t0 = performance.now();
      const frames: Frame[] = [];
      const taken: JsMsg[] = [];
      for (const m of msgs) {
        if (m.info.deliveryCount > 1) scale.redelivered.inc({ role: 'embed' });
        const waited = waitedMs(m);
        if (waited > n.maxFrameAgeSec * 1000) {
          scale.framesStale.inc();
          pulled.ack([m]);
          if (Date.now() >= staleWarnDue) {
            staleWarnDue = Date.now() + 60_000;
            log.warn({ waitedMs: waited }, 'embed: frames older than nats.maxFrameAgeSec skipped (dino_scale_frames_stale_total): the workers fall behind, or this clock is ahead of the broker\'s');
          }
          continue;
        }
        try {
          frames.push(decodeFrame(m.data));
          taken.push(m);
        } catch (e) {
          scale.malformed.inc({ role: 'embed' });
          log.warn({ subject: m.subject.slice(0, 80), err: (e as Error).message }, 'embed: malformed frame message dropped');
          pulled.term(m, 'malformed frame');
        }
      }
      if (frames.length === 0) return null;
      try {
        // a long batch (a slow machine) keeps its frames instead of having them handed to another worker
        return await pulled.keepingAlive(taken, (n.ackWaitSec * 1000) / 2, () => embedAndPublish(frames, taken, t0));
      } catch (e) {
        // not published: back to the consumer (this worker or another takes them again shortly)
        pulled.nak(taken, 500);
        throw e;
      }
    }).pipe(
      filter((r): r is EmbeddedRound => r !== null),
      concatMap((round) => (round.out.attention ? publishAttention(round, round.out.attention, attentionTurn++) : EMPTY)),
      catchError((e: unknown) => {
        log.error({ err: (e as Error).message }, 'embed: batch failed; its frames go back to the consumer');
        return EMPTY;
      }),
    );

  /** Embeds the frames with the current teacher, publishes them to EMBEDDED under their frames' ids, then acknowledges. */
  const embedAndPublish = async (frames: Frame[], taken: JsMsg[], t0: number): Promise<EmbeddedRound> => {
    const round: EmbeddedRound = await teacher.exclusive(async () => {
      const attention = cfg.embed.attentionEverySec > 0 && Date.now() >= attentionDue;
      if (attention) attentionDue = Date.now() + cfg.embed.attentionEverySec * 1000;
      return { frames, out: await teacher.embed(frames, { attention }), teacherStep: teacher.teacherStep };
    });
    await Promise.all(
      frames.map((f, i) => {
        const h = natsHeaders();
        h.set(TEACHER_STEP_HEADER, String(round.teacherStep));
        h.set(EMBEDDED_BY_HEADER, ctx.instance);
        const embedding = { streamId: f.streamId, t: f.t, frameIndex: f.index, teacherStep: round.teacherStep, dim: teacher.dim, embedding: round.out.normalized[i]!, raw: round.out.raw[i] };
        return conn.js.publish(TOPOLOGY.embedded.subject(f.streamId), encodeEmbeddedFrame({ embedding, frame: f }), { msgID: sourceMsgId(taken[i]!), headers: h });
      }),
    );
    pulled.ack(taken);
    scale.framesEmbedded.inc(frames.length);
    scale.embedBatch.observe(frames.length);
    scale.embedRoundMs.observe(performance.now() - t0);
    return round;
  };

  const publishAttention = (round: EmbeddedRound, maps: Float32Array[], turn: number) =>
    attentionMessage(round, maps, turn, teacher).pipe(
      tap((m) => {
        if ('attention' in m) conn.nc.publish(TOPOLOGY.attention(m.attention.streamId), encodeAttention(m.attention));
      }),
      catchError(() => EMPTY),
    );

  const teacher$ = followTeacher(ctx, 'embed', teacher).pipe(
    tap((step) => ctx.health.set('embed', { ok: true, status: 'embedding', detail: { teacherStep: step } })),
    share(),
  );
  const work$ = teacher$.pipe(
    take(1),
    switchMap(() => pulled.messages$.pipe(batchWhileBusy(n.embedBatch, embedBatch))),
  );
  return { run$: merge(teacher$, work$).pipe(ignoreElements()), teacher };
}
