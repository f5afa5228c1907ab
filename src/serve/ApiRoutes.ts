import type { IncomingMessage, ServerResponse } from 'http';
import type { EventLog, EventQuery, PictureName } from '../types/EventLog';
import { ApiError } from '../types/ApiError';
import type { SourceControl } from '../types/SourceControl';

export interface ApiOptions {
  events?: EventLog;
  sources?: SourceControl;
  /** Largest JSON body of a POST. */
  maxBodyBytes?: number;
}

export type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;
export type SendBytes = (status: number, type: string, body: Buffer, headers?: Record<string, string>) => void;

/** A refusal with response headers (405's Allow). */
class HttpError extends ApiError {
  constructor(status: number, code: string, message: string, readonly headers?: Record<string, string>) {
    super(status, code, message);
  }
}

const PICTURE = /^\/api\/events\/([^/]+)\/(snapshot|before)\.jpg$/;

function parseSince(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  const t = Number.isFinite(n) ? n : Date.parse(v);
  if (!Number.isFinite(t)) throw new HttpError(400, 'bad_query', `since=${v.slice(0, 40)}: use milliseconds since the epoch or an ISO date (2026-12-07T10:00:00Z)`);
  return t;
}

function parseLimit(v: string | null): number {
  if (v === null || v === '') return 100;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new HttpError(400, 'bad_query', `limit=${v.slice(0, 20)}: a whole number from 1 to 1000`);
  return n;
}

/**
 * The JSON API beside the dashboard: events with their pictures, and the sources (listed, added and removed at
 * run time). The server has already checked Host, Origin and the token before a request gets here.
 *
 *   GET    /api/events?stream=&type=&since=&limit=   newest first
 *   GET    /api/events/<id>                          one event
 *   GET    /api/events/<id>/snapshot.jpg | before.jpg
 *   GET    /api/sources
 *   POST   /api/sources                              a source as in the configuration's "sources" list
 *   DELETE /api/sources/<id>
 */
export class ApiRoutes {
  constructor(private readonly o: ApiOptions) {}

  async handle(req: IncomingMessage, url: URL, reply: Reply, bytes: SendBytes): Promise<void> {
    try {
      await this.route(req, url, reply, bytes);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      const body = { type: 'error', code: e.code, message: e.message, ...(e.problems.length ? { problems: e.problems } : {}) };
      return reply(e.status, body, e instanceof HttpError ? e.headers : undefined);
    }
  }

  private async route(req: IncomingMessage, url: URL, reply: Reply, bytes: SendBytes): Promise<void> {
    const p = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    const only = (...allowed: string[]) => {
      if (!allowed.includes(method)) throw new HttpError(405, 'method_not_allowed', `${method} is not supported here; use ${allowed.join(' or ')}`, { Allow: allowed.join(', ') });
    };
    if (p === '/api/events' || p.startsWith('/api/events/')) {
      only('GET', 'HEAD');
      const events = this.o.events;
      if (!events) throw new HttpError(404, 'events_disabled', 'this agent keeps no event store');
      if (p === '/api/events') {
        const q: EventQuery = {
          stream: url.searchParams.get('stream') || undefined,
          type: url.searchParams.get('type') || undefined,
          since: parseSince(url.searchParams.get('since')),
          limit: parseLimit(url.searchParams.get('limit')),
        };
        return reply(200, { events: events.list(q) });
      }
      const pic = PICTURE.exec(p);
      if (pic) {
        const jpeg = await events.picture(decodeURIComponent(pic[1]!), pic[2] as PictureName);
        if (!jpeg) throw new HttpError(404, 'not_found', `no ${pic[2]} picture for event ${pic[1]!.slice(0, 40)}`);
        return bytes(200, 'image/jpeg', jpeg, { 'Cache-Control': 'private, max-age=86400, immutable' });
      }
      const rec = events.get(decodeURIComponent(p.slice('/api/events/'.length)));
      if (!rec) throw new HttpError(404, 'not_found', `no event ${p.slice('/api/events/'.length, 60)}`);
      return reply(200, rec);
    }
    if (p === '/api/sources' || p.startsWith('/api/sources/')) {
      const sources = this.o.sources;
      if (!sources) throw new HttpError(404, 'sources_disabled', 'sources cannot be changed on this agent');
      if (p === '/api/sources') {
        only('GET', 'HEAD', 'POST');
        if (method === 'POST') return reply(201, await sources.add(await this.jsonBody(req)));
        return reply(200, { sources: sources.list() });
      }
      only('DELETE');
      const id = decodeURIComponent(p.slice('/api/sources/'.length));
      if (!(await sources.remove(id))) throw new HttpError(404, 'not_found', `no source "${id.slice(0, 64)}"`);
      return reply(204, undefined);
    }
    throw new HttpError(404, 'not_found', `no such endpoint: ${p.slice(0, 100)}; the API has /api/events and /api/sources`);
  }

  private async jsonBody(req: IncomingMessage): Promise<unknown> {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'unsupported_media_type', 'send the source as JSON with Content-Type: application/json');
    const max = this.o.maxBodyBytes ?? 64 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > max) throw new HttpError(413, 'too_large', `the body is larger than ${max} bytes`);
      chunks.push(c);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      throw new HttpError(400, 'bad_json', `the body is not valid JSON: ${(e as Error).message}`);
    }
  }
}
