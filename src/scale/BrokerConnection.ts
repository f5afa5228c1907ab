import * as fs from 'node:fs';
import * as os from 'node:os';
import { connect, type NodeConnectionOptions } from '@nats-io/transport-node';
import { nkeyAuthenticator, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Counter, Gauge, type Registry } from 'prom-client';
import { BehaviorSubject } from 'rxjs';
import type { NatsConfig } from '../../config/natsSchema';
import type { Logger } from '../util/Logger';

/** The broker's address(es) as they may be shown: credentials in a URL are replaced by ***. */
export function redactBrokerUrl(url: string): string {
  return url
    .split(',')
    .map((u) => u.trim().replace(/^([a-z]+:\/\/)?[^@/]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`))
    .join(',');
}

/** Connection options from the settings: credentials and TLS files are read here and never logged. */
export function connectionOptions(n: NatsConfig, name: string): NodeConnectionOptions {
  if (!n.url) throw new Error('nats.url is not set');
  const opts: NodeConnectionOptions = {
    servers: n.url.split(',').map((s) => s.trim()),
    name,
    // a role waits for a broker that is not up yet, and keeps reconnecting to one that went away
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // a broker that stops answering is noticed within seconds, not the default two minutes
    pingInterval: 5000,
    maxPingOut: 3,
  };
  if (n.token) opts.token = n.token;
  if (n.user) {
    opts.user = n.user;
    if (n.password) opts.pass = n.password;
  }
  if (n.nkeySeedFile) {
    let seed: string;
    try {
      seed = fs.readFileSync(n.nkeySeedFile, 'utf8').trim();
    } catch (e) {
      throw new Error(`nats.nkeySeedFile ${n.nkeySeedFile} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new Error(`nats.nkeySeedFile ${n.nkeySeedFile} does not hold a user nkey seed (SU..., 58 characters)`);
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (n.tls) {
    for (const [k, f] of Object.entries(n.tls)) {
      if (f && !fs.existsSync(f)) throw new Error(`nats.tls.${k} ${f} does not exist`);
    }
    opts.tls = {
      ...(n.tls.caFile ? { caFile: n.tls.caFile } : {}),
      ...(n.tls.certFile ? { certFile: n.tls.certFile } : {}),
      ...(n.tls.keyFile ? { keyFile: n.tls.keyFile } : {}),
    };
  }
  return opts;
}

/** This process's name in heartbeats and metrics. */
export function instanceName(n: NatsConfig): string {
  return n.instance ?? `${os.hostname().replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40)}-${process.pid}`;
}

/**
 * One connection to the broker for all the roles of a process, with its JetStream contexts. It reconnects by
 * itself (forever, every 0.5 s); `connected$` says whether it is up, and the roles' consumers resume on their own
 * once it is back.
 */
export class BrokerConnection {
  readonly connected$ = new BehaviorSubject<boolean>(true);
  readonly js: JetStreamClient;
  private readonly statusLoop: Promise<void>;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    private readonly log: Logger,
    metrics: { connected: Gauge; reconnects: Counter },
  ) {
    this.js = jetstream(nc);
    metrics.connected.set(1);
    this.statusLoop = (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.connected$.next(false);
          metrics.connected.set(0);
          log.warn({}, 'broker connection lost; reconnecting');
        } else if (s.type === 'reconnect') {
          this.connected$.next(true);
          metrics.connected.set(1);
          metrics.reconnects.inc();
          log.info({}, 'broker connection back');
        } else if (s.type === 'error') {
          log.error({ err: String(s.error?.message ?? s.error) }, 'broker error');
        }
      }
    })().catch(() => undefined);
  }

  static async open(n: NatsConfig, name: string, registry: Registry, log: Logger): Promise<BrokerConnection> {
    const nc = await connect(connectionOptions(n, name));
    log.info({}, `broker ${redactBrokerUrl(n.url ?? '')} connected (server ${nc.info?.version ?? '?'})`);
    const metrics = {
      connected: new Gauge({ name: 'dino_scale_broker_connected', help: '1 while the broker connection is up', registers: [registry] }),
      reconnects: new Counter({ name: 'dino_scale_broker_reconnects_total', help: 'Reconnections to the broker', registers: [registry] }),
    };
    return new BrokerConnection(nc, await jetstreamManager(nc), log, metrics);
  }

  get connected(): boolean {
    return this.connected$.value;
  }

  /** Flushes what was published and closes; idempotent. */
  async close(): Promise<void> {
    if (!this.nc.isClosed()) {
      await this.nc.drain().catch((e: unknown) => this.log.debug({ err: String(e) }, 'broker drain failed'));
    }
    await this.statusLoop;
    this.connected$.complete();
  }
}
