import WebSocket from 'ws';
import { Observable } from 'rxjs';
import { decodeBinary, type DecodedEmbedding } from '../protocol/EmbeddingCodec';
import type { AgentEvent } from '../types/messages';
import type { EventQuery, EventRecord, PictureName } from '../types/EventLog';
import type { SourceInfo } from '../types/SourceControl';
import { ApiError } from '../types/ApiError';

export { ApiError };

/** A source as in the configuration's `sources` list (validated by the agent, which names any bad field). */
export type SourceSpec = { kind: 'url' | 'file' | 'folder' | 'ws' | 'synthetic'; id?: string } & Record<string, unknown>;

export interface DinoClientOptions {
  /** Where the agent listens: `http://127.0.0.1:8080` (or the same as `ws://`). */
  url: string;
  /** The agent's token (DINO_TOKEN), sent as `Authorization: Bearer`. */
  token?: string;
}

/**
 * A client of a running agent (src/serve/PROTOCOL.md): its teacher embeddings and its events as Observables, its
 * stored events and their pictures, and its sources (listed, added, removed) over the HTTP API. Each subscription
 * opens its own websocket and unsubscribing closes it. An agent that refuses the connection (a wrong token: HTTP
 * 401) or drops it errors the Observable; a normal close completes it. API calls reject with a ApiError.
 */
export class DinoClient {
  private readonly base: string;
  private readonly httpBase: string;

  constructor(private readonly o: DinoClientOptions) {
    const u = new URL(o.url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error(`DinoClient: url must be http(s):// or ws(s)://, got ${o.url}`);
    const secure = u.protocol === 'https:' || u.protocol === 'wss:';
    u.protocol = secure ? 'https:' : 'http:';
    this.httpBase = u.origin;
    u.protocol = secure ? 'wss:' : 'ws:';
    this.base = u.origin;
  }

  /** Stored novelty and drift events, newest first (each with the paths of its pictures). */
  async listEvents(q: EventQuery = {}): Promise<EventRecord[]> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) query.set(k, String(v));
    const body = (await this.request('GET', `/api/events?${query.toString()}`)) as { events: EventRecord[] };
    return body.events;
  }

  /** An event's picture as JPEG bytes: `snapshot` (the frame that raised it) or `before` (drift: the old scene). */
  async eventPicture(id: string, name: PictureName = 'snapshot'): Promise<Buffer> {
    const res = await this.fetch('GET', `/api/events/${encodeURIComponent(id)}/${name}.jpg`);
    return Buffer.from(await res.arrayBuffer());
  }

  async sources(): Promise<SourceInfo[]> {
    return ((await this.request('GET', '/api/sources')) as { sources: SourceInfo[] }).sources;
  }

  /** Adds a source while the agent runs; it is kept across restarts. */
  async addSource(spec: SourceSpec): Promise<SourceInfo> {
    return (await this.request('POST', '/api/sources', spec)) as SourceInfo;
  }

  async removeSource(id: string): Promise<void> {
    await this.request('DELETE', `/api/sources/${encodeURIComponent(id)}`);
  }

  private async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.fetch(method, path, body);
    return res.status === 204 ? undefined : res.json();
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.o.token) headers['Authorization'] = `Bearer ${this.o.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.httpBase}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new ApiError(0, 'unreachable', `DinoClient: ${method} ${path}: ${cause ?? (e as Error).message}`);
    }
    if (res.ok) return res;
    const err = (await res.json().catch(() => ({}))) as { code?: string; message?: string; problems?: string[] };
    throw new ApiError(res.status, err.code ?? 'http_error', `DinoClient: ${method} ${path}: HTTP ${res.status}${err.message ? `: ${err.message}` : ''}`, err.problems);
  }

  /** Teacher embeddings of `streams` (default all, including streams that appear later), decoded from the binary format. */
  embeddings(o: { streams?: readonly string[] | '*'; raw?: boolean } = {}): Observable<DecodedEmbedding> {
    const streams = o.streams === undefined || o.streams === '*' ? '*' : o.streams.join(',');
    return this.connect('/embeddings', { streams, format: 'binary', raw: o.raw ? '1' : '0' }, (data, isBinary) => (isBinary ? decodeBinary(data) : undefined));
  }

  /** Events (novelty, drift, collapse, camera), optionally only some types or streams. */
  events(o: { types?: readonly AgentEvent['type'][]; streams?: readonly string[] } = {}): Observable<AgentEvent> {
    const query: Record<string, string> = {};
    if (o.types) query['types'] = o.types.join(',');
    if (o.streams) query['streams'] = o.streams.join(',');
    return this.connect('/events', query, (data, isBinary) => {
      if (isBinary) return undefined;
      const m = JSON.parse(data.toString('utf8')) as { type: string };
      // hello, dropped, pong and error notices share the socket with the events
      return ['novelty', 'drift', 'collapse', 'camera'].includes(m.type) ? (m as AgentEvent) : undefined;
    });
  }

  private connect<T>(path: string, query: Record<string, string>, parse: (data: Buffer, isBinary: boolean) => T | undefined): Observable<T> {
    return new Observable<T>((subscriber) => {
      const url = `${this.base}${path}?${new URLSearchParams(query).toString()}`;
      const ws = new WebSocket(url, { headers: this.o.token ? { Authorization: `Bearer ${this.o.token}` } : {} });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        try {
          const v = parse(data, isBinary);
          if (v !== undefined) subscriber.next(v);
        } catch (e) {
          subscriber.error(new Error(`DinoClient: bad message on ${path}: ${(e as Error).message}`));
          ws.terminate();
        }
      });
      ws.on('unexpected-response', (_req, res) => {
        subscriber.error(new Error(`DinoClient: ${path} refused with HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong or missing token)' : ''}`));
        ws.terminate();
      });
      ws.on('error', (e) => subscriber.error(new Error(`DinoClient: ${path}: ${e.message}`)));
      ws.on('close', (code, reason) => {
        if (code === 1000) subscriber.complete();
        else subscriber.error(new Error(`DinoClient: ${path} closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
      });
      return () => {
        if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
      };
    });
  }
}
