import * as path from 'node:path';
import type pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Subject, merge, share, interval, timer, type Subscription } from 'rxjs';
import type { AgentConfig } from '../../config/schema';
import { selectBackend, type BackendInfo } from '../backend';
import { modelSize } from '../model/modelSizes';
import { recipe } from '../train/recipes';
import { CollapseMonitor } from '../detect/CollapseMonitor';
import { ReplayBuffer } from '../../streams/ReplayBuffer';
import { trainingLoop, type TrainingLoopStats } from '../../streams/trainingLoop';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import type { CameraStateName } from '../types/CameraStateName';
import { AgentServer } from '../serve/AgentServer';
import { buildSources, type AgentSource } from './buildSources';
import { EmbeddingService } from './EmbeddingService';
import { EmbedLoop } from './EmbedLoop';
import { StreamDetectors } from './StreamDetectors';
import { AgentMetrics } from './AgentMetrics';
import { WorkerTrainer, type TrainerHandle } from '../train/WorkerTrainer';
import { statusLine } from './statusLine';
import { createLogger } from './createLogger';
import { LiveProbe } from '../probe/LiveProbe';
import { registerSecret, registerUrlCredentials } from '../util/redactSecrets';
import type { AgentEvent, AgentHub, AttentionMessage, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../types/messages';

export interface AgentStarted {
  url: string;
  port: number;
  backend: BackendInfo;
  step: number;
  resumedFrom?: string;
}

/**
 * The live agent: sources -> replay buffer -> trainer (worker thread) -> teacher copy -> embeddings, detectors
 * -> hub -> ws server and dashboard. Built from a validated AgentConfig; start() and stop() are its whole life.
 */
export class Agent {
  readonly log: pino.Logger;
  readonly registry = new Registry();
  private readonly embeddings = new Subject<EmbeddingMessage>();
  private readonly events = new Subject<AgentEvent>();
  private readonly stats = new Subject<StatsMessage>();
  private readonly thumbnails = new Subject<ThumbnailMessage>();
  private readonly attention = new Subject<AttentionMessage>();
  readonly hub: AgentHub = {
    embeddings$: this.embeddings.asObservable(),
    events$: this.events.asObservable(),
    stats$: this.stats.asObservable(),
    thumbnails$: this.thumbnails.asObservable(),
    attention$: this.attention.asObservable(),
  };
  private readonly subs: Subscription[] = [];
  private trainer: TrainerHandle | null = null;
  private embedding: EmbeddingService | null = null;
  private loop: EmbedLoop | null = null;
  private server: AgentServer | null = null;
  private sources: AgentSource[] = [];
  private lastStats: StatsMessage | undefined;
  private readonly streamFrames = new Map<string, { count: number; since: number; fps: number; state?: CameraStateName }>();
  private lastDropped: Record<string, number> = {};
  private stopping: Promise<void> | null = null;
  // live k-NN probe (config probe.dir): latest top-1 as a fraction, put into the following stats messages
  private probeTop1: number | undefined;
  private probing = false;

  constructor(readonly config: AgentConfig, log?: pino.Logger) {
    this.log = log ?? createLogger(config.log.level, config.log.format);
    registerSecret(config.server.token);
    for (const s of config.sources) if (s.kind === 'url') registerUrlCredentials(s.url);
  }

  async start(): Promise<AgentStarted> {
    const cfg = this.config;
    const log = (msg: string) => this.log.info(msg);
    collectDefaultMetrics({ register: this.registry });
    const metrics = new AgentMetrics(this.registry);
    this.subs.push(this.events.subscribe((e) => metrics.onEvent(e)));
    this.subs.push(this.stats.subscribe((s) => metrics.onStats(s)));

    const model = modelSize(cfg.model.size);
    // The probe set is decoded before anything starts, so a bad probe.dir fails the start with its layout error.
    const probe = cfg.probe.dir ? await LiveProbe.load({ dir: path.resolve(cfg.probe.dir), perClass: cfg.probe.perClass, size: model.crops.globalSize }) : null;
    const backendOpts = { backend: cfg.backend.name, threads: cfg.backend.threads || undefined, native: cfg.backend.native };
    const backend = await selectBackend({ ...backendOpts, log: (m) => this.log.info(`embedder ${m}`) });
    const trainerOptions = recipe(cfg.train.recipe, { model, batchSize: cfg.train.batchSize, horizonSteps: cfg.train.horizonSteps, seed: cfg.train.seed });
    this.trainer = await WorkerTrainer.start(
      {
        trainer: trainerOptions,
        backend: backendOpts,
        checkpoint: { dir: path.resolve(cfg.checkpoint.dir), keep: cfg.checkpoint.keep, resume: cfg.checkpoint.resume },
      },
      (m) => this.log.info(`trainer ${m}`),
    );
    const ready = this.trainer.ready;
    if (ready.resumedFrom) log(`resumed from checkpoint ${ready.resumedFrom} (step ${ready.step})`);

    this.embedding = new EmbeddingService(trainerOptions.model);
    this.embedding.load(await this.trainer.snapshot());
    metrics.onTeacher(this.embedding.version);
    const detectors = new StreamDetectors(cfg.detect);
    const sinks = { embeddings: this.embeddings, events: this.events, thumbnails: this.thumbnails, attention: this.attention };
    this.loop = new EmbedLoop(cfg.embed, this.embedding, detectors, sinks, metrics, this.log);

    const size = cfg.train.frameSize;
    const srv = cfg.server;
    const ingest = new WebSocketIngest({
      width: size,
      height: size,
      declared: cfg.sources.flatMap((s) => (s.kind === 'ws' ? [s.id] : [])),
      open: srv.openIngest,
      maxStreams: srv.maxStreams,
      idleTimeoutMs: srv.ingestIdleSec * 1000,
      messagesPerSecond: srv.ingestMessagesPerSec,
      messageBurst: Math.max(1, 2 * srv.ingestMessagesPerSec),
      maxInputPixels: srv.maxInputPixels ?? undefined,
      logger: this.log,
    });
    this.sources = buildSources(cfg, this.log, ingest);
    for (const s of this.sources) {
      if (s.start) this.subs.push(s.start());
      if (s.state$) {
        this.subs.push(
          s.state$.subscribe((st) => {
            this.streamEntry(st.streamId).state = st.state;
            this.events.next({ type: 'camera', streamId: st.streamId, t: st.t, state: st.state, detail: st.detail });
          }),
        );
      }
    }
    // declared ws streams are fed by the ingest route: show them before their first frame
    for (const s of this.sources) if (s.kind === 'ws') this.streamEntry(s.id);
    const frames$ = merge(...this.sources.filter((s) => s.kind !== 'ws').map((s) => s.frames$), ingest.frames$).pipe(share());
    this.subs.push(
      frames$.subscribe((f) => {
        this.loop!.offer(f);
        this.streamEntry(f.streamId).count++;
      }),
    );

    const collapse = new CollapseMonitor({ warmupSteps: cfg.detect.collapseWarmupSteps });
    if (cfg.train.enabled) {
      const buffer = new ReplayBuffer({ capacity: cfg.train.bufferSize, policy: cfg.train.bufferPolicy, width: size, height: size });
      const trainer = this.trainer;
      const loop$ = trainingLoop({
        frames$,
        buffer,
        batchSize: cfg.train.batchSize,
        updatesPerFrame: cfg.train.updatesPerFrame,
        runner: { step: async (frames) => ({ ...(await trainer.step(frames)) }) },
      });
      this.subs.push(
        loop$.subscribe({
          next: (s) => this.onTrainingStats(s, collapse),
          error: (e: unknown) => this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'training stopped'),
        }),
      );
    }

    const every = (ms: number, fn: () => unknown) => this.subs.push(interval(ms).subscribe(() => void fn()));
    every(1000 / cfg.embed.fps, () => this.loop!.tick());
    if (cfg.embed.thumbnailFps > 0) every(1000 / cfg.embed.thumbnailFps, () => this.loop!.thumbnails());
    this.scheduleTeacherRefresh(metrics, Math.min(5, cfg.embed.teacherRefreshSec));
    every(cfg.checkpoint.everySec * 1000, () => this.checkpoint());
    every(1000, () => this.updateFps());
    if (cfg.log.statusEverySec > 0) every(cfg.log.statusEverySec * 1000, () => log(this.status()));
    if (probe) {
      log(`probe: ${probe.train.images.length} train / ${probe.test.images.length} test images of ${cfg.probe.dir}, k-NN top-1 every ${cfg.probe.everySec} s`);
      every(cfg.probe.everySec * 1000, () => this.runProbe(probe, metrics));
      void this.runProbe(probe, metrics); // the random-init / resumed baseline, so the curve starts at once
    }

    this.server = new AgentServer({
      hub: this.hub,
      ingest,
      host: cfg.server.host,
      port: cfg.server.port,
      token: cfg.server.token,
      insecure: cfg.server.insecure,
      allowedHosts: srv.allowedHosts,
      allowedOrigins: srv.allowedOrigins,
      limits: {
        maxClients: srv.maxClients,
        maxIngestConnections: srv.maxIngestConnections,
        maxConnectionsPerAddress: srv.maxConnectionsPerAddress,
        messagesPerSecond: srv.messagesPerSec,
        messageBurst: Math.max(1, 2 * srv.messagesPerSec),
      },
      registry: this.registry,
      log: this.log,
    });
    const { port, host } = await this.server.start();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    log(`dashboard ${url} | ws ${url.replace('http', 'ws')}embeddings, /events, /ingest/<stream> | metrics ${url}metrics`);
    return { url, port, backend, step: ready.step, resumedFrom: ready.resumedFrom };
  }

  private streamEntry(id: string) {
    let e = this.streamFrames.get(id);
    if (!e) {
      e = { count: 0, since: Date.now(), fps: 0 };
      this.streamFrames.set(id, e);
    }
    return e;
  }

  private updateFps(): void {
    const now = Date.now();
    for (const e of this.streamFrames.values()) {
      const dt = (now - e.since) / 1000;
      if (dt >= 2) {
        e.fps = e.count / dt;
        e.count = 0;
        e.since = now;
      }
    }
  }

  private streamsSummary(): StatsMessage['streams'] {
    const out: StatsMessage['streams'] = {};
    for (const [id, e] of this.streamFrames) out[id] = { fps: e.fps, dropped: this.lastDropped[id] ?? 0, frames: e.count, state: e.state };
    return out;
  }

  private onTrainingStats(s: TrainingLoopStats, collapse: CollapseMonitor): void {
    const r = s.stats;
    this.lastDropped = s.dropped;
    const msg: StatsMessage = {
      t: Date.now(),
      step: r.step + 1,
      loss: r.loss,
      lossOverLnK: r['lossOverLnK']!,
      teacherEntropy: r['teacherEntropy']!,
      embeddingStd: r['embeddingStd']!,
      healthyStd: r['healthyStd']!,
      lnOutDim: r['lnOutDim']!,
      lr: r['lr']!,
      momentum: r['momentum']!,
      teacherTemp: r['teacherTemp']!,
      stepMs: s.stepMs,
      imagesPerSec: s.imagesPerSec,
      streams: this.streamsSummary(),
      bufferSize: s.bufferSize,
    };
    if (this.probeTop1 !== undefined) msg.probeTop1 = this.probeTop1;
    this.lastStats = msg;
    this.stats.next(msg);
    const c = collapse.update({
      loss: msg.loss,
      teacherEntropy: msg.teacherEntropy,
      embeddingStd: msg.embeddingStd,
      lnOutDim: msg.lnOutDim,
      dim: Math.round(1 / msg.healthyStd ** 2),
      step: msg.step,
      t: msg.t,
    });
    if (c.event) {
      const e = c.event;
      (e.active ? this.log.warn.bind(this.log) : this.log.info.bind(this.log))(`collapse monitor: ${e.message}`);
      this.events.next({
        type: 'collapse',
        t: msg.t,
        state: e.active ? 'collapsed' : 'healthy',
        reason: e.message,
        step: msg.step,
        monitors: { loss: msg.loss, teacherEntropy: msg.teacherEntropy, embeddingStd: msg.embeddingStd, lnOutDim: msg.lnOutDim },
      });
    }
  }

  /** The teacher moves fastest early in training: refresh after 5 s, then at doubling intervals up to the setting. */
  private scheduleTeacherRefresh(metrics: AgentMetrics, sec: number): void {
    const sub = timer(sec * 1000).subscribe(async () => {
      await this.refreshTeacher(metrics);
      if (!this.stopping) this.scheduleTeacherRefresh(metrics, Math.min(sec * 2, this.config.embed.teacherRefreshSec));
    });
    this.subs.push(sub);
  }

  private async refreshTeacher(metrics: AgentMetrics): Promise<void> {
    if (!this.trainer || !this.embedding || !this.loop || this.stopping) return;
    try {
      const snap = await this.trainer.snapshot();
      if (snap.step === this.embedding.version) return;
      await this.loop.adoptTeacher(snap);
      metrics.onTeacher(snap.step);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'teacher refresh failed');
    }
  }

  /**
   * One live probe round with the main-thread teacher copy. Each batch takes the embedder's lock on its own, so
   * embedding ticks interleave with a long probe; a teacher refresh in between voids the attempt, which is retried.
   */
  private async runProbe(probe: LiveProbe, metrics: AgentMetrics): Promise<void> {
    const loop = this.loop;
    const embedding = this.embedding;
    if (!loop || !embedding || this.stopping || this.probing || embedding.version < 0) return;
    this.probing = true;
    try {
      const size = probe.imageSize;
      const embed = (images: Uint8Array[]) =>
        loop.exclusive(async () => {
          if (this.stopping) throw new Error('agent stopping');
          const frames = images.map((rgb, index) => ({ streamId: 'probe', t: Date.now(), index, width: size, height: size, rgb }));
          return (await embedding.embed(frames)).normalized;
        });
      let r = null;
      for (let attempt = 0; attempt < 3 && !r && !this.stopping; attempt++) r = await probe.evaluate(embed, () => embedding.version);
      if (!r) return;
      // a fraction, as the dashboard and the Prometheus gauge read it (eval reports percent)
      this.probeTop1 = r.top1 / 100;
      metrics.onProbe(this.probeTop1);
      this.log.info(`probe: k-NN top-1 ${r.top1.toFixed(1)} % with the teacher of step ${r.teacherVersion} (${r.ms} ms)`);
    } catch (e) {
      if (!this.stopping) this.log.warn({ err: (e as Error).message }, 'probe round failed');
    } finally {
      this.probing = false;
    }
  }

  /** Write a checkpoint now (after any step in flight); a failure is logged, the agent keeps running. */
  async checkpoint(): Promise<string | null> {
    if (!this.trainer) return null;
    try {
      const file = await this.trainer.checkpoint();
      if (file) this.log.info(`checkpoint written: ${file}`);
      return file;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'checkpoint failed; the previous one is kept');
      return null;
    }
  }

  status(): string {
    return statusLine(this.lastStats, {
      teacherStep: this.embedding?.version ?? -1,
      clients: this.server ? Object.values(this.server.clientCounts()).reduce((a, b) => a + b, 0) : 0,
      streams: this.streamsSummary(),
    });
  }

  /** Stop sources and training, write a final checkpoint, close the server. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const s of this.subs.splice(0)) s.unsubscribe();
      if (this.trainer) {
        await this.checkpoint();
        await this.trainer.close();
      }
      await this.server?.stop();
      this.embedding?.dispose();
      for (const s of [this.embeddings, this.events, this.stats, this.thumbnails, this.attention]) s.complete();
    })();
    return this.stopping;
  }
}
