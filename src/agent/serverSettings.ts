import type { AgentConfig } from '../../config/schema';
import type { AgentServerOptions } from '../serve/ServeOptions';
import type { WebSocketIngestOptions } from '../../streams/sources/WebSocketIngest';

/**
 * The server's configured bounds and checks (Origin/Host, token, limits), as the agent and the scale-out gateway
 * both pass them: one place, so no front door is built without them.
 */
export function serverSettings(srv: AgentConfig['server']): Pick<AgentServerOptions, 'host' | 'port' | 'token' | 'insecure' | 'allowedHosts' | 'allowedOrigins' | 'limits'> {
  return {
    host: srv.host,
    port: srv.port,
    token: srv.token,
    insecure: srv.insecure,
    allowedHosts: srv.allowedHosts,
    allowedOrigins: srv.allowedOrigins,
    limits: {
      maxClients: srv.maxClients,
      maxIngestConnections: srv.maxIngestConnections,
      maxConnectionsPerAddress: srv.maxConnectionsPerAddress,
      messagesPerSecond: srv.messagesPerSec,
      messageBurst: Math.max(1, 2 * srv.messagesPerSec),
    },
  };
}

/** The ingest's configured bounds; `ids` says which stream ids are the ws sources' (declared) and which other sources' (reserved). */
export function ingestSettings(
  cfg: AgentConfig,
  ids: Pick<WebSocketIngestOptions, 'declared' | 'reserved'>,
): Omit<WebSocketIngestOptions, 'logger'> {
  const srv = cfg.server;
  return {
    width: cfg.train.frameSize,
    height: cfg.train.frameSize,
    ...ids,
    open: srv.openIngest,
    maxStreams: srv.maxStreams,
    idleTimeoutMs: srv.ingestIdleSec * 1000,
    messagesPerSecond: srv.ingestMessagesPerSec,
    messageBurst: Math.max(1, 2 * srv.ingestMessagesPerSec),
    maxInputPixels: srv.maxInputPixels ?? undefined,
  };
}
