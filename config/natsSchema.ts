import { z } from 'zod';

/** The roles a process of a scaled-out agent can take (`all`: every one, in one process, over the broker). */
export const ROLE_NAMES = ['ingest', 'embed', 'train', 'detect', 'gateway'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const roleList = z
  .preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x.length > 0) : v),
    z.array(z.enum([...ROLE_NAMES, 'all'], { error: `must be a comma list of ${ROLE_NAMES.join(', ')} or all` })).min(1),
  )
  .transform((roles): RoleName[] => (roles.includes('all') ? [...ROLE_NAMES] : [...new Set(roles as RoleName[])]))
  .default(['ingest', 'embed', 'train', 'detect', 'gateway']);

/**
 * Scale-out over NATS JetStream (README "Scaling out"). With `url` null (the default) the agent is one process and
 * needs no broker; with a url, the process runs `roles` and exchanges frames, embeddings, events and teachers
 * through the broker.
 */
export const natsSchema = z
  .object({
    /** nats://host:4222 or tls://host:4222 (a comma list for a cluster); null: the single-process agent. */
    url: z.string().min(1).nullable().default(null),
    roles: roleList,
    /** This process's name in health reports and metrics (default: hostname-pid). */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 letters, digits, "_" or "-"' })
      .nullable()
      .default(null),
    /** The broker's token (env DINO_NATS_TOKEN); never logged. */
    token: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    /** With user (env DINO_NATS_PASSWORD); never logged. */
    password: z.string().min(1).optional(),
    /** A file holding an nkey seed (SU...): the broker authenticates by signature; the seed never leaves the file. */
    nkeySeedFile: z.string().min(1).nullable().default(null),
    /** TLS to the broker: a CA to trust, and a client certificate and key for mutual TLS. */
    tls: z
      .object({
        caFile: z.string().min(1).nullable().default(null),
        certFile: z.string().min(1).nullable().default(null),
        keyFile: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    /** Frames kept per stream in FRAMES; beyond it the oldest is dropped, so a frame waits behind at most this many. */
    framesPerStream: z.number().int().min(1).max(10000).default(30),
    framesMaxAgeSec: z.number().positive().default(60),
    /**
     * A frame that waited longer than this in FRAMES (from the broker's receipt to a worker taking it) is skipped,
     * acknowledged and counted (dino_scale_frames_stale_total): under overload, latency stays bounded and stale
     * frames are dropped, never queued. Above ackWaitSec, so that a dead worker's frames are still embedded by another.
     */
    maxFrameAgeSec: z.number().positive().default(5),
    /** Embeddings kept for late readers in EMB. */
    embMaxAgeSec: z.number().positive().default(600),
    eventsMaxAgeSec: z.number().positive().default(7 * 24 * 3600),
    eventsMax: z.number().int().min(100).default(100000),
    /** A redelivered frame published within this window is recognised by its id and stored once. */
    duplicateWindowSec: z.number().positive().default(120),
    /** Frames an embed worker embeds at once, at most. */
    embedBatch: z.number().int().min(1).max(256).default(8),
    /**
     * A frame a worker took and did not acknowledge within this goes to another worker (a worker at work says so
     * every half of it; one embedding batch that blocks longer, a large model on a slow machine, needs more).
     */
    ackWaitSec: z.number().positive().default(3),
    /** Frames taken and not yet acknowledged, all embed workers together. */
    maxAckPending: z.number().int().min(1).default(256),
    /** Deliveries of one frame before it is given up (a frame that keeps failing). */
    maxDeliver: z.number().int().min(1).default(5),
    /** The trainer's lock expires this long after its holder stops renewing it (a crashed trainer). */
    lockTtlSec: z.number().min(1).default(10),
    /** Teacher objects kept in the Object Store (the current one and the ones before it). */
    keepTeachers: z.number().int().min(1).default(3),
    /** This detect process's shard of the streams, "index/count" (0/1: all of them). */
    detectShard: z
      .string()
      .regex(/^\d+\/[1-9]\d*$/, { error: 'must be index/count, e.g. 0/2 and 1/2 for two detect processes' })
      .refine((s) => Number(s.split('/')[0]) < Number(s.split('/')[1]), { error: 'the index must be below the count (0/2, 1/2)' })
      .default('0/1'),
    /** Health heartbeat of each role to the broker. */
    heartbeatSec: z.number().positive().default(5),
  })
  .strict()
  .refine((n) => n.maxFrameAgeSec > n.ackWaitSec, {
    path: ['maxFrameAgeSec'],
    error: 'must be above nats.ackWaitSec, or the frames of a dead worker would be stale when they come back: raise it or lower ackWaitSec',
  })
  .prefault({});

export type NatsConfig = z.infer<typeof natsSchema>;
