import type { Observable, Subscription } from 'rxjs';
import type { EmbeddingMessage } from '../types/messages';
import type { Logger } from '../util/Logger';
import type { ClientConnection } from './ClientConnection';
import { boolParam, checkStreams, ControlError, ControlMessage, listParam } from './ControlMessages';
import { encodeBinary, encodeJson } from '../protocol/EmbeddingCodec';
import type { ServerLimits } from './ServeOptions';
import type { ServerMetrics } from './ServerMetrics';
import { SubscriberChannel } from './SubscriberChannel';
import { binaryWire, Wire } from './Wire';

export type EmbeddingFormat = 'json' | 'binary';

export interface EmbeddingQuery {
  streams?: string[] | '*';
  format: EmbeddingFormat;
  raw: boolean;
}

interface EmbeddingSubscription {
  all: boolean;
  streams: Set<string>;
  /** Streams unsubscribed while subscribed to all. */
  except: Set<string>;
  format: EmbeddingFormat;
  raw: boolean;
}

/** How a subscription is reported back to the client. */
export interface SubscriptionView {
  streams: string[] | '*';
  except?: string[];
  format: EmbeddingFormat;
  raw: boolean;
}

function view(s: EmbeddingSubscription): SubscriptionView {
  const v: SubscriptionView = { streams: s.all ? '*' : [...s.streams], format: s.format, raw: s.raw };
  if (s.all && s.except.size) v.except = [...s.except];
  return v;
}

/**
 * ws /embeddings: each teacher embedding goes to the clients subscribed to its stream, in the client's format.
 * Each message is encoded at most once per (format, raw) variant, lazily, whatever the number of clients.
 */
export class EmbeddingsChannel extends SubscriberChannel<EmbeddingQuery, EmbeddingSubscription> {
  private sub?: Subscription;
  private readonly known = new Set<string>();

  constructor(
    private readonly source: Observable<EmbeddingMessage>,
    limits: ServerLimits,
    metrics: ServerMetrics,
    log: Logger,
  ) {
    super('/embeddings', limits, metrics, log);
  }

  parseQuery(q: URLSearchParams): EmbeddingQuery {
    const format = q.get('format') ?? 'json';
    if (format !== 'json' && format !== 'binary') throw new ControlError('bad_query', `format=${JSON.stringify(format.slice(0, 40))}: use json or binary`);
    const streams = listParam(q, 'streams');
    return { streams: streams && checkStreams(streams, this.limits.maxStreamsPerClient), format, raw: boolParam(q, 'raw') ?? false };
  }

  start(): void {
    this.sub ??= this.source.subscribe({
      next: (m) => this.publish(m),
      error: (err: unknown) => this.log.error({ err: String(err) }, 'serve: embeddings$ failed'),
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  protected open(conn: ClientConnection, q: EmbeddingQuery): EmbeddingSubscription {
    const s: EmbeddingSubscription = { all: q.streams === '*', streams: new Set(q.streams === '*' ? [] : (q.streams ?? [])), except: new Set(), format: q.format, raw: q.raw };
    conn.sendJson({
      type: 'hello',
      endpoint: '/embeddings',
      protocol: 1,
      streams: [...this.known],
      subscription: view(s),
      limits: { maxControlMessageBytes: this.limits.maxControlMessageBytes, maxStreamsPerClient: this.limits.maxStreamsPerClient },
    });
    conn.onControl(['subscribe', 'unsubscribe', 'ping'], (msg) => this.control(conn, s, msg));
    return s;
  }

  private control(conn: ClientConnection, s: EmbeddingSubscription, msg: ControlMessage): void {
    if (msg.type === 'ping') {
      conn.sendJson({ type: 'pong', id: msg.id, t: Date.now() });
      return;
    }
    if (msg.type !== 'subscribe' && msg.type !== 'unsubscribe') return;
    const streams = msg.streams === undefined ? undefined : checkStreams(msg.streams, this.limits.maxStreamsPerClient);
    if (msg.type === 'subscribe') {
      if (streams !== undefined) {
        const next = { all: s.all, streams: new Set(s.streams), except: new Set(s.except) };
        if (streams === '*') {
          next.all = true;
          next.streams.clear();
          next.except.clear();
        } else {
          for (const id of streams) {
            if (next.all) next.except.delete(id);
            else next.streams.add(id);
          }
        }
        const named = next.streams.size + next.except.size;
        if (named > this.limits.maxStreamsPerClient) {
          throw new ControlError('too_many_streams', `subscription would name ${named} streams; at most ${this.limits.maxStreamsPerClient} per client (or "*" for all)`);
        }
        Object.assign(s, next);
      }
      if (msg.format) s.format = msg.format;
      if (msg.raw !== undefined) s.raw = msg.raw;
    } else if (streams === '*') {
      s.all = false;
      s.streams.clear();
      s.except.clear();
    } else if (streams) {
      for (const id of streams) {
        if (s.all) {
          if (s.except.size >= this.limits.maxStreamsPerClient) throw new ControlError('too_many_streams', `at most ${this.limits.maxStreamsPerClient} exceptions to "*"`);
          s.except.add(id);
        } else s.streams.delete(id);
      }
    }
    conn.sendJson({ type: 'subscribed', ...view(s) });
  }

  /** Fan-out of one message (public so a benchmark or the agent can drive it without a hub). */
  publish(m: EmbeddingMessage): void {
    if (this.known.size < 1024) this.known.add(m.streamId); // only for the hello message: bounded
    if (this.clients.size === 0) return;
    const cache: (Wire | undefined)[] = [undefined, undefined, undefined, undefined];
    const hasRaw = m.raw !== undefined;
    for (const [conn, s] of this.clients) {
      if (s.all ? s.except.has(m.streamId) : !s.streams.has(m.streamId)) continue;
      const raw = s.raw && hasRaw;
      const k = (s.format === 'binary' ? 2 : 0) + (raw ? 1 : 0);
      let w = cache[k];
      if (!w) {
        try {
          w = s.format === 'binary' ? binaryWire(encodeBinary(m, { raw })) : { data: Buffer.from(encodeJson(m, { raw })), binary: false };
        } catch (e) {
          this.log.error({ err: (e as Error).message, streamId: m.streamId }, 'serve: cannot encode embedding; skipped');
          return;
        }
        cache[k] = w;
      }
      conn.send(w);
    }
  }
}
