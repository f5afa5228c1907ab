import * as path from 'node:path';
import type pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { EMPTY, exhaustMap, interval, merge, tap, type Subscription } from 'rxjs';
import type { AgentConfig } from '../../config/schema';
import { selectBackend, type BackendInfo } from '../backend';
import { trainerOptionsFor } from '../train/trainerOptionsFor';
import { describeWeights } from '../pretrained/PretrainedWeights';
import { WorkerTrainer, type TrainerHandle, type WorkerTimeouts } from '../train/WorkerTrainer';
import type { TrainerServiceOptions } from '../train/TrainerService';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { AgentServer } from '../serve/AgentServer';
import { LiveProbe } from '../probe/LiveProbe';
import { createLogger } from '../util/Logger';
import { registerSecretsOf } from '../util/redactSecrets';
import { ingestSettings, serverSettings } from './serverSettings';
import type { AgentHub, StatsMessage } from '../types/messages';
import { EventStore } from '../events/EventStore';
import { LiveVideo } from '../serve/LiveVideo';
import { SourceSet } from './SourceSet';
import { Notifications } from './Notifications';
import { EmbeddingService } from './EmbeddingService';
import { StreamDetectors } from './StreamDetectors';
import { AgentMetrics } from './AgentMetrics';
import { PublisherMetrics } from './PublisherMetrics';
import { StreamRates } from './StreamRates';
import { agentPipeline, createSinks, type AgentSinks } from './agentPipeline';
import { statusLine } from './statusLine';

/** Parts a test (or an embedding application) may replace. */
export interface AgentDeps {
  /** How the trainer is started; default: WorkerTrainer.start, a worker thread. */
  startTrainer?: (o: TrainerServiceOptions, log: (msg: string) => void, timeouts: Partial<WorkerTimeouts>) => Promise<TrainerHandle>;
}

export interface AgentStarted {
  url: string;
  port: number;
  backend: BackendInfo;
  step: number;
  resumedFrom?: string;
}

/**
 * The live agent: builds the parts from a validated AgentConfig (the trainer worker, the teacher copy, the
 * detectors, the sources, the server), subscribes to the data path (`agentPipeline`) beside checkpoints and the
 * status line, and publishes through its hub. start() and stop() are its whole life.
 */
export class Agent {
  readonly log: pino.Logger;
  readonly registry = new Registry();
  private readonly sinks: AgentSinks = createSinks();
  readonly hub: AgentHub = {
    embeddings$: this.sinks.embeddings.asObservable(),
    events$: this.sinks.events.asObservable(),
    stats$: this.sinks.stats.asObservable(),
    thumbnails$: this.sinks.thumbnails.asObservable(),
    attention$: this.sinks.attention.asObservable(),
  };
  private readonly rates = new StreamRates();
  private readonly subs: Subscription[] = [];
  private trainer: TrainerHandle | null = null;
  private teacher: EmbeddingService | null = null;
  private server: AgentServer | null = null;
  private sources: SourceSet | null = null;
  private live: LiveVideo | null = null;
  private detectors: StreamDetectors | null = null;
  private notifications: Notifications | null = null;
  private lastStats: StatsMessage | undefined;
  private stopping: Promise<void> | null = null;
  private fail!: (e: Error) => void;
  /** Resolves when the agent cannot go on (training gave up); the CLI then checkpoints and exits non-zero. */
  readonly failed = new Promise<Error>((resolve) => (this.fail = resolve));

  constructor(
    readonly config: AgentConfig,
    log?: pino.Logger,
    private readonly deps: AgentDeps = {},
  ) {
    this.log = log ?? createLogger(config.log.level, config.log.format);
    registerSecretsOf(config);
  }

