import type pino from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { EMPTY, merge, type Observable, type Subscription } from 'rxjs';
import type { AgentConfig } from '../../config/schema';
import type { RoleName } from '../../config/natsSchema';
import { AgentMetrics } from '../agent/AgentMetrics';
import { selectBackend } from '../backend';
import type { EmbeddingService } from '../agent/EmbeddingService';
import { trainerOptionsFor } from '../train/trainerOptionsFor';
import { createLogger } from '../util/Logger';
import { registerSecretsOf } from '../util/redactSecrets';
import { BrokerConnection, instanceName, redactBrokerUrl } from './BrokerConnection';
import { detectRole } from './detectRole';
import { embedRole } from './embedRole';
import { GatewayRole } from './gatewayRole';
import { ingestRole } from './ingestRole';
import { RoleHealth, type RoleContext } from './RoleContext';
import { RoleHeartbeats } from './RoleHeartbeats';
import { RoleServer } from './RoleServer';
import { ScaleMetrics } from './ScaleMetrics';
import { TeacherStore } from './TeacherStore';
import { ensureTopology } from './Topology';
import { TrainRole } from './trainRole';

export interface ScaleNodeStarted {
  url: string;
  port: number;
  roles: RoleName[];
  instance: string;
}

/**
 * One process of a scaled-out agent: the roles of `nats.roles`, sharing one broker connection, one registry and
 * one HTTP port (the gateway's server, or /healthz and /metrics alone). start() and stop() are its whole life, as
 * for the single-process Agent.
 */
export class ScaleNode {
  readonly log: pino.Logger;
  readonly registry = new Registry();
  readonly roles: RoleName[];
  readonly instance: string;
  private conn: BrokerConnection | null = null;
  private train: TrainRole | null = null;
  private gateway: GatewayRole | null = null;
  private roleServer: RoleServer | null = null;
  private readonly teachers: EmbeddingService[] = [];
  private readonly subs: Subscription[] = [];
  private readonly health = new RoleHealth();
  private stopping: Promise<void> | null = null;
  private fail!: (e: Error) => void;
  /** Resolves when this process cannot go on (its train role gave up); the CLI then checkpoints and exits non-zero. */
  readonly failed = new Promise<Error>((resolve) => (this.fail = resolve));

  constructor(readonly config: AgentConfig, log?: pino.Logger) {
    if (!config.nats.url) throw new Error('ScaleNode needs nats.url (--nats)');
    this.log = log ?? createLogger(config.log.level, config.log.format);
    registerSecretsOf(config); // the broker's token and password, camera passwords
    this.roles = config.nats.roles;
    this.instance = instanceName(config.nats);
  }

  async start(): Promise<ScaleNodeStarted> {
    const cfg = this.config;
    const log = this.log;
    collectDefaultMetrics({ register: this.registry });
    log.info({}, `roles ${this.roles.join(', ')} as ${this.instance}, broker ${redactBrokerUrl(cfg.nats.url!)}`);
    const conn = (this.conn = await BrokerConnection.open(cfg.nats, `dino-stream ${this.roles.join(',')} ${this.instance}`, this.registry, log));
    await ensureTopology(conn.jsm, cfg.nats);
    if (this.roles.includes('embed') || this.roles.includes('detect')) {
      const b = cfg.backend;
      await selectBackend({ backend: b.name, threads: b.threads || undefined, native: b.native, precision: b.precision, log: (m) => log.info({}, `embedder ${m}`) });
    }
    const { options: trainerOptions } = trainerOptionsFor(cfg.model.size, cfg.train.recipe, {
      batchSize: cfg.train.batchSize, horizonSteps: cfg.train.horizonSteps, seed: cfg.train.seed,
    });
    const ctx: RoleContext = {
      config: cfg,
      conn,
      teachers: await TeacherStore.open(conn, cfg.nats.keepTeachers, log),
      trainerOptions,
      registry: this.registry,
      metrics: new AgentMetrics(this.registry),
      scale: new ScaleMetrics(this.registry),
      health: this.health,
      instance: this.instance,
      log,
    };
    const heartbeats = await RoleHeartbeats.open(conn, cfg.nats.heartbeatSec, log);
    // frame ids are unique across restarts of this process (frame indices start again at 0)
    const run = `${this.instance}-${Date.now().toString(36)}`;
    const has = (r: RoleName) => this.roles.includes(r);

    const runs: Observable<never>[] = [heartbeats.beat$(this.roles, this.instance, this.health)];
    if (has('ingest')) runs.push(ingestRole(ctx, run));
    if (has('embed')) runs.push(this.keep(embedRole(ctx)));
    if (has('detect')) runs.push(this.keep(detectRole(ctx)));
    if (has('train')) {
      this.train = new TrainRole(ctx);
      void this.train.failed.then((e) => this.fail(e));
      runs.push(this.train.run$());
    }
    if (has('gateway')) {
      this.gateway = new GatewayRole(ctx, heartbeats, run, log);
      runs.push(this.gateway.run$(), heartbeats.watch$(ctx.scale));
    }
    this.subs.push(
      merge(...runs, EMPTY).subscribe({
        error: (e: unknown) => log.error({ err: (e as Error).message }, 'a role stopped'),
      }),
    );

    let listening: { host: string; port: number };
    if (this.gateway) listening = await this.gateway.server.start();
    else {
      const { host, port, token, insecure, allowedHosts, allowedOrigins } = cfg.server;
      this.roleServer = new RoleServer({
        host, port, token, insecure, allowedHosts, allowedOrigins,
        registry: this.registry,
        health: () => ({ ok: this.health.ok && conn.connected, instance: this.instance, broker: conn.connected, roles: this.health.all() }),
      });
      listening = await this.roleServer.start();
    }
    const host = listening.host.includes(':') ? `[${listening.host}]` : listening.host;
    const url = `http://${host}:${listening.port}/`;
    if (this.gateway) log.info({}, `dashboard ${url} | ws ${url.replace('http', 'ws')}embeddings, /events, /ingest/<stream> | metrics ${url}metrics`);
    else log.info({}, `health ${url}healthz | metrics ${url}metrics`);
    return { url, port: listening.port, roles: this.roles, instance: this.instance };
  }

  private keep(r: { run$: Observable<never>; teacher: EmbeddingService }): Observable<never> {
    this.teachers.push(r.teacher);
    return r.run$;
  }

  /** A checkpoint now, when this process trains (the CLI's fatal-error path); null otherwise. */
  checkpoint(): Promise<string | null> {
    return this.train?.checkpoint() ?? Promise.resolve(null);
  }

  /** Stops the roles (frames in flight go back to the broker for others), a last checkpoint, the lock, the server, the connection. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const s of this.subs.splice(0)) s.unsubscribe();
      await this.train?.close();
      await this.gateway?.server.stop();
      await this.roleServer?.stop();
      for (const t of this.teachers) await t.exclusive(async () => t.dispose());
      await this.conn?.close();
    })();
    return this.stopping;
  }
}
