import { ChildProcess } from 'child_process';
import { AddressInfo } from 'net';
import { Observable, ReplaySubject } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import { BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from '../CameraState';
import { defaultLogger, Logger } from '../../src/util/Logger';
import { resolveFfmpegPath } from './ffmpegPath';
import { hasExited, killGracefully, spawnTied, trackChild } from './childProcess';
import { ffmpegInputArgs } from './ffmpegInput';
import { StderrTail } from './StderrTail';
import { redactSecrets, registerUrlCredentials } from '../../src/util/redactSecrets';

/**
 * Live view for the dashboard: an RTSP camera re-encoded by ffmpeg to MPEG-1 in MPEG-TS and broadcast over a
 * websocket, in the format JSMpeg plays (first message: 'jsmp' + uint16 BE width + uint16 BE height, then TS bytes).
 * Viewing only: training frames come from FfmpegSource, never from here.
 *
 * The ffmpeg command line is node-rtsp-stream 0.0.9's Mpeg1Muxer's (MPEG-TS, mpeg1video, the size, rate and bitrate
 * as options), spawned here rather than by Mpeg1Muxer, which passes options only after `-i` and spawns untied. Its
 * VideoStream is not used either. The flaws of that package, each guarded here:
 *  - `new ws.Server({ port })` binds all interfaces and nobody listens for 'error': a busy port throws an uncaught
 *    EADDRINUSE and kills the process. Here: our own server on `host` (127.0.0.1 by default), port 0 = a free port
 *    chosen by the OS (no check-then-bind race), listen errors reject start().
 *  - When ffmpeg exits (camera reboot, network drop) it only logs and never restarts. Here: restart with capped
 *    exponential back-off, plus a watchdog that kills an ffmpeg blocked on a hung camera (SIGTERM, then SIGKILL).
 *  - The ffmpeg child has no 'error' listener: a missing binary (ENOENT) crashes the process. Here: handled.
 *  - It writes ffmpeg's stderr to our stderr and console.logs every viewer; Mpeg1Muxer console.errors on exit code 1.
 *    Here: stderr kept in a tail for messages, logging through the logger.
 *  - Sockets get no 'error' listener and slow viewers buffer without bound. Here: listener added, and a viewer whose
 *    send buffer exceeds maxClientBufferBytes skips data until it drains (the picture glitches, memory stays flat).
 *  - stop() sends SIGTERM only and leaves viewers connected. Here: SIGKILL after a grace period, viewers closed.
 *  - No input options: UDP first, any protocol, no timeout, and an ffmpeg that outlives a killed parent. Here: the
 *    input options FfmpegSource uses (TCP, a protocol whitelist, an I/O timeout), and the ffmpeg tied to the agent.
 */
export interface RtspRelayOptions {
  url: string;
  name?: string;
  /** Size of the relayed picture (JSMpeg needs it in the header). Even numbers. */
  width: number;
  height: number;
  /**
   * false: listen nowhere; viewers are handed over with addViewer (the agent's own port, behind its token and
   * Origin checks). Default true: a websocket server of its own on host:port.
   */
  listen?: boolean;
  /** Interface to listen on. Default 127.0.0.1: the dashboard server proxies or the browser is local. */
  host?: string;
  /** Websocket port; 0 or unset = any free port. */
  port?: number;
  ffmpegPath?: string;
  /** Output frame rate; MPEG-1 only allows 24, 25, 30, 50, 60 (and NTSC variants). Default 25. */
  fps?: number;
  bitrateKbps?: number;
  /** No output for this long -> kill and restart. Default 15 s. */
  watchdogMs?: number;
  killGraceMs?: number;
  backoff?: Partial<BackoffOptions>;
  maxClientBufferBytes?: number;
  logger?: Logger;
}

export interface RelayState {
  name: string;
  state: 'starting' | 'live' | 'restarting' | 'stopped';
  t: number;
  detail: string;
}

export class RtspRelay {
  private readonly states = new ReplaySubject<RelayState>(1);
  readonly state$: Observable<RelayState> = this.states.asObservable();
  private readonly name: string;
  private readonly log: Logger;
  private readonly tail = new StderrTail(20);
  private readonly backoff: BackoffOptions;
  private wss: WebSocketServer | undefined;
  private readonly clients = new Set<WebSocket>();
  private running = false;
  private proc: ChildProcess | undefined;
  private stopping = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private lastDataAt = 0;
  private header: Buffer;
  /** Bytes relayed since start (all viewers share them). */
  bytes = 0;
  restarts = 0;

  constructor(private readonly o: RtspRelayOptions) {
    if (o.width % 2 || o.height % 2 || o.width <= 0 || o.height <= 0) throw new Error('RtspRelay: width and height must be positive even numbers');
    registerUrlCredentials(o.url);
    this.name = o.name ?? redactSecrets(o.url);
    this.log = o.logger ?? defaultLogger();
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    this.header = Buffer.alloc(8);
    this.header.write('jsmp', 0, 'ascii');
    this.header.writeUInt16BE(o.width, 4);
    this.header.writeUInt16BE(o.height, 6);
  }

  get port(): number | undefined {
    const a = this.wss?.address();
    return a && typeof a === 'object' ? (a as AddressInfo).port : undefined;
  }

  get address(): AddressInfo | undefined {
    const a = this.wss?.address();
    return a && typeof a === 'object' ? (a as AddressInfo) : undefined;
  }

  get pid(): number | undefined {
    return this.proc && !hasExited(this.proc) ? this.proc.pid : undefined;
  }

  get viewers(): number {
    return this.clients.size;
  }

  /**
   * Listens (unless listen is false), starts ffmpeg, resolves with the websocket port (undefined when not
   * listening). Rejects (without side effects) if it cannot listen.
   */
  async start(): Promise<number | undefined> {
    if (this.running) throw new Error(`RtspRelay ${this.name}: already started`);
    if (this.o.listen === false) {
      this.running = true;
      this.stopping = false;
      this.spawn();
      return undefined;
    }
    const host = this.o.host ?? '127.0.0.1';
    const wss = new WebSocketServer({ host, port: this.o.port ?? 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', () => resolve());
      wss.once('error', (err: NodeJS.ErrnoException) => {
        wss.close();
        reject(new Error(`RtspRelay ${this.name}: cannot listen on ${host}:${this.o.port ?? 0}: ${err.code === 'EADDRINUSE' ? 'port in use' : err.message}`));
      });
    });
    wss.on('error', (err) => this.log.error({ relay: this.name, err: err.message }, 'relay server error'));
    wss.on('connection', (socket) => this.addViewer(socket));
    this.wss = wss;
    this.running = true;
    this.stopping = false;
    this.spawn();
    return this.port!;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    this.running = false;
    const wss = this.wss;
    this.wss = undefined;
    for (const c of this.clients) c.terminate();
    this.clients.clear();
    if (wss) await new Promise<void>((r) => wss.close(() => r()));
    if (this.proc) await killGracefully(this.proc, this.o.killGraceMs ?? 2000);
    this.setState('stopped', 'stopped');
  }

  private setState(state: RelayState['state'], detail: string): void {
    this.log[state === 'restarting' ? 'warn' : 'info']({ relay: this.name, state, detail }, `relay ${this.name}: ${state}`);
    this.states.next({ name: this.name, state, t: Date.now(), detail });
  }

  private spawn(): void {
    this.retryTimer = undefined;
    if (this.stopping) return;
    this.tail.clear();
    const ffmpegPath = resolveFfmpegPath(this.o.ffmpegPath);
    const input = ffmpegInputArgs(this.o.url, { ffmpegPath, ioTimeoutMs: this.o.watchdogMs ?? 15_000, analyzeMs: 1000 });
    const proc = spawnTied(
      ffmpegPath,
      [
        ...['-hide_banner', '-nostdin', '-loglevel', 'error', ...input.before, ...input.input],
        ...['-an', '-f', 'mpegts', '-codec:v', 'mpeg1video', '-s', `${this.o.width}x${this.o.height}`, '-r', String(this.o.fps ?? 25)],
        ...['-b:v', `${this.o.bitrateKbps ?? 800}k`, '-bf', '0', '-'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    trackChild(proc);
    let live = false;
    let finished = false;
    this.lastDataAt = Date.now();
    this.setState('starting', `ffmpeg pid ${proc.pid ?? '?'}`);
    proc.stderr!.on('data', (d: Buffer) => this.tail.push(d));
    proc.stdout!.on('data', (data: Buffer) => {
      this.lastDataAt = Date.now();
      this.bytes += data.length;
      if (!live) {
        live = true;
        this.attempts = 0;
        this.setState('live', `ffmpeg pid ${proc.pid}`);
      }
      this.broadcast(data);
    });
    const watchdogMs = this.o.watchdogMs ?? 15_000;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastDataAt > watchdogMs && !hasExited(proc)) {
        this.log.warn({ relay: this.name }, `relay ${this.name}: no data for ${watchdogMs} ms, killing ffmpeg`);
        void killGracefully(proc, this.o.killGraceMs ?? 2000);
      }
    }, Math.max(50, Math.min(1000, watchdogMs / 4)));
    const onEnd = (why: string) => {
      if (finished) return;
      finished = true;
      if (this.stopping) return;
      this.attempts++;
      this.restarts++;
      const delay = backoffDelay(this.attempts, this.backoff);
      this.setState('restarting', `${why}${this.tail.last() ? `: ${this.tail.last()}` : ''}; retry in ${delay} ms`);
      this.retryTimer = setTimeout(() => this.spawn(), delay);
    };
    proc.once('error', (err) => onEnd(`cannot run ffmpeg: ${err.message}`));
    proc.once('exit', (code, signal) => onEnd(`ffmpeg exited (code ${code}, signal ${signal})`));
  }

  /** A viewer's websocket: it gets the JSMpeg header, then the stream, until it closes. */
  addViewer(socket: WebSocket): void {
    this.clients.add(socket);
    socket.once('close', () => this.clients.delete(socket));
    socket.on('error', (err) => this.log.warn({ relay: this.name, err: err.message }, 'relay viewer socket error'));
    socket.send(this.header, { binary: true });
  }

  private broadcast(data: Buffer): void {
    const max = this.o.maxClientBufferBytes ?? 1024 * 1024;
    for (const c of this.clients) {
      if (c.readyState === WebSocket.OPEN && c.bufferedAmount <= max) c.send(data, { binary: true });
    }
  }
}