  async start(): Promise<AgentStarted> {
    const cfg = this.config;
    const log = (msg: string) => this.log.info(msg);
    collectDefaultMetrics({ register: this.registry });
    const metrics = new AgentMetrics(this.registry);
    this.subs.push(this.hub.events$.subscribe((e) => metrics.onEvent(e)));
    this.subs.push(
      this.hub.stats$.subscribe((s) => {
        this.lastStats = s;
        metrics.onStats(s);
      }),
    );

    const init = cfg.model.init ? path.resolve(cfg.model.init) : null;
    const { options: trainerOptions, weights } = trainerOptionsFor(
      cfg.model.size,
      cfg.train.recipe,
      { batchSize: cfg.train.batchSize, horizonSteps: cfg.train.horizonSteps, seed: cfg.train.seed },
      init,
    );
    if (weights) log(`model from --init ${describeWeights(weights)}`);
    const model = trainerOptions.model;
    // The probe set is decoded before anything starts, so a bad probe.dir fails the start with its layout error.
    const probe = cfg.probe.dir ? await LiveProbe.load({ dir: path.resolve(cfg.probe.dir), perClass: cfg.probe.perClass, size: model.crops.globalSize }) : null;
    const backendOpts = {
      backend: cfg.backend.name, threads: cfg.backend.threads || undefined, native: cfg.backend.native, precision: cfg.backend.precision,
    };
    const backend = await selectBackend({ ...backendOpts, log: (m) => this.log.info(`embedder ${m}`) });
    const stepMs = cfg.train.stepTimeoutSec * 1000;
    this.trainer = await (this.deps.startTrainer ?? WorkerTrainer.start)(
      {
        trainer: trainerOptions,
        backend: backendOpts,
        checkpoint: { dir: path.resolve(cfg.checkpoint.dir), keep: cfg.checkpoint.keep, resume: cfg.checkpoint.resume },
        init: init ?? undefined,
        trains: cfg.train.enabled,
      },
      (m) => this.log.info(`trainer ${m}`),
      { step: stepMs, snapshot: stepMs, checkpoint: 2 * stepMs },
    );
    const ready = this.trainer.ready;
    metrics.watchTrainer(this.trainer.memory?.bind(this.trainer));
    if (ready.resumedFrom) log(`resumed from checkpoint ${ready.resumedFrom} (step ${ready.step})`);

    this.teacher = new EmbeddingService(trainerOptions.model);
    this.teacher.load(await this.trainer.snapshot());
    metrics.onTeacher(this.teacher.teacherStep);

    const store = await this.openEventStore();
    const publisherMetrics = new PublisherMetrics(this.registry);
    publisherMetrics.watchStore(store);
    const sources = (this.sources = new SourceSet(cfg, this.log, path.resolve(cfg.state.sourcesFile)));
    sources.open();
    const ingest = new WebSocketIngest({
      ...ingestSettings(cfg, {
        // the ws sources, configured or added at run time; the other sources' ids are theirs
        declared: (id) => sources.pushedFps(id) !== undefined,
        reserved: (id) => sources.pushedFps(id) === undefined && sources.list().some((s) => s.id === id),
      }),
      logger: this.log,
    });
    // declared ws streams are fed by the ingest route: show them before their first frame
    for (const id of sources.pushedIds()) this.rates.declare(id);
    const detectors = (this.detectors = new StreamDetectors(cfg.detect));
    const live = (this.live = new LiveVideo({ urlOf: (id) => sources.urlOf(id), log: this.log }));
    if (probe) log(`probe: ${probe.train.images.length} train / ${probe.test.images.length} test images of ${cfg.probe.dir}, k-NN top-1 every ${cfg.probe.everySec} s`);

    const pipeline$ = agentPipeline({
      config: cfg,
      sources,
      pushed$: ingest.frames$,
      isOpenStream: (id) => ingest.isOpen(id),
      forget$: merge(ingest.evicted$, sources.removed$),
      events: store,
      trainer: this.trainer,
      teacher: this.teacher,
      detectors,
      probe,
      sinks: this.sinks,
      metrics,
      rates: this.rates,
      log: this.log,
    });
    this.subs.push(
      merge(
        pipeline$,
        interval(1000).pipe(tap(() => this.rates.tick())),
        interval(cfg.checkpoint.everySec * 1000).pipe(exhaustMap(() => this.checkpoint())),
        // retention by age also when no new event comes to trigger it
        store ? interval(3_600_000).pipe(exhaustMap(() => store.prune())) : EMPTY,
        cfg.log.statusEverySec > 0 ? interval(cfg.log.statusEverySec * 1000).pipe(tap(() => log(this.status()))) : EMPTY,
      ).subscribe({ error: (e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))) }),
    );

    this.server = new AgentServer({
      hub: this.hub,
      ingest,
      ...serverSettings(cfg.server),
      registry: this.registry,
      log: this.log,
      events: store ?? undefined,
      sources,
      live,
    });
    const { port, host } = await this.server.start();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    const notifications = (this.notifications = new Notifications(cfg.notify, cfg.notify.publicUrl ?? url, this.log));
    notifications.start(this.hub.events$, sources.list().map((s) => s.id));
    publisherMetrics.watchNotifiers(notifications);
    this.subs.push(
      sources.added.subscribe((s) => {
        if (s.kind === 'ws') this.rates.declare(s.id);
        notifications.addStream(s.id);
      }),
      // the data path forgets the stream itself (forget$ above)
      sources.removed$.subscribe((id) => {
        ingest.forget(id); // a removed ws source: its producer is closed, and /ingest/<id> is refused from now on
        notifications.removeStream(id);
        void live.close(id);
      }),
    );
    log(`dashboard ${url} | ws ${url.replace('http', 'ws')}embeddings, /events, /ingest/<stream>, /live/<stream> | api ${url}api/events, ${url}api/sources | metrics ${url}metrics`);
    return { url, port, backend, step: ready.step, resumedFrom: ready.resumedFrom };
  }

  /** The event store, opened; null (events published without pictures) when its directory cannot be used. */
  private async openEventStore(): Promise<EventStore | null> {
    const e = this.config.events;
    const store = new EventStore({ dir: path.resolve(e.dir), maxCount: e.maxCount, maxBytes: e.maxBytes, maxAgeDays: e.maxAgeDays, jpegQuality: e.jpegQuality, log: this.log });
    try {
      await store.open();
      const { count, bytes } = store.size;
      if (count > 0) this.log.info(`events: ${count} stored in ${store.dir} (${(bytes / 1e6).toFixed(1)} MB)`);
      return store;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, `events: cannot use ${store.dir}; events are published without pictures and not stored`);
      return null;
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
      teacherStep: this.teacher?.teacherStep ?? -1,
      clients: this.server ? Object.values(this.server.clientCounts()).reduce((a, b) => a + b, 0) : 0,
      streams: this.rates.summary(),
    });
  }

  /** Streams the detectors keep state for (novelty bank, drift windows): bounded by the configured and kept streams. */
  detectorStreamIds(): string[] {
    return this.detectors?.streamIds() ?? [];
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
      await this.live?.stop();
      this.sources?.stop();
      await this.notifications?.stop();
      const teacher = this.teacher;
      // after any round or refresh still holding the model
      if (teacher) await teacher.exclusive(async () => teacher.dispose());
      for (const s of Object.values(this.sinks)) s.complete();
    })();
    return this.stopping;
  }
}
