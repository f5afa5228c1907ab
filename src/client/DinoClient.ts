import WebSocket from 'ws';
import { Observable } from 'rxjs';
import { decodeBinary, type DecodedEmbedding } from '../serve/EmbeddingCodec';
import type { AgentEvent } from '../types/messages';

export interface DinoClientOptions {
  /** Where the agent listens: `http://127.0.0.1:8080` (or the same as `ws://`). */
  url: string;
  /** The agent's token (DINO_TOKEN), sent as `Authorization: Bearer`. */
  token?: string;
}

/**
 * A subscriber to a running agent (src/serve/PROTOCOL.md): its teacher embeddings and its events as Observables.
 * Each subscription opens its own websocket and unsubscribing closes it. An agent that refuses the connection
 * (a wrong token: HTTP 401) or drops it errors the Observable; a normal close completes it.
 */
export class DinoClient {
  private readonly base: string;

  constructor(private readonly o: DinoClientOptions) {
    const u = new URL(o.url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) throw new Error(`DinoClient: url must be http(s):// or ws(s)://, got ${o.url}`);
    u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:';
    this.base = u.origin;
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
