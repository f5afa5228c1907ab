import { createServer, IncomingMessage, Server, ServerResponse, STATUS_CODES } from 'http';
import type { AddressInfo, Socket } from 'net';
import { Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { defaultLogger, Logger } from '../util/Logger';
import type { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { assertSafeBinding, tokenOf, TokenAuth } from './Auth';
import { registerSecret } from '../util/redactSecrets';
import { ControlError } from './ControlMessages';
import { EmbeddingsChannel } from './EmbeddingsChannel';
import { EventsChannel } from './EventsChannel';
import { Heartbeat } from './Heartbeat';
import { OriginPolicy, Refusal } from './OriginPolicy';
import { AgentServerOptions, DashboardOptions, DEFAULT_DASHBOARD, DEFAULT_LIMITS, ServerLimits } from './ServeOptions';
import { PathLabel, ServePath, ServerMetrics } from './ServerMetrics';
import { StaticAssets } from './StaticAssets';
import { streamIdProblem } from './StreamId';
import type { SubscriberChannel } from './SubscriberChannel';
import { UiChannel } from './UiChannel';
import { ApiRoutes } from './ApiRoutes';

type Route =
  | { kind: 'channel'; channel: SubscriberChannel<unknown, unknown> }
  | { kind: 'ingest'; streamId: string }
  | { kind: 'live'; streamId: string };

/** A path segment as the client meant it ('%2F' -> '/'), or as sent when it is not valid percent-encoding. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The agent's one HTTP port: the dashboard (/), /healthz, /metrics, and the websockets /embeddings, /events, /ui
 * and /ingest/<streamId>. It only reads the AgentHub; nothing here calls back into training, and no client can make
 * the agent wait (every subscriber has a bounded drop-oldest queue).
 */
export class AgentServer {
  readonly registry: Registry;
  readonly metrics: ServerMetrics;
  readonly limits: ServerLimits;
  readonly embeddings: EmbeddingsChannel;
  readonly events: EventsChannel;
  readonly ui: UiChannel;
  private readonly channels: Map<string, SubscriberChannel<unknown, unknown>>;
  private readonly auth: TokenAuth;
  private readonly policy: OriginPolicy;
  /** Open websockets per remote address (every endpoint), for maxConnectionsPerAddress. */
  private readonly perAddress = new Map<string, number>();
  private readonly refusalLoggedAt = new Map<string, number>();
  private readonly host: string;
  private readonly log: Logger;
  private readonly http: Server;
  private readonly controlWss: WebSocketServer;
  private readonly ingestWss: WebSocketServer;
  private readonly ingest?: WebSocketIngest;
  private readonly ingestSockets = new Set<WebSocket>();
  private readonly liveSockets = new Set<WebSocket>();
  private readonly heartbeat: Heartbeat;
  private readonly assets = new StaticAssets();
  private readonly api: ApiRoutes;
  private readonly healthStaleMs: number;
  private statsSub?: Subscription;
  private readonly evictions?: Subscription;
  private lastStats?: { receivedAt: number; t: number; step: number };
  private startedAt = Date.now();
  private listening?: { port: number; host: string };

  constructor(private readonly o: AgentServerOptions) {
    if (!o.hub) throw new Error('AgentServer: hub is required');
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    const dash: DashboardOptions = { ...DEFAULT_DASHBOARD, ...o.dashboard };
    this.host = o.host ?? '127.0.0.1';
    this.log = o.log ?? defaultLogger();
    this.auth = new TokenAuth(o.token ?? ((o.env ?? process.env).DINO_TOKEN || undefined));
    registerSecret(this.auth.token);
    this.policy = new OriginPolicy({ host: this.host, allowedHosts: o.allowedHosts, allowedOrigins: o.allowedOrigins });
    this.healthStaleMs = o.healthStaleMs ?? 120_000;
    this.registry = o.registry ?? new Registry();
    this.metrics = new ServerMetrics(this.registry);
    this.ingest = o.ingest;
    this.api = new ApiRoutes({ events: o.events, sources: o.sources });
    if (o.ingest) this.metrics.trackIngest(() => o.ingest!.allStats());

    this.embeddings = new EmbeddingsChannel(o.hub.embeddings$, this.limits, this.metrics, this.log);
    this.events = new EventsChannel(o.hub.events$, this.limits, this.metrics, this.log);
    this.ui = new UiChannel(o.hub, this.limits, this.metrics, this.log, dash);
    // Streams the ingest forgot leave the metrics and the dashboard's state.
    this.evictions = o.ingest?.evicted$.subscribe((id) => {
      this.metrics.removeStream(id);
      this.ui.forget(id);
    });
    this.channels = new Map<string, SubscriberChannel<unknown, unknown>>([
      ['/embeddings', this.embeddings as SubscriberChannel<unknown, unknown>],
      ['/events', this.events as SubscriberChannel<unknown, unknown>],
      ['/ui', this.ui as SubscriberChannel<unknown, unknown>],
    ]);

    // Two ws servers because the payload limits differ: control sockets take small JSON, ingest takes images.
    this.controlWss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxControlPayloadBytes, perMessageDeflate: false });
    this.ingestWss = new WebSocketServer({ noServer: true, maxPayload: this.limits.ingestMaxPayloadBytes, perMessageDeflate: false });
    this.heartbeat = new Heartbeat(this.limits.pingIntervalMs);
    this.http = createServer((req, res) => {
      this.onRequest(req, res).catch((e: Error) => {
        this.log.error({ err: e.message, path: (req.url ?? '').split('?')[0] }, 'serve: request failed'); // never log ?token=
        if (!res.headersSent) this.json(res, 500, { type: 'error', code: 'internal', message: 'internal error' });
        else res.destroy();
      });
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Listens; refuses (rejects) when the host is not loopback and no token is configured (unless insecure). */
  async start(): Promise<{ port: number; host: string }> {
    if (this.listening) return this.listening;
    assertSafeBinding(this.host, this.auth.token, !!this.o.insecure);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.o.port ?? 8080, this.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    this.startedAt = Date.now();
    this.statsSub = this.o.hub.stats$.subscribe((s) => {
      this.lastStats = { receivedAt: Date.now(), t: s.t, step: s.step };
    });
    for (const c of this.channels.values()) c.start();
    this.heartbeat.start();
    const port = (this.http.address() as AddressInfo).port;
    this.listening = { port, host: this.host };
    this.log.info({ host: this.host, port, auth: this.auth.required }, 'serve: listening');
    return this.listening;
  }

  /** Closes every client (1001, then terminates the ones that do not finish the handshake within graceMs). */
  async stop(graceMs = 500): Promise<void> {
    this.heartbeat.stop();
    this.statsSub?.unsubscribe();
    this.evictions?.unsubscribe();
    for (const c of this.channels.values()) c.stop();
    const sockets = [...this.controlWss.clients, ...this.ingestWss.clients];
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            const timer = setTimeout(() => {
              ws.terminate();
              resolve();
            }, graceMs);
            ws.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            ws.close(1001, 'server shutting down');
          }),
      ),
    );
    if (!this.listening) return;
    this.listening = undefined;
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  get port(): number | undefined {
    return this.listening?.port;
  }

  clientCounts(): Record<ServePath, number> {
    return { '/embeddings': this.embeddings.size, '/events': this.events.size, '/ui': this.ui.size, '/ingest': this.ingestSockets.size, '/live': this.liveSockets.size };
  }

  /** The /healthz body; ok=false (503) once training has started and stats stopped coming for healthStaleMs. */
  health(now = Date.now()) {
    const since = this.lastStats ? now - this.lastStats.receivedAt : undefined;
    const stale = since !== undefined && since > this.healthStaleMs;
    return {
      ok: !stale,
      status: stale ? 'stale' : this.lastStats ? 'training' : 'waiting_for_training',
      uptimeS: Math.round((now - this.startedAt) / 100) / 10,
      clients: this.clientCounts(),
      trainingStarted: this.lastStats !== undefined,
      lastStep: this.lastStats?.step ?? null,
      lastStepT: this.lastStats?.t ?? null,
      sinceLastStatsMs: since ?? null,
      staleAfterMs: this.healthStaleMs,
      ...this.o.healthExtra?.(),
    };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const refusal = this.policy.check(req);
    if (refusal) {
      this.countRefusal(path === '/' || path === '/metrics' ? path : 'other', refusal, req);
      return this.json(res, refusal.status, { type: 'error', code: refusal.code, message: refusal.message });
    }
    if (path === '/api' || path.startsWith('/api/')) {
      if (!this.auth.allows(req, url)) return this.unauthorized(res, '/api');
      return this.api.handle(
        req,
        url,
        (status, body, headers) => (status === 204 ? this.send(res, 204, 'application/json', Buffer.alloc(0), headers) : this.json(res, status, body, headers)),
        (status, type, body, headers) => this.send(res, status, type, body, headers),
      );
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.json(res, 405, { type: 'error', code: 'method_not_allowed', message: `${req.method} is not supported; use GET` });
    }
    if (path === '/healthz') {
      const h = this.health();
      return this.json(res, h.ok ? 200 : 503, h);
    }
    // Scripts and styles hold no data: public, so the page can load them without putting the token in every URL.
    const asset = await this.assets.get(path);
    if (asset) return this.send(res, 200, asset.type, asset.body, { 'Cache-Control': 'no-cache' });
    if (path !== '/' && path !== '/index.html' && path !== '/metrics') {
      return this.json(res, 404, { type: 'error', code: 'not_found', message: `no such endpoint: ${path.slice(0, 100)}` });
    }
    if (!this.auth.allows(req, url)) return this.unauthorized(res, path === '/metrics' ? '/metrics' : '/');
    if (path === '/metrics') {
      return this.send(res, 200, this.registry.contentType, Buffer.from(await this.registry.metrics()), { 'Cache-Control': 'no-store' });
    }
    const features = [this.o.events && 'events', this.o.sources && 'sources', this.o.live && 'live'].filter((f): f is string => !!f);
    const html = await this.assets.page(this.auth.required ? tokenOf(req, url) : undefined, features);
    this.send(res, 200, 'text/html; charset=utf-8', Buffer.from(html), {
      'Cache-Control': 'no-store', // the page carries the token
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'",
    });
  }

  private unauthorized(res: ServerResponse, path: PathLabel): void {
    this.metrics.authFailures.inc({ path });
    res.setHeader('WWW-Authenticate', 'Bearer realm="dino-stream"');
    this.json(res, 401, { type: 'error', code: 'unauthorized', message: this.authHelp() });
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Until ws owns the socket, a reset would be an unhandled 'error' event.
    const onError = () => socket.destroy();
    socket.on('error', onError);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = this.route(url);
    const refusal = this.policy.check(req);
    if (refusal) {
      const label: PathLabel = !route ? 'other' : route.kind === 'channel' ? route.channel.path : route.kind === 'ingest' ? '/ingest' : '/live';
      this.countRefusal(label, refusal, req);
      return this.refuse(socket, refusal.status, label, refusal.code, refusal.message, false);
    }
    if (!route) return this.refuse(socket, 404, 'other', 'not_found', `no websocket endpoint at ${url.pathname.slice(0, 100)}; use /embeddings, /events, /ui, /ingest/<streamId> or /live/<streamId>`);
    const label: ServePath = route.kind === 'channel' ? route.channel.path : route.kind === 'ingest' ? '/ingest' : '/live';
    if (!this.auth.allows(req, url)) {
      this.metrics.authFailures.inc({ path: label });
      return this.refuse(socket, 401, label, 'unauthorized', this.authHelp(), false);
    }
    const address = req.socket.remoteAddress ?? '?';
    const remote = `${address}:${req.socket.remotePort}`;
    const cap = this.limits.maxConnectionsPerAddress;
    if (cap > 0 && (this.perAddress.get(address) ?? 0) >= cap) {
      return this.refuse(socket, 429, label, 'too_many_connections', `at most ${cap} open websockets per address; close some first`);
    }
    if (route.kind === 'live') {
      const live = this.o.live;
      const problem = live ? live.problem(route.streamId) : 'live video is not enabled on this agent';
      if (problem) return this.refuse(socket, 404, label, 'not_live', problem);
      this.controlWss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onError);
        this.countAddress(ws, address);
        this.liveSockets.add(ws);
        this.metrics.clients.inc({ path: '/live' });
        ws.on('close', () => {
          this.liveSockets.delete(ws);
          this.metrics.clients.dec({ path: '/live' });
        });
        ws.on('error', (err) => this.log.debug({ err: err.message, remote }, 'serve: live viewer socket error'));
        this.heartbeat.track(ws, () => this.metrics.deadClients.inc({ path: '/live' }));
        live!.view(ws, route.streamId);
      });
      return;
    }
    if (route.kind === 'ingest') {
      if (!this.ingest) return this.refuse(socket, 404, label, 'ingest_disabled', 'websocket ingest is not enabled on this agent');
      const problem = streamIdProblem(route.streamId);
      if (problem) return this.refuse(socket, 400, label, 'bad_stream_id', problem);
      if (this.ingestSockets.size >= this.limits.maxIngestConnections) {
        return this.refuse(socket, 503, label, 'too_many_clients', `at most ${this.limits.maxIngestConnections} ingest connections`);
      }
      const refusal = this.ingest.admit(route.streamId);
      if (refusal) return this.refuse(socket, refusal.status, label, refusal.code, refusal.message);
      this.ingestWss.handleUpgrade(req, socket, head, (ws) => {
        socket.off('error', onError);
        this.countAddress(ws, address);
        this.ingestSockets.add(ws);
        this.metrics.clients.inc({ path: '/ingest' });
        ws.on('close', () => {
          this.ingestSockets.delete(ws);
          this.metrics.clients.dec({ path: '/ingest' });
        });
        this.heartbeat.track(ws, () => this.metrics.deadClients.inc({ path: '/ingest' }));
        this.log.debug({ remote, streamId: route.streamId }, 'serve: ingest connected');
        this.ingest!.handleConnection(ws, route.streamId);
      });
      return;
    }
    const channel = route.channel;
    let query: unknown;
    try {
      query = channel.parseQuery(url.searchParams);
    } catch (e) {
      const err = e instanceof ControlError ? e : new ControlError('bad_query', `bad query string: ${(e as Error).message}`);
      return this.refuse(socket, 400, label, err.code, err.message);
    }
    const subscribers = this.embeddings.size + this.events.size + this.ui.size;
    if (subscribers >= this.limits.maxClients) {
      return this.refuse(socket, 503, label, 'too_many_clients', `at most ${this.limits.maxClients} subscribers; try again later`);
    }
    this.controlWss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('error', onError);
      this.countAddress(ws, address);
      ws.on('error', (err) => this.log.debug({ err: err.message, remote }, 'serve: socket error'));
      const conn = channel.accept(ws, query, remote);
      this.heartbeat.track(ws, () => this.metrics.deadClients.inc({ path: label }), () => conn.queue.pump());
      this.log.debug({ remote, path: label }, 'serve: client connected');
    });
  }

  private countAddress(ws: WebSocket, address: string): void {
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    ws.once('close', () => {
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
    });
  }

  private route(url: URL): Route | undefined {
    const p = url.pathname;
    const channel = this.channels.get(p);
    if (channel) return { kind: 'channel', channel };
    if (p === '/ingest') return { kind: 'ingest', streamId: url.searchParams.get('stream') ?? '' };
    if (p.startsWith('/ingest/')) return { kind: 'ingest', streamId: decodeSegment(p.slice('/ingest/'.length)) };
    if (p.startsWith('/live/')) return { kind: 'live', streamId: decodeSegment(p.slice('/live/'.length)) };
    return undefined;
  }

  /** Answers an upgrade with an HTTP error before any websocket exists (what a browser reports as a failed handshake). */
  private refuse(socket: Socket, status: number, path: PathLabel, code: string, message: string, count = true): void {
    if (count) this.metrics.rejected.inc({ path, reason: code });
    const body = JSON.stringify({ type: 'error', code, message });
    const extra = status === 401 ? 'WWW-Authenticate: Bearer realm="dino-stream"\r\n' : '';
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
    );
  }

  /** Counts a Host/Origin refusal and logs it, at most once per 10 s per kind (a hostile page may retry in a loop). */
  private countRefusal(path: PathLabel, r: Refusal, req: IncomingMessage): void {
    this.metrics.rejected.inc({ path, reason: r.code });
    const now = Date.now();
    const last = this.refusalLoggedAt.get(r.code) ?? 0;
    if (now - last < 10_000) return;
    this.refusalLoggedAt.set(r.code, now);
    const shown = (v: string | undefined) => (v === undefined ? undefined : v.slice(0, 100));
    this.log.warn({ code: r.code, host: shown(req.headers.host), origin: shown(req.headers.origin), remote: req.socket.remoteAddress }, 'serve: refused a request from another site');
  }

  private authHelp(): string {
    return 'missing or wrong token: send "Authorization: Bearer <token>" or add ?token=<token> to the URL (the token is the agent\'s DINO_TOKEN)';
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.send(res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(body)), { 'Cache-Control': 'no-store', ...headers });
  }

  private send(res: ServerResponse, status: number, type: string, body: Buffer, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
