import type { Observable, Subscription } from 'rxjs';
import type { AgentEvent } from '../types/messages';
import type { Logger } from '../util/Logger';
import type { ClientConnection } from './ClientConnection';
import { checkStreams, ControlError, ControlMessage, EVENT_TYPES, EventTypeName, listParam } from './ControlMessages';
import type { ServerLimits } from './ServeOptions';
import type { ServerMetrics } from './ServerMetrics';
import { SubscriberChannel } from './SubscriberChannel';
import { jsonWire } from './Wire';

/** null = everything. */
export interface EventFilter {
  types: Set<EventTypeName> | null;
  streams: Set<string> | null;
}

function checkTypes(types: string[] | '*'): Set<EventTypeName> | null {
  if (types === '*') return null;
  const bad = types.find((t) => !(EVENT_TYPES as readonly string[]).includes(t));
  if (bad !== undefined) throw new ControlError('bad_query', `unknown event type ${JSON.stringify(bad.slice(0, 40))}; types are ${EVENT_TYPES.join(', ')}`);
  return new Set(types as EventTypeName[]);
}

function view(f: EventFilter) {
  return { types: f.types ? [...f.types] : '*', streams: f.streams ? [...f.streams] : '*' };
}

/** Collapse events concern the whole model, not a stream: a stream filter lets them through. */
export function eventPasses(f: EventFilter, e: AgentEvent): boolean {
  if (f.types && !f.types.has(e.type)) return false;
  if (f.streams && 'streamId' in e && !f.streams.has(e.streamId)) return false;
  return true;
}

/** ws /events: novelty, drift, collapse and camera events as JSON, each serialized once. */
export class EventsChannel extends SubscriberChannel<EventFilter, EventFilter> {
  private sub?: Subscription;

  constructor(
    private readonly source: Observable<AgentEvent>,
    limits: ServerLimits,
    metrics: ServerMetrics,
    log: Logger,
  ) {
    super('/events', limits, metrics, log);
  }

  parseQuery(q: URLSearchParams): EventFilter {
    const types = listParam(q, 'types');
    const streams = listParam(q, 'streams');
    const s = streams === undefined ? '*' : checkStreams(streams, this.limits.maxStreamsPerClient);
    return { types: types === undefined ? null : checkTypes(types), streams: s === '*' ? null : new Set(s) };
  }

  start(): void {
    this.sub ??= this.source.subscribe({
      next: (e) => {
        if (this.clients.size > 0) {
          const w = jsonWire(e);
          this.broadcast(w, (f) => eventPasses(f, e));
        }
      },
      error: (err: unknown) => this.log.error({ err: String(err) }, 'serve: events$ failed'),
    });
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  protected open(conn: ClientConnection, f: EventFilter): EventFilter {
    conn.sendJson({ type: 'hello', endpoint: '/events', protocol: 1, filter: view(f) });
    conn.onControl(['filter', 'ping'], (msg: ControlMessage) => {
      if (msg.type === 'ping') return conn.sendJson({ type: 'pong', id: msg.id, t: Date.now() });
      if (msg.type !== 'filter') return;
      // Validate both before changing either, so a bad message leaves the filter as it was.
      const types = msg.types === undefined ? undefined : checkTypes(msg.types);
      const streams = msg.streams === undefined ? undefined : checkStreams(msg.streams, this.limits.maxStreamsPerClient);
      if (types !== undefined) f.types = types;
      if (streams !== undefined) f.streams = streams === '*' ? null : new Set(streams);
      conn.sendJson({ type: 'filtered', ...view(f) });
    });
    return f;
  }
}
