import { createHash, timingSafeEqual } from 'crypto';
import type { IncomingMessage } from 'http';
import { isIP } from 'net';

/** True for addresses only this machine can reach. 'localhost' counts; '0.0.0.0', '::' and names do not. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** The token a request carries: `Authorization: Bearer <t>` or `?token=<t>` (browsers cannot set ws headers). */
export function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const h = req.headers.authorization;
  if (h) {
    const m = /^Bearer\s+(.+)$/i.exec(h.trim());
    if (m) return m[1]!.trim();
  }
  return url.searchParams.get('token') ?? undefined;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks the shared token. Comparing SHA-256 digests with timingSafeEqual keeps the time independent of where the
 * strings differ and of their lengths.
 */
export class TokenAuth {
  private readonly expected?: Buffer;

  constructor(readonly token: string | undefined) {
    if (token !== undefined && token.length === 0) throw new Error('auth token must not be empty');
    this.expected = token === undefined ? undefined : digest(token);
  }

  get required(): boolean {
    return this.expected !== undefined;
  }

  allows(req: IncomingMessage, url: URL): boolean {
    if (!this.expected) return true;
    const got = tokenOf(req, url);
    return got !== undefined && timingSafeEqual(digest(got), this.expected);
  }
}

/**
 * Refuses a configuration that would expose the agent without a token. Listening beyond loopback needs a token
 * (or an explicit insecure opt-out), because embeddings, thumbnails and the ingest endpoint would be open to anyone.
 */
export function assertSafeBinding(host: string, token: string | undefined, insecure: boolean): void {
  if (token !== undefined || insecure || isLoopbackHost(host)) return;
  throw new Error(
    `refusing to listen on ${host} without an auth token: anyone who can reach this address could read the embeddings ` +
      `and thumbnails and push frames. Set one with the DINO_TOKEN environment variable (e.g. DINO_TOKEN=$(openssl rand -hex 24)) ` +
      `or the server's "token" option, listen on 127.0.0.1, or pass insecure: true to opt out knowingly.`,
  );
}
