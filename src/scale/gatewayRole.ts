import type { JsMsg } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/nats-core';
import { filter, map, Observable, share, type OperatorFunction } from 'rxjs';
import { DEFAULT_SOURCE_FPS } from '../../config/schema';
import { throttleFps } from '../../streams/operators/throttleFps';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { ingestSettings, serverSettings } from '../agent/serverSettings';
import { AgentServer } from '../serve/AgentServer';
import { decodeBinary } from '../protocol/EmbeddingCodec';
import type { AgentHub } from '../types/messages';
import type { Logger } from '../util/Logger';
import { publishFrames } from './FramePublisher';
import { orderedMessages$, subscription$ } from './jetstreamRx';
import type { RoleContext } from './RoleContext';
import type { RoleHeartbeats } from './RoleHeartbeats';
import { TOPOLOGY } from './Topology';
import { decodeAttention, decodeEvent, decodeStats, decodeThumbnail } from './UiFeedCodec';

/** Decodes each message; one that does not decode is dropped (counted as malformed) and the feed goes on. */
function decodeEach<M extends { data: Uint8Array; subject: string }, T>(decode: (b: Uint8Array) => T, what: string, ctx: RoleContext): OperatorFunction<M, T> {
  let warned = false;
  return (source) =>
    source.pipe(
      map((m) => {
        try {
          return decode(m.data);
        } catch (e) {
          ctx.scale.malformed.inc({ role: 'gateway' });
          if (!warned) ctx.log.warn({ subject: m.subject.slice(0, 80), err: (e as Error).message }, `gateway: malformed ${what} dropped`);
          warned = true;
          return undefined;
        }
      }),
      filter((x): x is T => x !== undefined),
    );
}

/** The agent's hub, filled from the broker: the same messages the single-process pipeline publishes. */
export function brokerHub(ctx: RoleContext): AgentHub {
  const { conn } = ctx;
  const js = (stream: string, subject: string) => orderedMessages$(conn.js, stream, subject);
  const core = (subject: string) => subscription$(conn.nc, subject);
  return {
    embeddings$: js(TOPOLOGY.emb.stream, TOPOLOGY.emb.all).pipe(decodeEach<JsMsg, ReturnType<typeof decodeBinary>>(decodeBinary, 'embedding', ctx), share()),
    events$: js(TOPOLOGY.events.stream, TOPOLOGY.events.all).pipe(decodeEach(decodeEvent, 'event', ctx), share()),
    stats$: core(TOPOLOGY.stats).pipe(decodeEach<Msg, ReturnType<typeof decodeStats>>(decodeStats, 'stats', ctx), share()),
    thumbnails$: core(TOPOLOGY.thumbnails).pipe(decodeEach(decodeThumbnail, 'thumbnail', ctx), share()),
    attention$: core(TOPOLOGY.attentions).pipe(decodeEach(decodeAttention, 'attention map', ctx), share()),
  };
}

/**
 * The gateway: the agent's server (dashboard, ws /embeddings /events /ui /ingest, /metrics, /healthz) on a hub
 * filled from the broker, under the same Origin, Host and token rules. Frames pushed to /ingest/<id> are published
 * to FRAMES like a camera's. It keeps no state of its own beyond the server's: a restarted gateway picks up the
 * feeds from where they are, and its ws clients reconnect.
 */
export class GatewayRole {
  readonly server: AgentServer;
  private readonly ingest: WebSocketIngest;

  constructor(
    private readonly ctx: RoleContext,
    heartbeats: RoleHeartbeats,
    private readonly run: string,
    log: Logger,
  ) {
    const cfg = ctx.config;
    const pushedIds = new Set(cfg.sources.flatMap((s) => (s.kind === 'ws' ? [s.id] : [])));
    const otherIds = new Set(cfg.sources.flatMap((s) => (s.kind !== 'ws' && s.id ? [s.id] : [])));
    this.ingest = new WebSocketIngest({ ...ingestSettings(cfg, { declared: pushedIds, reserved: (id) => otherIds.has(id) }), logger: log });
    this.server = new AgentServer({
      hub: brokerHub(ctx),
      ingest: this.ingest,
      ...serverSettings(cfg.server),
      registry: ctx.registry,
      log,
      healthExtra: () => ({ roles: heartbeats.roles(), broker: ctx.conn.connected }),
    });
    ctx.health.set('gateway', { ok: true, status: 'serving' });
  }

  /** Pushed frames to FRAMES, throttled per stream as in the single-process agent. */
  run$(): Observable<never> {
    const pushed = new Map(this.ctx.config.sources.flatMap((s) => (s.kind === 'ws' ? [[s.id, s.fps] as const] : [])));
    const frames$ = this.ingest.frames$.pipe(throttleFps((id) => pushed.get(id) ?? DEFAULT_SOURCE_FPS));
    return publishFrames(frames$, { conn: this.ctx.conn, run: this.run, metrics: this.ctx.scale, log: this.ctx.log });
  }
}
