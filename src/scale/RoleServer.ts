import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { assertSafeBinding, TokenAuth } from '../serve/Auth';
import { OriginPolicy } from '../serve/OriginPolicy';

export interface RoleServerOptions {
  host: string;
  port: number;
  token?: string;
  insecure: boolean;
  /** Host names and page origins allowed beside loopback and `host` (server.allowedHosts, server.allowedOrigins). */
  allowedHosts?: readonly string[];
  allowedOrigins?: readonly string[];
  registry: Registry;
  /** The /healthz body; ok=false answers 503. */
  health: () => { ok: boolean } & Record<string, unknown>;
}

/**
 * /healthz and /metrics of a process that runs no gateway (an embed worker, a trainer...). The same rules as the
 * agent's server: the Host and Origin checks (421, 403: DNS rebinding and pages of other sites), a token beyond
 * loopback, required on /metrics when set; /healthz is public and says nothing secret.
 */
export class RoleServer {
  private readonly http: Server;
  private readonly auth: TokenAuth;
  private readonly policy: OriginPolicy;

  constructor(private readonly o: RoleServerOptions) {
    this.auth = new TokenAuth(o.token);
    this.policy = new OriginPolicy({ host: o.host, allowedHosts: o.allowedHosts, allowedOrigins: o.allowedOrigins });
    this.http = createServer((req, res) => void this.onRequest(req, res).catch(() => res.destroy()));
    this.http.on('clientError', (_e, socket) => socket.destroy());
  }

  async start(): Promise<{ host: string; port: number }> {
    assertSafeBinding(this.o.host, this.o.token, this.o.insecure);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.o.port, this.o.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    return { host: this.o.host, port: (this.http.address() as AddressInfo).port };
  }

  async stop(): Promise<void> {
    if (!this.http.listening) return;
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const refusal = this.policy.check(req);
    if (refusal) return send(refusal.status, 'application/json', JSON.stringify({ type: 'error', code: refusal.code, message: refusal.message }));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'application/json', JSON.stringify({ type: 'error', code: 'method_not_allowed' }));
    if (url.pathname === '/healthz') {
      const h = this.o.health();
      return send(h.ok ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(h));
    }
    if (url.pathname !== '/metrics') return send(404, 'application/json', JSON.stringify({ type: 'error', code: 'not_found', message: 'this process serves /healthz and /metrics' }));
    if (!this.auth.allows(req, url)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="dino-stream"');
      return send(401, 'application/json', JSON.stringify({ type: 'error', code: 'unauthorized', message: 'send "Authorization: Bearer <token>" (DINO_TOKEN)' }));
    }
    send(200, this.o.registry.contentType, await this.o.registry.metrics());
  }
}
