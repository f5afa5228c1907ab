import type { IncomingMessage } from 'http';
import { isIP } from 'net';
import { networkInterfaces } from 'os';
import { isLoopbackHost } from './Auth';

export interface OriginPolicyOptions {
  /** The address the server listens on; a name or address here is an allowed Host and Origin. */
  host: string;
  /** More Host names: exact names, ".example.com" for a domain and its subdomains, or "*" to turn the check off. */
  allowedHosts?: readonly string[];
  /** More page origins ("https://dash.example.com"), or "*" to turn the check off. */
  allowedOrigins?: readonly string[];
}

export interface Refusal {
  status: 403 | 421;
  code: 'forbidden_origin' | 'misdirected_host';
  message: string;
}

const WILDCARD_BIND = new Set(['0.0.0.0', '::', '', '*']);

/** Lower case, no brackets, no trailing dot: the form names are compared in. */
function normalizeName(h: string): string {
  return h.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}

/**
 * Names only this machine answers to. Browsers resolve "localhost" and "*.localhost" to loopback themselves
 * (RFC 6761), so no DNS answer can point them elsewhere.
 */
export function isLoopbackName(name: string): boolean {
  return isLoopbackHost(name) || normalizeName(name).endsWith('.localhost');
}

/** The hostname of a Host header ("[::1]:8080" -> "::1"), or undefined when it is not a valid authority. */
function hostnameOf(hostHeader: string): string | undefined {
  try {
    const u = new URL(`http://${hostHeader}`);
    if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) return undefined;
    return normalizeName(u.hostname);
  } catch {
    return undefined;
  }
}

const shown = (s: string) => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/**
 * Browser-borne attacks on a server that listens on loopback. A page from any site can open a websocket to
 * 127.0.0.1 (browsers send its Origin, which only the server can check), and can reach the server under its own
 * name through DNS rebinding (the Host header then carries that name). So every request must name this server in
 * Host (loopback names, the configured host or an allowed name: 421 otherwise), and a request that carries an
 * Origin must come from the same origin, a loopback page or an allowed origin (403 otherwise). Requests without
 * Origin are not from a page (scripts, curl) and pass; navigations and same-origin GETs do not send one either.
 */
export class OriginPolicy {
  private readonly hosts = new Set<string>();
  private readonly domains: string[] = [];
  private readonly anyHost: boolean;
  private readonly origins = new Set<string>();
  private readonly anyOrigin: boolean;
  private readonly bindHost: string;
  private interfaces?: { at: number; names: Set<string> };

  constructor(o: OriginPolicyOptions) {
    this.bindHost = normalizeName(o.host);
    for (const h of o.allowedHosts ?? []) {
      const n = normalizeName(h);
      if (n.startsWith('.')) this.domains.push(n);
      else this.hosts.add(n);
    }
    this.anyHost = this.hosts.has('*');
    for (const x of o.allowedOrigins ?? []) this.origins.add(x.trim() === '*' ? '*' : OriginPolicy.normalizeOrigin(x) ?? x);
    this.anyOrigin = this.origins.has('*');
  }

  /** "HTTPS://Dash.Example.com:443/" -> "https://dash.example.com"; undefined when it is not an http(s) origin. */
  static normalizeOrigin(origin: string): string | undefined {
    try {
      const u = new URL(origin.trim());
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
      return u.origin;
    } catch {
      return undefined;
    }
  }

  /** The refusal for this request, or undefined when it may go on. Host first: a rebound name fails there. */
  check(req: IncomingMessage): Refusal | undefined {
    const host = req.headers.host;
    if (!this.hostAllowed(host)) {
      return {
        status: 421,
        code: 'misdirected_host',
        message:
          `Host ${host === undefined ? '(missing)' : shown(host)} is not a name of this agent. Allowed are loopback names, the configured ` +
          'server.host and server.allowedHosts (env DINO_ALLOWED_HOSTS, flag --allowed-host); the check stops DNS rebinding.',
      };
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, host!)) {
      return {
        status: 403,
        code: 'forbidden_origin',
        message:
          `pages from Origin ${shown(origin)} may not use this agent. Allowed are the same origin, loopback pages and ` +
          'server.allowedOrigins (env DINO_ALLOWED_ORIGINS, flag --allowed-origin).',
      };
    }
    return undefined;
  }

  hostAllowed(hostHeader: string | undefined): boolean {
    if (this.anyHost) return true;
    if (hostHeader === undefined) return false;
    const name = hostnameOf(hostHeader);
    return name !== undefined && this.isOurName(name);
  }

  originAllowed(origin: string, hostHeader: string): boolean {
    if (this.anyOrigin) return true;
    let u: URL;
    try {
      u = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file: pages) and garbage
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return this.origins.has(origin);
    if (this.origins.has(u.origin)) return true;
    const name = normalizeName(u.hostname);
    if (isLoopbackName(name)) return true;
    if (name === this.bindHost && !WILDCARD_BIND.has(name)) return true;
    // Same origin: the page was served by this server under the name it used to reach it (already vetted as Host).
    try {
      return new URL(`${u.protocol}//${hostHeader}`).host === u.host;
    } catch {
      return false;
    }
  }

  private isOurName(name: string): boolean {
    if (isLoopbackName(name) || this.hosts.has(name)) return true;
    if (this.domains.some((d) => name === d.slice(1) || name.endsWith(d))) return true;
    if (!WILDCARD_BIND.has(this.bindHost)) return name === this.bindHost;
    // Listening on every interface: each address of this machine is the configured host. Literal addresses cannot
    // be rebound, a DNS name can.
    return isIP(name) !== 0 && this.interfaceAddresses().has(name);
  }

  private interfaceAddresses(): Set<string> {
    const now = Date.now();
    if (!this.interfaces || now - this.interfaces.at > 10_000) {
      const names = new Set<string>();
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(normalizeName(a.address.split('%')[0]!));
      this.interfaces = { at: now, names };
    }
    return this.interfaces.names;
  }
}
