import { z } from 'zod';
import { REPLAY_POLICIES } from '../src/types/ReplayPolicy';
import { MODEL_SIZE_NAMES, PRESET_TRAIN_DEFAULTS, RECIPE_NAMES } from '../src/types/ModelNames';
import { natsSchema } from './natsSchema';

/**
 * The agent's configuration, validated at start. Every field has a default, so an empty file is a valid
 * configuration (the embedded default: a synthetic camera, the dashboard and the ws server on 127.0.0.1:8080).
 * Unknown fields are errors (a typo must not be silently ignored). See README "Configuration".
 */
const streamId = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'must be 1-64 characters of letters, digits, "_", "." or "-"' });
const fps = z.number().positive().max(120);
/** Frames per second of a source that does not set its own (and of a pushed stream no `ws` source declares). */
export const DEFAULT_SOURCE_FPS = 10;

/** A list from config (an array) or from env and flags (a comma-separated string). */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter((x) => x.length > 0) : v), z.array(item)).default([]);
const hostName = z
  .string()
  .regex(/^(\*|\.?[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+\]?)$/, { error: 'must be a host name (dash.example.com), a domain with a leading dot (.example.com), an address, or "*"' });
const pageOrigin = z.string().refine((v) => v === '*' || /^https?:\/\/[^/?#\s]+\/?$/i.test(v), {
  error: 'must be an origin: scheme, host and optional port, no path (https://dash.example.com, http://10.0.0.5:3000), or "*"',
});

/** A polygon in normalised coordinates ([x, y] in [0, 1], (0, 0) top left) blanked before training, embedding and detection. */
const unit = z.number().min(0).max(1);
const polygon = z.array(z.tuple([unit, unit])).min(3, { error: 'a mask polygon needs at least 3 [x, y] points' });
const mask = z.array(polygon).max(64).default([]);

const sourceBase = { id: streamId.optional(), fps: fps.default(DEFAULT_SOURCE_FPS), mask };

export const sourceSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('url'),
      ...sourceBase,
      /** rtsp://, rtsps://, http(s)://, or anything else ffmpeg can open. */
      url: z.string().min(1),
      watchdogSec: z.number().positive().default(5),
      maxAttempts: z.number().int().positive().nullable().default(null),
    })
    .strict(),
  z
    .object({
      kind: z.literal('file'),
      ...sourceBase,
      path: z.string().min(1),
      loop: z.boolean().default(true),
      /** Play at the file's own speed (like a camera) rather than as fast as it decodes. */
      realtime: z.boolean().default(true),
    })
    .strict(),
  z
    .object({
      kind: z.literal('folder'),
      ...sourceBase,
      path: z.string().min(1),
      loop: z.boolean().default(true),
      shuffle: z.boolean().default(true),
    })
    .strict(),
  /** Frames pushed to /ingest/<id>; `fps` caps what is used of them (a client may push faster). */
  z.object({ kind: z.literal('ws'), id: streamId, fps: fps.default(DEFAULT_SOURCE_FPS), mask }).strict(),
  z
    .object({
      kind: z.literal('synthetic'),
      ...sourceBase,
      seed: z.number().int().default(1),
      /** Change the scene every this many seconds (null: never), so a demo shows drift events. */
      sceneEverySec: z.number().positive().nullable().default(120),
    })
    .strict(),
]);
export type SourceConfig = z.infer<typeof sourceSchema>;

