import type { WebSocket } from 'ws';
import type { Logger } from '../util/Logger';
import { ClientConnection } from './ClientConnection';
import type { ServerLimits } from './ServeOptions';
import type { ServePath, ServerMetrics } from './ServerMetrics';
import { ServeMetricsChildren } from './ServeMetricsChildren';
import type { Wire } from './Wire';

/**
 * What the endpoints /embeddings, /events and /ui share: the set of connected clients with their per-client state,
 * the client gauge, and broadcast of one serialized message to many queues.
 * Subclasses parse their query (throwing ControlError before the upgrade is accepted) and own their hub subscriptions.
 */
export abstract class SubscriberChannel<Q, S> {
  protected readonly clients = new Map<ClientConnection, S>();
  protected readonly m: ServeMetricsChildren;

  constructor(
    readonly path: ServePath,
    protected readonly limits: ServerLimits,
    protected readonly metrics: ServerMetrics,
    protected readonly log: Logger,
  ) {
    this.m = new ServeMetricsChildren(metrics, path);
  }

  get size(): number {
    return this.clients.size;
  }

  connections(): IterableIterator<ClientConnection> {
    return this.clients.keys();
  }

  /** Validates the query string of an upgrade request; throws ControlError (answered as HTTP 400). */
  abstract parseQuery(q: URLSearchParams): Q;

  /** Begins reading the hub. */
  abstract start(): void;

  /** Stops reading the hub (clients are closed by the server). */
  abstract stop(): void;

  /** Initial state of a new client, its hello message, its control handler. */
  protected abstract open(conn: ClientConnection, query: Q): S;

  accept(socket: WebSocket, query: Q, remote: string): ClientConnection {
    const conn = new ClientConnection(socket, this.limits, this.m, this.log, remote);
    this.clients.set(conn, this.open(conn, query));
    this.metrics.clients.inc({ path: this.path });
    socket.on('close', () => {
      if (this.clients.delete(conn)) this.metrics.clients.dec({ path: this.path });
      this.closed(conn);
    });
    return conn;
  }

  /** Hook for subclasses that keep more per-client bookkeeping. */
  protected closed(_conn: ClientConnection): void {}

  protected broadcast(w: Wire, filter?: (state: S) => boolean): void {
    for (const [conn, state] of this.clients) if (!filter || filter(state)) conn.send(w);
  }
}
