import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConfig } from '../../config/natsSchema';

const SEC = 1e9; // JetStream durations are nanoseconds

/**
 * The broker's layout for a scaled-out agent. Stream ids go into subjects as they are: they may hold dots, so a
 * reader takes the stream id from the message, never from the subject's tokens.
 *
 *   FRAMES    frames.<stream>       ingest -> embed workers (competing) and the trainer
 *   EMBEDDED  embedded.<stream>     embed workers -> detect shards (the embedding with its frame, for the detectors' memories)
 *   EMB       emb.<stream>          detect -> gateway (the wire embedding, scored; header Dino-Teacher-Step)
 *   EVENTS    events.<stream>.<type>  novelty and drift (detect), camera (ingest), collapse (train)
 *   core NATS (at most once, nothing kept): stats.train, thumb.<stream>, attention.<stream>
 *   KV `dino`: teacher.current (the teacher object's name, step and SHA-256); KV `dino-lock`: trainer (TTL);
 *   KV `dino-roles`: <role>.<instance> heartbeats (TTL); Object Store `dino-teachers`: teacher-<step>.
 */
export const TOPOLOGY = {
  frames: { stream: 'FRAMES', subject: (id: string) => `frames.${id}`, all: 'frames.>' },
  embedded: { stream: 'EMBEDDED', subject: (id: string) => `embedded.${id}`, all: 'embedded.>' },
  emb: { stream: 'EMB', subject: (id: string) => `emb.${id}`, all: 'emb.>' },
  events: { stream: 'EVENTS', subject: (id: string, type: string) => `events.${id}.${type}`, all: 'events.>' },
  stats: 'stats.train',
  thumbnail: (id: string) => `thumb.${id}`,
  thumbnails: 'thumb.>',
  attention: (id: string) => `attention.${id}`,
  attentions: 'attention.>',
  /** The durable consumer the embed workers share. */
  embedConsumer: 'embed',
  /** One durable consumer per detect shard. */
  detectConsumer: (shard: number, of: number) => `detect-${shard}-of-${of}`,
  kv: 'dino',
  teacherKey: 'teacher.current',
  lockBucket: 'dino-lock',
  lockKey: 'trainer',
  rolesBucket: 'dino-roles',
  objects: 'dino-teachers',
  /** Events from no particular stream (collapse) go to events.<this>.<type>. */
  agentSubject: '_agent',
} as const;

/** Header carrying the teacher step an embedding was computed with (also inside the wire message). */
export const TEACHER_STEP_HEADER = 'Dino-Teacher-Step';
/** Header naming the embed worker (its instance) that embedded a frame, on EMBEDDED: for operators and tests. */
export const EMBEDDED_BY_HEADER = 'Dino-Embedded-By';

/** The streams' configurations, from the settings. */
export function streamConfigs(n: NatsConfig): StreamConfig[] {
  const limits = (name: string, subject: string, maxAgeSec: number) => ({
    name,
    subjects: [subject],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: 1,
    discard: DiscardPolicy.Old,
    max_age: maxAgeSec * SEC,
    // the broker refuses a de-duplication window longer than what the stream keeps
    duplicate_window: Math.min(n.duplicateWindowSec, maxAgeSec) * SEC,
  });
  return [
    // a stream's frames beyond framesPerStream drop the oldest: a frame waits behind at most that many, never piles up
    { ...limits(TOPOLOGY.frames.stream, TOPOLOGY.frames.all, n.framesMaxAgeSec), max_msgs_per_subject: n.framesPerStream },
    { ...limits(TOPOLOGY.embedded.stream, TOPOLOGY.embedded.all, n.framesMaxAgeSec), max_msgs_per_subject: n.framesPerStream },
    limits(TOPOLOGY.emb.stream, TOPOLOGY.emb.all, n.embMaxAgeSec),
    { ...limits(TOPOLOGY.events.stream, TOPOLOGY.events.all, n.eventsMaxAgeSec), max_msgs: n.eventsMax },
  ] as StreamConfig[];
}

/** Creates the streams (or brings an existing one to this configuration) and the embed workers' consumer. Idempotent. */
export async function ensureTopology(jsm: JetStreamManager, n: NatsConfig): Promise<void> {
  for (const cfg of streamConfigs(n)) {
    try {
      await jsm.streams.add(cfg);
    } catch (e) {
      // 10058: the stream exists with another configuration (settings changed): update it in place
      if (!(e instanceof JetStreamApiError) || e.code !== 10058) throw e;
      const { name, ...update } = cfg;
      await jsm.streams.update(name, update);
    }
  }
  await ensureConsumer(jsm, TOPOLOGY.frames.stream, TOPOLOGY.embedConsumer, n);
}

/** A durable pull consumer with explicit acks (created, or updated to these settings). */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, durable: string, n: NatsConfig): Promise<void> {
  const cfg = {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    // frames already in the stream when the consumer is first made are embedded too
    deliver_policy: DeliverPolicy.All,
    ack_wait: n.ackWaitSec * SEC,
    max_ack_pending: n.maxAckPending,
    // a frame that failed this often is given up (and counted by the worker), not retried forever
    max_deliver: n.maxDeliver,
  };
  try {
    await jsm.consumers.info(stream, durable);
    await jsm.consumers.update(stream, durable, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending, max_deliver: cfg.max_deliver });
  } catch (e) {
    // 10014: no such consumer
    if (!(e instanceof JetStreamApiError) || e.code !== 10014) throw e;
    await jsm.consumers.add(stream, cfg);
  }
}