export const configSchema = z
  .object({
    model: z
      .object({
        /** Named architecture (src/model/modelSizes.ts). */
        size: z.enum(MODEL_SIZE_NAMES).default('small'),
        /**
         * Start the student and teacher from pretrained weights: a DINO .pth (facebookresearch/dino) or a DINOv2
         * model.safetensors (Hugging Face facebook/dinov2-*). `size` must be the preset of the same shape. A
         * checkpoint in checkpoint.dir, when resumed, takes precedence.
         */
        init: z.string().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    train: z
      .object({
        recipe: z.enum(RECIPE_NAMES).default('stream'),
        /** Default 16; the pretrained presets' own where a step of 16 would not fit the wasm heap (vits16/14: 8, vits8: 2). */
        batchSize: z.number().int().min(2).max(1024).optional(),
        /** Training steps per new frame entering the pipeline (0.5 = one step per 2 frames). */
        updatesPerFrame: z.number().positive().max(16).default(0.5),
        /** Replay buffer capacity in frames (memory: frameSize^2 * 3 bytes each). */
        bufferSize: z.number().int().min(2).max(200000).default(2048),
        bufferPolicy: z.enum(REPLAY_POLICIES).default('min-redundancy'),
        /** Horizon of the cosine schedules, in steps; they hold their final value afterwards. */
        horizonSteps: z.number().int().positive().default(100000),
        /** Frames are scaled to frameSize x frameSize by the sources (crops are cut from these). Default 64; 224 for the pretrained presets. */
        frameSize: z.number().int().min(8).max(1024).optional(),
        /** Set to pause training (embedding and detection continue with the loaded teacher). */
        enabled: z.boolean().default(true),
        seed: z.number().int().default(0),
        /**
         * Failed training steps in a row (each retried with back-off) before the agent writes a checkpoint and
         * exits non-zero, for a supervisor to restart it.
         */
        maxStepFailures: z.number().int().min(1).max(1000).default(5),
        /** A step (or any other request to the trainer worker) that takes longer than this has failed. */
        stepTimeoutSec: z.number().positive().max(86400).default(120),
      })
      .strict()
      .prefault({}),
    backend: z
      .object({
        name: z.enum(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']).default('auto'),
        /** wasm threads; 0 = one per core. */
        threads: z.number().int().min(0).max(256).default(0),
        /** Use the native kernels (N-API addon) on the wasm backend when they built. */
        native: z.boolean().default(true),
        /** Matmul precision: auto (bf16 where the CPU has AVX512_BF16), fp32, or bf16 (emulated, slower, elsewhere). */
        precision: z.enum(['auto', 'fp32', 'bf16']).default('auto'),
      })
      .strict()
      .prefault({}),
    sources: z.array(sourceSchema).default([{ kind: 'synthetic', id: 'synthetic', fps: 10, mask: [], seed: 1, sceneEverySec: 120 }]),
    embed: z
      .object({
        /** Embeddings published per second per stream (the latest frame of each stream is embedded). */
        fps: z.number().positive().max(60).default(5),
        /** Copy the teacher from the trainer to the embedder every this many seconds. */
        teacherRefreshSec: z.number().positive().default(30),
        /** Compute the CLS attention map of one stream's latest frame every this many seconds (0: never). */
        attentionEverySec: z.number().min(0).default(2),
        /** Thumbnails for the dashboard's live view, per stream per second (0: none). */
        thumbnailFps: z.number().min(0).max(30).default(2),
        /** Streams opened by ingest clients (server.openIngest) embedded per round at most, in rounds apart from the configured streams'. */
        openStreamsPerRound: z.number().int().min(1).default(4),
      })
      .strict()
      .prefault({}),
    detect: z
      .object({
        noveltyK: z.number().int().min(1).default(5),
        /** Frames per stream in the novelty memory bank (re-embedded at every teacher refresh). */
        noveltyBank: z.number().int().min(64, { error: 'must be at least 64: the calibration of novelty scores needs 64 of them' }).max(16384).default(512),
        /** Calibrated novelty threshold: the percentile of recent scores above which a frame is novel. */
        noveltyThreshold: z.number().gt(0).lt(1).default(0.995),
        /** Seconds from a stream's first frame before it may raise novelty events. */
        noveltyWarmupSec: z.number().min(0).default(60),
        /** A novelty event's score must exceed the score at noveltyThreshold's percentile by this fraction of it (3: four times it). */
        noveltyMargin: z.number().min(0).max(100).default(3),
        /** Seconds after a stream's novelty event during which it raises no other. */
        noveltyCooldownSec: z.number().min(0).default(30),
        /** Reference window of the drift test, in embedded frames (at embed.fps: 120 = 24 s at 5 fps). */
        driftWindow: z.number().int().min(10).default(120),
        /** Recent window compared with the reference, in embedded frames. */
        driftRecentWindow: z.number().int().min(5).default(30),
        driftTestEvery: z.number().int().min(1).default(5),
        driftAlpha: z.number().gt(0).lt(1).default(0.01),
        driftPermutations: z.number().int().min(20).default(100),
        /** Minimum effect size (MMD^2) for a drift event: consecutive video frames are not independent, so a p-value alone fires on any live scene. */
        driftMinStatistic: z.number().min(0).default(0.05),
        /**
         * Scene-relative effect size: a drift must reach this many times the MMD^2 that a block of the reference
         * reaches against the rest of it (the scene's own change over time); 0 turns it off (p-value and
         * driftMinStatistic only). Needs driftWindow >= 2 * driftRecentWindow.
         */
        driftMargin: z.number().min(0).default(2),
        /** Steps during which collapse alerts are not raised (the loss starts near ln(out_dim)). */
        collapseWarmupSteps: z.number().int().min(0).default(300),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Required from clients when set (env DINO_TOKEN). Mandatory when host is not loopback, unless insecure. */
        token: z.string().min(8, { error: 'must be at least 8 characters' }).optional(),
        insecure: z.boolean().default(false),
        maxClients: z.number().int().min(1).default(256),
        /** Host header names accepted besides loopback names and host (DNS rebinding guard); "*" turns the check off. */
        allowedHosts: list(hostName),
        /** Page origins that may open the websockets besides the same origin and loopback pages; "*" turns the check off. */
        allowedOrigins: list(pageOrigin),
        /** Concurrent /ingest connections. */
        maxIngestConnections: z.number().int().min(1).default(16),
        /** Accept /ingest/<id> for any valid id, not only the declared ws: sources (then at most maxStreams of them). */
        openIngest: z.boolean().default(false),
        /** Undeclared ingest streams kept at once with openIngest; the least recently used one is forgotten for a new one. */
        maxStreams: z.number().int().min(1).max(4096).default(64),
        /** An ingest producer that sends no frame for this long is closed, freeing its stream id (0: never). */
        ingestIdleSec: z.number().min(0).default(10),
        /** Open websockets from one remote address, all endpoints together (0: no cap). */
        maxConnectionsPerAddress: z.number().int().min(0).default(32),
        /** Messages per second a subscriber (/embeddings, /events, /ui) may send; bursts of twice that. */
        messagesPerSec: z.number().positive().default(20),
        /** Frames per second one ingest connection may send; bursts of twice that. */
        ingestMessagesPerSec: z.number().positive().default(60),
        /** Largest ingest image in pixels, read from its header before decoding; null: 1024 x frameSize^2 (at least 1 MP). */
        maxInputPixels: z.number().int().min(1).nullable().default(null),
      })
      .strict()
      .prefault({}),
    checkpoint: z
      .object({
        dir: z.string().min(1).default('checkpoints'),
        everySec: z.number().positive().default(300),
        keep: z.number().int().min(1).default(3),
        /** Load the latest checkpoint of dir at start when it matches the model. */
        resume: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** pretty: readable lines; json: one JSON object per line (for log collectors). */
        format: z.enum(['pretty', 'json']).default('pretty'),
        /** One status line every this many seconds (0: none). */
        statusEverySec: z.number().min(0).default(10),
      })
      .strict()
      .prefault({}),
    events: z
      .object({
        /** Where novelty and drift events are stored with their JPEG snapshots. */
        dir: z.string().min(1).default('events'),
        /** Retention: the oldest events go beyond any of these. */
        maxCount: z.number().int().min(1).default(1000),
        maxBytes: z.number().int().min(1024).default(256 * 1024 * 1024),
        maxAgeDays: z.number().positive().default(30),
        jpegQuality: z.number().int().min(1).max(100).default(85),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({
        /** The agent's URL as notification receivers reach it (for snapshot URLs); null: http://<server.host>:<port>. */
        publicUrl: z.url().nullable().default(null),
        mqtt: z
          .object({
            /** mqtt://host:port (flag --mqtt); null: off. */
            url: z.string().regex(/^(mqtts?|wss?):\/\/[^/]+/, { error: 'must be mqtt://host:port (or mqtts://, ws://, wss://)' }).nullable().default(null),
            username: z.string().optional(),
            password: z.string().optional(),
            clientId: z.string().optional(),
            topicPrefix: z.string().regex(/^[^#+]+$/, { error: 'must not contain MQTT wildcards (# or +)' }).default('dino-stream'),
            /** Publish Home Assistant discovery configs: a novelty binary sensor and a camera-state sensor per stream. */
            homeAssistant: z.boolean().default(false),
            discoveryPrefix: z.string().default('homeassistant'),
          })
          .strict()
          .prefault({}),
        webhooks: z
          .array(
            z
              .object({
                url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
                /** Signs each POST: X-Dino-Signature-256: sha256=<HMAC-SHA256(secret, body) in hex>. */
                secret: z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
                types: z.array(z.enum(['novelty', 'drift', 'camera', 'collapse'])).min(1).default(['novelty', 'drift']),
                timeoutMs: z.number().int().min(100).default(5000),
                maxAttempts: z.number().int().min(1).max(20).default(5),
                queueSize: z.number().int().min(1).max(10000).default(100),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .prefault({}),
    state: z
      .object({
        /** Sources added or removed at run time (POST/DELETE /api/sources), kept across restarts. */
        sourcesFile: z.string().min(1).default('state/sources.json'),
      })
      .strict()
      .prefault({}),
    probe: z
      .object({
        /** An image folder (DIR/train/<class>/*, DIR/test/<class>/*) for a live k-NN accuracy probe; null: off. */
        dir: z.string().nullable().default(null),
        everySec: z.number().positive().default(60),
        perClass: z.number().int().positive().default(50),
      })
      .strict()
      .prefault({}),
    /** Scale-out over NATS JetStream (config/natsSchema.ts); no url: one process, no broker. */
    nats: natsSchema,
  })
  .strict()
  // defaults that depend on the model: a pretrained preset's frames and batch
  .transform((c) => {
    const preset = PRESET_TRAIN_DEFAULTS[c.model.size];
    return { ...c, train: { ...c.train, batchSize: c.train.batchSize ?? preset?.batchSize ?? 16, frameSize: c.train.frameSize ?? preset?.frameSize ?? 64 } };
  });

export type AgentConfig = z.infer<typeof configSchema>;
export type AgentConfigInput = z.input<typeof configSchema>;
