import type { Registry } from 'prom-client';
import type { EventLog } from '../types/EventLog';
import type { SourceControl } from '../types/SourceControl';
import type { LiveVideo } from './LiveVideo';
import type { AgentHub } from '../types/messages';
import type { Logger } from '../util/Logger';
import type { WebSocketIngest } from '../../streams/sources/WebSocketIngest';

/** Bounds that keep one client, or many, from costing the agent more than a known amount. */
export interface ServerLimits {
  /** Subscribers across /embeddings, /events and /ui; more are refused with 503 on upgrade. */
  maxClients: number;
  /** Concurrent /ingest connections. */
  maxIngestConnections: number;
  /** Largest control message answered normally; larger ones get {type:'error',code:'too_large'}. */
  maxControlMessageBytes: number;
  /** ws maxPayload on control sockets: beyond it the message is abusive and ws closes the socket (1009). */
  maxControlPayloadBytes: number;
  /** ws maxPayload on /ingest; keep it above the WebSocketIngest's maxBytes (default 4 MiB) so it can answer. */
  ingestMaxPayloadBytes: number;
  /** Streams one /embeddings or /events client may name ('*' counts as one). */
  maxStreamsPerClient: number;
  /** Bad control messages per minute before the socket is closed (1008 policy violation). */
  maxControlErrorsPerMinute: number;
  /**
   * Per-client send queue: messages and bytes waiting, drop-oldest beyond. Worst case per stalled client is about
   * queueMaxBytes + highWaterMarkBytes, less in practice since queued messages are buffers shared by all clients.
   */
  queueMaxMessages: number;
  queueMaxBytes: number;
  /** Stop feeding a socket while its bufferedAmount is above this. */
  highWaterMarkBytes: number;
  /** Ping every client this often; one that has not answered the previous ping is terminated. */
  pingIntervalMs: number;
  /** Open websockets (all endpoints together) from one remote address; more are refused with 429. 0: no cap. */
  maxConnectionsPerAddress: number;
  /** Messages a subscriber may send per second (token bucket, burst messageBurst); beyond, each gets a rate_limited error. */
  messagesPerSecond: number;
  messageBurst: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxClients: 64,
  maxIngestConnections: 16,
  maxControlMessageBytes: 4 * 1024,
  maxControlPayloadBytes: 64 * 1024,
  ingestMaxPayloadBytes: 8 * 1024 * 1024,
  maxStreamsPerClient: 64,
  maxControlErrorsPerMinute: 20,
  queueMaxMessages: 512,
  queueMaxBytes: 2 * 1024 * 1024,
  highWaterMarkBytes: 512 * 1024,
  pingIntervalMs: 15_000,
  maxConnectionsPerAddress: 32,
  messagesPerSecond: 20,
  messageBurst: 40,
};

export interface DashboardOptions {
  /** Stats messages kept for a dashboard that connects late. */
  statsHistory: number;
  /** Events kept for a dashboard that connects late. */
  eventHistory: number;
  /** Per-stream status (novelty, drift, camera, fps) pushed this often. */
  statusIntervalMs: number;
  /** Embeddings in the PCA window, and how often the projection is recomputed (only while a dashboard is open). */
  pcaCapacity: number;
  pcaIntervalMs: number;
}

export const DEFAULT_DASHBOARD: DashboardOptions = {
  statsHistory: 600,
  eventHistory: 100,
  statusIntervalMs: 1000,
  pcaCapacity: 300,
  pcaIntervalMs: 2000,
};

export interface AgentServerOptions {
  hub: AgentHub;
  /** Enables GET /api/events and the events' pictures. */
  events?: EventLog;
  /** Enables GET/POST/DELETE /api/sources. */
  sources?: SourceControl;
  /** Enables ws /live/<streamId>: full-rate video of camera URL sources. */
  live?: LiveVideo;
  /** Enables ws /ingest/<streamId>: each accepted socket is handed to ingest.handleConnection. */
  ingest?: WebSocketIngest;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port (start() returns it). */
  port?: number;
  /** Shared secret; default env.DINO_TOKEN. When set it is required on everything but /healthz and static assets. */
  token?: string;
  /** Allow listening beyond loopback without a token. */
  insecure?: boolean;
  /** Host names besides loopback and `host` (".example.com": a domain and its subdomains; "*": any). See OriginPolicy. */
  allowedHosts?: readonly string[];
  /** Page origins besides the same origin and loopback pages ("https://dash.example.com"; "*": any). */
  allowedOrigins?: readonly string[];
  limits?: Partial<ServerLimits>;
  dashboard?: Partial<DashboardOptions>;
  /** /healthz answers 503 when training has started and no stats arrived for this long. Default 120 s. */
  healthStaleMs?: number;
  /** More fields for the /healthz body (a scaled-out gateway adds the roles it hears from); nothing secret. */
  healthExtra?: () => Record<string, unknown>;
  /** Where the server's metrics go; the agent registers its own into the same registry. Default: a new Registry. */
  registry?: Registry;
  log?: Logger;
  /** Where DINO_TOKEN is read from. Default process.env. */
  env?: Record<string, string | undefined>;
}
