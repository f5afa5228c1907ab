import type { Subscription } from 'rxjs';
import type { AgentEvent, AgentHub, AttentionMessage, StatsMessage, ThumbnailMessage } from '../types/messages';
import type { Logger } from '../util/Logger';
import type { ClientConnection } from './ClientConnection';
import { Pca2d, PcaResult } from './Pca2d';
import type { DashboardOptions, ServerLimits } from './ServeOptions';
import type { ServerMetrics } from './ServerMetrics';
import { StatusSnapshot, StreamStatusBoard } from './StreamStatusBoard';
import { SubscriberChannel } from './SubscriberChannel';
import { jsonWire, Wire } from './Wire';

/** Messages on ws /ui (all JSON text). */
export type UiMessage =
  | { type: 'hello'; endpoint: '/ui'; protocol: 1; t: number; stats: StatsMessage[]; events: AgentEvent[] }
  | { type: 'stats'; stats: StatsMessage }
  | { type: 'event'; event: AgentEvent }
  | StatusSnapshot
  | UiThumbnail
  | UiAttention
  | UiPca;

export interface UiThumbnail {
  type: 'thumbnail';
  streamId: string;
  t: number;
  frameIndex: number;
  width: number;
  height: number;
  /** JPEG, base64. */
  jpeg: string;
}

export interface UiAttention {
  type: 'attention';
  streamId: string;
  t: number;
  frameIndex: number;
  teacherStep: number;
  grid: number;
  heads: number;
  /** heads * grid * grid values, row-major per head, 4 significant digits. */
  maps: number[];
  /** The frame the maps were computed on, JPEG base64. */
  jpeg: string;
}

export type UiPca = { type: 'pca'; t: number } & PcaResult;

/**
 * ws /ui, the dashboard's feed. Besides passing hub messages through, it keeps what a dashboard that connects late
 * needs (recent stats and events, the latest thumbnail and attention map per stream, the latest projection), pushes
 * per-stream status at a fixed rate, and computes the 2-D PCA only while some dashboard is connected.
 */
export class UiChannel extends SubscriberChannel<void, true> {
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stats: StatsMessage[] = [];
  private readonly events: AgentEvent[] = [];
  private readonly thumbnails = new Map<string, Wire>();
  private readonly attention = new Map<string, Wire>();
  private readonly board = new StreamStatusBoard();
  private readonly pca: Pca2d;
  private pcaWire?: Wire;
  private pcaVersion = -1;

  constructor(
    private readonly hub: AgentHub,
    limits: ServerLimits,
    metrics: ServerMetrics,
    log: Logger,
    private readonly o: DashboardOptions,
  ) {
    super('/ui', limits, metrics, log);
    this.pca = new Pca2d({ capacity: o.pcaCapacity });
  }

  parseQuery(): void {}

  start(): void {
    if (this.subs.length) return;
    const fail = (what: string) => (err: unknown) => this.log.error({ err: String(err) }, `serve: ${what} failed`);
    this.subs.push(
      this.hub.stats$.subscribe({ next: (m) => this.onStats(m), error: fail('stats$') }),
      this.hub.events$.subscribe({ next: (e) => this.onEvent(e), error: fail('events$') }),
      this.hub.embeddings$.subscribe({
        next: (m) => {
          this.board.onEmbedding(m);
          this.pca.add(m.streamId, m.embedding);
        },
        error: fail('embeddings$'),
      }),
      this.hub.thumbnails$.subscribe({ next: (m) => this.onThumbnail(m), error: fail('thumbnails$') }),
      this.hub.attention$.subscribe({ next: (m) => this.onAttention(m), error: fail('attention$') }),
    );
    const every = (ms: number, f: () => void) => {
      const t = setInterval(f, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.statusIntervalMs, () => {
      if (this.clients.size > 0) this.broadcast(jsonWire(this.board.snapshot()));
    });
    every(this.o.pcaIntervalMs, () => this.refreshPca());
  }

  stop(): void {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  protected open(conn: ClientConnection): true {
    conn.sendJson({ type: 'hello', endpoint: '/ui', protocol: 1, t: Date.now(), stats: this.stats, events: this.events });
    conn.sendJson(this.board.snapshot(Date.now(), false));
    for (const w of this.thumbnails.values()) conn.send(w);
    for (const w of this.attention.values()) conn.send(w);
    if (this.pcaWire) conn.send(this.pcaWire);
    conn.onControl(['ping'], (msg) => {
      if (msg.type === 'ping') conn.sendJson({ type: 'pong', id: msg.id, t: Date.now() });
    });
    return true;
  }

  /** Forgets a stream: its status, latest thumbnail and attention map (the PCA window is bounded on its own). */
  forget(streamId: string): void {
    this.board.remove(streamId);
    this.thumbnails.delete(streamId);
    this.attention.delete(streamId);
  }

  /** Recomputes the projection now (the timer calls this; tests and benches may too). */
  refreshPca(): PcaResult | undefined {
    if (this.clients.size === 0 || this.pca.version === this.pcaVersion) return undefined;
    this.pcaVersion = this.pca.version;
    const t0 = performance.now();
    const r = this.pca.compute();
    if (!r) return undefined;
    const msg: UiPca = { type: 'pca', t: Date.now(), ...r };
    this.pcaWire = jsonWire(msg);
    this.broadcast(this.pcaWire);
    this.log.debug({ n: r.n, dim: r.dim, iterations: r.iterations, ms: +(performance.now() - t0).toFixed(2) }, 'serve: pca');
    return r;
  }

  private onStats(m: StatsMessage): void {
    this.board.onStats(m);
    this.stats.push(m);
    if (this.stats.length > this.o.statsHistory) this.stats.splice(0, this.stats.length - this.o.statsHistory);
    if (this.clients.size > 0) this.broadcast(jsonWire({ type: 'stats', stats: m }));
  }

  private onEvent(e: AgentEvent): void {
    this.board.onEvent(e);
    this.events.push(e);
    if (this.events.length > this.o.eventHistory) this.events.splice(0, this.events.length - this.o.eventHistory);
    if (this.clients.size > 0) this.broadcast(jsonWire({ type: 'event', event: e }));
  }

  private onThumbnail(m: ThumbnailMessage): void {
    this.board.onThumbnail(m);
    const msg: UiThumbnail = { type: 'thumbnail', streamId: m.streamId, t: m.t, frameIndex: m.frameIndex, width: m.width, height: m.height, jpeg: m.jpeg.toString('base64') };
    const w = jsonWire(msg);
    this.keep(this.thumbnails, m.streamId, w);
    this.broadcast(w);
  }

  private onAttention(m: AttentionMessage): void {
    const maps = Array.from(m.maps, (v) => Number(v.toPrecision(4)));
    const msg: UiAttention = {
      type: 'attention',
      streamId: m.streamId,
      t: m.t,
      frameIndex: m.frameIndex,
      teacherStep: m.teacherStep,
      grid: m.grid,
      heads: m.heads,
      maps,
      jpeg: m.jpeg.toString('base64'),
    };
    const w = jsonWire(msg);
    this.keep(this.attention, m.streamId, w);
    this.broadcast(w);
  }

  /** Latest message per stream, bounded like the status board. */
  private keep(map: Map<string, Wire>, id: string, w: Wire): void {
    if (map.has(id) || map.size < 256) map.set(id, w);
  }
}
