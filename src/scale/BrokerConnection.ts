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

const CONNECT_TIMEOUT_MS = 5000;

/** The servers of a (comma-separated) url without their user-info, and the first user-info found, decoded. */
function splitUserInfo(url: string): { servers: string[]; user?: string; pass?: string } {
  let user: string | undefined;
  let pass: string | undefined;
  const servers = url.split(',').map((raw) =>
    raw.trim().replace(/^([a-z]+:\/\/)?([^@/]*)@/i, (_, scheme: string | undefined, info: string) => {
      if (user === undefined) {
        const colon = info.indexOf(':');
        user = decodeURIComponent(colon < 0 ? info : info.slice(0, colon));
        if (colon >= 0) pass = decodeURIComponent(info.slice(colon + 1));
      }
      return scheme ?? '';
    }),
  );
  return { servers, user, pass };
}

/** Connection options from the settings: credentials and TLS files are read here and never logged. */
export function connectionOptions(n: NatsConfig, name: string): NodeConnectionOptions {
  if (!n.url) throw new Error('nats.url is not set');
  const { servers, user, pass } = splitUserInfo(n.url);
  const opts: NodeConnectionOptions = {
    servers,
    name,
    // a TLS handshake the broker ends without a word (no client certificate) fails here instead of hanging
    timeout: CONNECT_TIMEOUT_MS,
    // once connected, a role keeps reconnecting to a broker that went away
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // a broker that stops answering is noticed within seconds, not the default two minutes
    pingInterval: 5000,
    maxPingOut: 3,
  };
  // nats://token@host or nats://user:password@host as other NATS clients take them; settings take precedence
  if (user !== undefined && pass === undefined && !n.token && !n.user) opts.token = user;
  if (user !== undefined && pass !== undefined && !n.user) Object.assign(opts, { user, pass });
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
  if (n.tls.caFile || n.tls.certFile || n.tls.keyFile) {
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

/** How long a role waits between attempts while the broker is not up yet. */
const FIRST_CONNECT_RETRY_MS = 1000;

/**
 * The first connection: a broker that is not up yet (refused, unreachable, silent) is waited for, forever, so
 * that the roles can start in any order; a broker that refuses this process (credentials, TLS) stops the start
 * with what to change.
 */
async function firstConnection(n: NatsConfig, opts: NodeConnectionOptions, log: Logger): Promise<NatsConnection> {
  const where = redactBrokerUrl(n.url ?? '');
  let waiting = false;
  for (;;) {
    try {
      return await connect(opts);
    } catch (e) {
      const refusal = brokerRefusal(n, e);
      if (refusal) throw new Error(`broker ${where}: ${refusal}`);
      if (!waiting) log.warn({ err: (e as Error).message }, `broker ${where} not reachable yet; retrying every ${FIRST_CONNECT_RETRY_MS / 1000} s`);
      waiting = true;
      await new Promise((r) => setTimeout(r, FIRST_CONNECT_RETRY_MS));
    }
  }
}

/** What to change when the broker refused this process (null: it was not reachable, which waiting may fix). */
export function brokerRefusal(n: NatsConfig, e: unknown): string | null {
  const err = e as Error & { code?: string };
  const msg = err.message ?? String(e);
  const given = [/^([a-z]+:\/\/)?[^@/,]*@/i.test(n.url ?? '') && 'the url\'s user-info', n.token && 'nats.token', n.user && 'nats.user', n.password && 'nats.password', n.nkeySeedFile && 'nats.nkeySeedFile'].filter(Boolean);
  if (err.name === 'AuthorizationError' || /authoriz|authentica/i.test(msg)) {
    return `${msg}: the broker refused ${given.length ? `the credentials given (${given.join(', ')})` : 'a connection without credentials'}; set nats.token (DINO_NATS_TOKEN), nats.user with nats.password (DINO_NATS_PASSWORD) or nats.nkeySeedFile as the broker expects`;
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME/i.test(err.code ?? '') || /certificate|tls|ssl/i.test(msg)) {
    return `TLS failed (${msg}): nats.tls.caFile must name the CA that signed the broker's certificate, and the url's host must be one the certificate names`;
  }
  if (err.name === 'TimeoutError' && (n.tls.caFile || n.tls.certFile || /^tls:\/\//i.test(n.url ?? ''))) {
    return `the TLS connection was not answered within ${CONNECT_TIMEOUT_MS / 1000} s: a broker that requires a client certificate ends the handshake without one (nats.tls.certFile and nats.tls.keyFile)`;
  }
  return null;
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
    const nc = await firstConnection(n, connectionOptions(n, name), log);
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
