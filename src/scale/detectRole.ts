import type { JsMsg } from '@nats-io/jetstream';
import { catchError, defer, EMPTY, ignoreElements, merge, Observable, share, switchMap, take, tap } from 'rxjs';
import { batchWhileBusy } from '../../streams/operators/batchWhileBusy';
import { scoreRound, type EmbeddedRound } from '../agent/agentPipeline';
import { EmbeddingService } from '../agent/EmbeddingService';
import { StreamDetectors } from '../agent/StreamDetectors';
import { encodeBinary } from '../protocol/EmbeddingCodec';
import { decodeEmbeddedFrame, type EmbeddedFrame } from './EmbeddedFrameCodec';
import { sourceMsgId } from './embedRole';
import { followTeacher } from './followTeacher';
import { PulledMessages } from './jetstreamRx';
import type { RoleContext } from './RoleContext';
import { ensureConsumer, TEACHER_STEP_HEADER, TOPOLOGY } from './Topology';
import { encodeEvent } from './UiFeedCodec';
import { headers as natsHeaders } from '@nats-io/nats-core';

/** FNV-1a of the stream id: which detect shard owns a stream (stable across processes and restarts). */
export function shardOf(streamId: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) h = Math.imul(h ^ streamId.charCodeAt(i), 0x01000193) >>> 0;
  return h % count;
}

/** Messages a detect shard takes per batch at most (its detectors run them in order). */
const DETECT_BATCH = 64;

/**
 * A detect shard: the novelty and drift detectors of the streams it owns (nats.detectShard), in the order their
 * frames were embedded. It reads EMBEDDED (embedding and frame), scores each embedding as the single-process agent
 * does (scoreRound), and publishes the scored embedding to EMB and its events to EVENTS, then acknowledges. It
 * follows the teacher like the workers: a new one is loaded together with the re-embedding of the detectors'
 * memories, and a frame a worker embedded with another teacher is embedded again here, so a score never compares
 * embeddings of two teachers.
 */
export function detectRole(ctx: RoleContext): { run$: Observable<never>; teacher: EmbeddingService } {
  const { config: cfg, conn, scale, log } = ctx;
  const [shard, of] = cfg.nats.detectShard.split('/').map(Number) as [number, number];
  const durable = TOPOLOGY.detectConsumer(shard, of);
  const teacher = new EmbeddingService(ctx.trainerOptions.model);
  const detectors = new StreamDetectors(cfg.detect);
  const pulled = new PulledMessages(conn.js, TOPOLOGY.embedded.stream, durable, { prefetch: DETECT_BATCH, inFlight: DETECT_BATCH, log });
  ctx.health.set('detect', { ok: false, status: 'waiting_for_teacher', detail: { shard: cfg.nats.detectShard } });

  const score = (msgs: JsMsg[]) =>
    defer(async () => {
      const mine: { msg: JsMsg; e: EmbeddedFrame }[] = [];
      const others: JsMsg[] = [];
      for (const m of msgs) {
        if (m.info.deliveryCount > 1) scale.redelivered.inc({ role: 'detect' });
        try {
          const e = decodeEmbeddedFrame(m.data);
          if (shardOf(e.frame.streamId, of) === shard) mine.push({ msg: m, e });
          else others.push(m);
        } catch (err) {
          scale.malformed.inc({ role: 'detect' });
          log.warn({ err: (err as Error).message }, 'detect: malformed embedded-frame message dropped');
          pulled.term(m, 'malformed');
        }
      }
      pulled.ack(others);
      if (mine.length === 0) return;
      // a long batch (re-embedding on a slow machine) keeps its messages, so that none is scored twice
      await pulled.keepingAlive(mine.map((x) => x.msg), (cfg.nats.ackWaitSec * 1000) / 2, () => scoreAndPublish(mine));
    }).pipe(
      catchError((e: unknown) => {
        log.error({ err: (e as Error).message }, 'detect: batch failed; its messages go back to the consumer');
        return EMPTY;
      }),
    );

  const scoreAndPublish = async (mine: { msg: JsMsg; e: EmbeddedFrame }[]) => {
    const published = await teacher.exclusive(async () => {
      const step = teacher.teacherStep;
      const stale = mine.filter(({ e }) => e.embedding.teacherStep !== step);
      if (stale.length > 0) {
        const again = await teacher.embed(stale.map(({ e }) => e.frame));
        stale.forEach(({ e }, i) => {
          e.embedding = { ...e.embedding, teacherStep: step, embedding: again.normalized[i]!, raw: again.raw[i] };
        });
        scale.reembedded.inc(stale.length);
      }
      const round: EmbeddedRound = {
        frames: mine.map(({ e }) => e.frame),
        out: { normalized: mine.map(({ e }) => e.embedding.embedding), raw: mine.map(({ e }) => e.embedding.raw ?? e.embedding.embedding) },
        teacherStep: step,
      };
      return scoreRound(round, detectors, ctx.metrics);
    });
    // every embedding goes out under its frame's id, each event under the frame's id and its type
    let i = -1;
    const acks: Promise<unknown>[] = [];
    for (const p of published) {
      if ('embedding' in p) {
        i++;
        const h = natsHeaders();
        h.set(TEACHER_STEP_HEADER, String(p.embedding.teacherStep));
        acks.push(conn.js.publish(TOPOLOGY.emb.subject(p.embedding.streamId), encodeBinary(p.embedding, { raw: true }), { msgID: sourceMsgId(mine[i]!.msg), headers: h }));
      } else {
        // the event goes out without the event store's pictures, which stay with the single-process agent
        const e = p.detected.event;
        ctx.metrics.onEvent(e);
        acks.push(conn.js.publish(TOPOLOGY.events.subject(e.streamId, e.type), encodeEvent(e), { msgID: `${sourceMsgId(mine[i]!.msg)}:${e.type}` }));
      }
    }
    try {
      await Promise.all(acks);
    } catch (e) {
      pulled.nak(mine.map((x) => x.msg), 500);
      throw e;
    }
    pulled.ack(mine.map((x) => x.msg));
    scale.scored.inc(mine.length);
  };

  const reembedMemories = () => detectors.reembed(async (frames) => (await teacher.embed(frames)).normalized, teacher.teacherStep);
  const teacher$ = followTeacher(ctx, 'detect', teacher, reembedMemories).pipe(
    tap((step) => ctx.health.set('detect', { ok: true, status: 'detecting', detail: { shard: cfg.nats.detectShard, teacherStep: step } })),
    share(),
  );
  const work$ = teacher$.pipe(
    take(1),
    switchMap(() => defer(() => ensureConsumer(conn.jsm, TOPOLOGY.embedded.stream, durable, cfg.nats))),
    switchMap(() => pulled.messages$.pipe(batchWhileBusy(DETECT_BATCH, score))),
  );
  return { run$: merge(teacher$, work$).pipe(ignoreElements()), teacher };
}
