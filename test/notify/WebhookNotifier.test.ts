import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../src/util/Logger';
import { WebhookNotifier, type WebhookTarget } from '../../src/notify/WebhookNotifier';
import { freePort } from '../helpers/freePort';
import { waitFor } from '../streams/waitFor';

const SECRET = 'whsec-0123456789abcdef';

function recordingLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A local receiver on 127.0.0.1 whose answers the test scripts (status codes, or never answering). */
async function receiver(answer: (n: number, r: Received) => number | 'hang' = () => 200): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const r = { headers: req.headers, body, at: Date.now() };
      got.push(r);
      const a = answer(got.length, r);
      if (a === 'hang') return;
      res.writeHead(a).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?key=query-secret`, got, server };
}

const close = (s: Server) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())));
const target = (url: string, o: Partial<WebhookTarget> = {}): WebhookTarget => ({ url, secret: SECRET, types: ['novelty', 'drift'], timeoutMs: 2000, maxAttempts: 4, queueSize: 100, ...o });
const event = (i: number) => ({ type: 'novelty', streamId: 'door', t: 1765102530123 + i, id: `20261207T10153${i}123Z-00000${i}`, score: 0.5, snapshot: `/api/events/x${i}/snapshot.jpg` });

/** What a receiver does: HMAC-SHA256 of the raw body with the shared secret, compared in constant time. */
function signatureValid(r: Received, secret: string): boolean {
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
  const got = Buffer.from(String(r.headers['x-dino-signature-256'] ?? ''));
  return got.length === want.length && timingSafeEqual(got, want);
}

describe('WebhookNotifier against a local HTTP receiver', () => {
  test('POSTs the event as JSON with an HMAC-SHA256 signature the receiver verifies, and absolute picture URLs', async () => {
    const rx = await receiver();
    const n = new WebhookNotifier([target(rx.url)], { publicUrl: 'https://agent.example:8443', log: recordingLogger().log });
    const t0 = Date.now();
    n.notify(event(0));
    await waitFor(() => n.stats()[`http://127.0.0.1:${new URL(rx.url).port} (notify.webhooks[0])`]?.delivered === 1, 5000, 'delivered');
    const r = rx.got[0]!;
    expect(signatureValid(r, SECRET)).toBe(true);
    expect(signatureValid(r, 'another-secret-0000')).toBe(false);
    expect({ ...r, body: JSON.parse(r.body) }).toMatchObject({
      headers: { 'content-type': 'application/json', 'x-dino-event': 'novelty', 'x-dino-delivery': event(0).id },
      body: { ...event(0), snapshot_url: 'https://agent.example:8443/api/events/x0/snapshot.jpg' },
    });
    // a body changed on the way no longer matches its signature
    expect(signatureValid({ ...r, body: r.body.replace('0.5', '0.9') }, SECRET)).toBe(false);
    console.log(`webhook: notify -> receiver ${r.at - t0} ms, delivered in ${Object.values(n.stats())[0]!.lastLatencyMs} ms`);
    await n.stop();
    await close(rx.server);
  });

  test('retries 5xx with growing back-off, same body and delivery id, until the receiver accepts', async () => {
    const rx = await receiver((k) => (k <= 2 ? 503 : 200));
    const n = new WebhookNotifier([target(rx.url)], { backoff: { initialMs: 100, maxMs: 1000 }, log: recordingLogger().log });
    n.notify(event(1));
    await waitFor(() => rx.got.length === 3, 5000, 'three attempts');
    await waitFor(() => Object.values(n.stats())[0]!.delivered === 1, 2000, 'delivered');
    expect(new Set(rx.got.map((r) => r.body)).size).toBe(1);
    expect(new Set(rx.got.map((r) => r.headers['x-dino-delivery'])).size).toBe(1);
    const gaps = [rx.got[1]!.at - rx.got[0]!.at, rx.got[2]!.at - rx.got[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(80); // 100 ms -20% jitter
    expect(gaps[1]).toBeGreaterThanOrEqual(160); // 200 ms -20%
    expect(Object.values(n.stats())[0]).toMatchObject({ delivered: 1, failed: 0, retries: 2 });
    await n.stop();
    await close(rx.server);
  });

  test('a 4xx answer is not retried; only the configured event types are sent', async () => {
    const rx = await receiver(() => 400);
    const { log, lines } = recordingLogger();
    const n = new WebhookNotifier([target(rx.url, { types: ['drift'] })], { backoff: { initialMs: 50, maxMs: 100 }, log });
    n.notify(event(2)); // novelty: not for this URL
    n.notify({ ...event(3), type: 'drift' });
    await waitFor(() => Object.values(n.stats())[0]!.failed === 1, 5000, 'failed');
    expect(rx.got.map((r) => r.headers['x-dino-event'])).toEqual(['drift']);
    expect(lines.find((l) => l.level === 'error')!.msg).toMatch(/^webhook http:\/\/127\.0\.0\.1:\d+ \(notify\.webhooks\[0\]\): drift event not delivered: HTTP 400$/);
    await n.stop();
    await close(rx.server);
  });

  test('an unreachable URL: notify() returns at once, a clear error after the attempts; the secret, the path (a webhook id) and the query never logged', async () => {
    const port = await freePort();
    const { log, lines } = recordingLogger();
    const n = new WebhookNotifier([target(`http://127.0.0.1:${port}/api/webhook/path-secret-7f3a?key=query-secret`, { maxAttempts: 3 })], { backoff: { initialMs: 20, maxMs: 50 }, log });
    // notify() only queues: when it returns no attempt has been made yet (the delivery runs later, off the caller)
    expect(n.notify(event(4))).toBeUndefined();
    expect(Object.values(n.stats())[0]).toMatchObject({ retries: 0, failed: 0, delivered: 0 });
    expect(lines).toEqual([]);
    await waitFor(() => Object.values(n.stats())[0]!.failed === 1, 5000, 'given up');
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([`webhook http://127.0.0.1:${port} (notify.webhooks[0]): ECONNREFUSED; retrying with back-off (up to 3 attempts)`]);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([`webhook http://127.0.0.1:${port} (notify.webhooks[0]): novelty event not delivered: ECONNREFUSED`]);
    expect(Object.values(n.stats())[0]).toMatchObject({ retries: 2, failed: 1, delivered: 0 });
    expect(JSON.stringify(lines)).not.toMatch(/query-secret|whsec|path-secret/);
    expect(Object.keys(n.stats())).toEqual([`http://127.0.0.1:${port} (notify.webhooks[0])`]);
    await n.stop();
  });

  test('a receiver that never answers: the queue is bounded, drops are counted, stop() does not hang', async () => {
    const rx = await receiver(() => 'hang');
    const { log } = recordingLogger();
    const n = new WebhookNotifier([target(rx.url, { queueSize: 3, timeoutMs: 60_000 })], { log });
    for (let i = 0; i < 10; i++) n.notify(event(i));
    await waitFor(() => rx.got.length === 1, 5000, 'the first POST in flight');
    // 1 in flight, 3 waiting, 6 dropped
    expect(Object.values(n.stats())[0]).toMatchObject({ queued: 3, dropped: 6, delivered: 0 });
    const t0 = Date.now();
    await n.stop(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    await close(rx.server);
  });
});
