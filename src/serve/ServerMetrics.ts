import { Counter, Gauge, Registry } from 'prom-client';
import type { IngestStreamStats } from '../../streams/sources/WebSocketIngest';

/** The ws endpoints as metric label values (fixed set: user-supplied paths never become labels). */
export type ServePath = '/embeddings' | '/events' | '/ui' | '/ingest' | '/live';
export const SERVE_PATHS: readonly ServePath[] = ['/embeddings', '/events', '/ui', '/ingest', '/live'];

/** Label for auth failures and rejections: a known endpoint, or 'http' / 'other'. */
export type PathLabel = ServePath | '/' | '/metrics' | '/api' | 'other';

/**
 * The server's own Prometheus metrics, registered into the agent's registry next to its training gauges.
 * Ingest counters live in WebSocketIngest; they are copied in as deltas when Prometheus scrapes.
 */
export class ServerMetrics {
  readonly clients: Gauge<'path'>;
  readonly messagesSent: Counter<'path'>;
  readonly messagesDropped: Counter<'path'>;
  readonly bytesSent: Counter<'path'>;
  readonly authFailures: Counter<'path'>;
  readonly rejected: Counter<'path' | 'reason'>;
  readonly controlErrors: Counter<'path' | 'code'>;
  readonly deadClients: Counter<'path'>;
  readonly ingestErrors: Counter<'stream' | 'code'>;
  readonly ingestFrames: Counter<'stream'>;
  readonly ingestDropped: Counter<'stream'>;
  private ingestStats?: () => Record<string, IngestStreamStats>;
  private readonly seen = new Map<string, number>();

  constructor(readonly registry: Registry) {
    const r = [registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: L[]) =>
      (registry.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge<L>({ name, help, labelNames, registers: r });
    const counter = <L extends string>(name: string, help: string, labelNames: L[], collect?: () => void) =>
      (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter<L>({ name, help, labelNames, registers: r, collect });

    this.clients = gauge('dino_serve_clients', 'Connected websocket clients per endpoint', ['path']);
    this.messagesSent = counter('dino_serve_messages_sent_total', 'Messages handed to client sockets', ['path']);
    this.messagesDropped = counter('dino_serve_messages_dropped_total', 'Messages dropped from slow clients\' queues (drop-oldest)', ['path']);
    this.bytesSent = counter('dino_serve_bytes_sent_total', 'Payload bytes handed to client sockets', ['path']);
    this.authFailures = counter('dino_serve_auth_failures_total', 'Requests and upgrades rejected for a missing or wrong token', ['path']);
    this.rejected = counter('dino_serve_rejected_total', 'Upgrades refused for another reason than auth (limits, bad stream id, bad query, unknown path)', ['path', 'reason']);
    this.controlErrors = counter('dino_serve_control_errors_total', 'Malformed, oversized or invalid control messages', ['path', 'code']);
    this.deadClients = counter('dino_serve_dead_clients_total', 'Clients terminated for not answering pings', ['path']);
    this.ingestErrors = counter('dino_serve_ingest_errors_total', 'Ingest messages rejected (per stream and error code)', ['stream', 'code'], () => this.collectIngest());
    this.ingestFrames = counter('dino_serve_ingest_frames_total', 'Frames decoded from websocket ingest', ['stream'], () => this.collectIngest());
    this.ingestDropped = counter('dino_serve_ingest_dropped_total', 'Ingest messages dropped because a client sent faster than frames decode', ['stream'], () => this.collectIngest());
    // Zero series up front, so dashboards and alerts see every endpoint before anything happens on it.
    for (const path of SERVE_PATHS) {
      this.clients.set({ path }, 0);
      for (const c of [this.messagesSent, this.messagesDropped, this.bytesSent, this.authFailures, this.deadClients]) c.inc({ path }, 0);
    }
  }

  /** Where ingest counters come from (WebSocketIngest.allStats). */
  trackIngest(stats: () => Record<string, IngestStreamStats>): void {
    this.ingestStats = stats;
  }

  /** Drops a forgotten ingest stream's series, so /metrics holds only streams the agent still keeps. */
  removeStream(stream: string): void {
    this.ingestFrames.remove({ stream });
    this.ingestDropped.remove({ stream });
    this.seen.delete(`f|${stream}`);
    this.seen.delete(`d|${stream}`);
    const prefix = `e|${stream}|`;
    for (const key of [...this.seen.keys()]) {
      if (!key.startsWith(prefix)) continue;
      this.ingestErrors.remove({ stream, code: key.slice(prefix.length) });
      this.seen.delete(key);
    }
  }

  private collectIngest(): void {
    if (!this.ingestStats) return;
    // Each of the three collect hooks calls this; deltas make repeated calls harmless.
    for (const [stream, s] of Object.entries(this.ingestStats())) {
      this.bump(`f|${stream}`, s.frames, (d) => this.ingestFrames.inc({ stream }, d));
      this.bump(`d|${stream}`, s.dropped, (d) => this.ingestDropped.inc({ stream }, d));
      for (const [code, n] of Object.entries(s.errorsByCode)) this.bump(`e|${stream}|${code}`, n ?? 0, (d) => this.ingestErrors.inc({ stream, code }, d));
    }
  }

  private bump(key: string, value: number, inc: (delta: number) => void): void {
    const delta = value - (this.seen.get(key) ?? 0);
    if (delta > 0) {
      this.seen.set(key, value);
      inc(delta);
    }
  }
}
