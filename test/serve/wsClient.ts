import { WebSocket } from 'ws';
import { request } from 'http';
import { waitFor } from '../streams/waitFor';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** A real ws client that records what it receives (JSON text and binary separately). */
export class TestClient {
  readonly json: any[] = [];
  readonly binary: Buffer[] = [];
  /** Everything in arrival order: parsed JSON or the Buffer. */
  readonly all: (any | Buffer)[] = [];
  closed?: { code: number; reason: string };

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      if (isBinary) {
        this.binary.push(d);
        this.all.push(d);
      } else {
        const m = JSON.parse(d.toString('utf8'));
        this.json.push(m);
        this.all.push(m);
      }
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('error', () => {});
  }

  static open(url: string, headers?: Record<string, string>): Promise<TestClient> {
    const ws = new WebSocket(url, { headers });
    const c = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value));
  }

  /** Resolves with the first JSON message (at or after index `from`) that matches. */
  async waitJson(pred: (m: any) => boolean, what: string, from = 0, timeoutMs = 3000): Promise<any> {
    let hit: any;
    await waitFor(() => (hit = this.json.slice(from).find(pred)) !== undefined, timeoutMs, what);
    return hit;
  }

  ofType(type: string): any[] {
    return this.json.filter((m) => m.type === type);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Tries an upgrade that should be refused; returns the HTTP status and the JSON body. */
export function refusedUpgrade(url: string, headers?: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`upgrade to ${url} was accepted`));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, body: body ? JSON.parse(body) : undefined });
      });
    });
  });
}

/** A GET with exactly these headers (fetch forbids setting Host); returns the status and the body as text. */
export function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type?: string }> {
  return httpRequest('GET', url, headers);
}

/** A request with exactly these headers and an optional body (fetch forbids setting Host). */
export function httpRequest(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string; type?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
