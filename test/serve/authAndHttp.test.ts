import { AgentServer } from '../../src/serve/AgentServer';
import { isLoopbackHost } from '../../src/serve/Auth';
import { silentLogger } from '../../src/util/Logger';
import { sleep, waitFor } from '../streams/waitFor';
import { embedding, FakeHub, stats } from './fakeHub';
import { refusedUpgrade, TestClient } from './wsClient';

const TOKEN = 's3cret-token';

describe('AgentServer auth, /healthz and /metrics', () => {
  const hub = new FakeHub();
  let server: AgentServer;
  let http: string;
  let ws: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = new AgentServer({ hub, port: 0, log: silentLogger, env: { DINO_TOKEN: TOKEN }, healthStaleMs: 300 });
    const { port } = await server.start();
    http = `http://127.0.0.1:${port}`;
    ws = `ws://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  it('rejects HTTP and ws without the token with 401 and a JSON body; accepts header and query forms', async () => {
    for (const path of ['/', '/metrics']) {
      const r = await fetch(`${http}${path}`);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/Bearer/);
      expect(await r.json()).toMatchObject({ type: 'error', code: 'unauthorized', message: expect.stringMatching(/Authorization: Bearer/) });
      expect((await fetch(`${http}${path}?token=wrong`)).status).toBe(401);
      expect((await fetch(`${http}${path}?token=${TOKEN}`)).status).toBe(200);
      expect((await fetch(`${http}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    }
    for (const path of ['/embeddings', '/events', '/ui', '/ingest/cam1']) {
      expect(await refusedUpgrade(`${ws}${path}`)).toMatchObject({ status: 401, body: { code: 'unauthorized' } });
      expect((await refusedUpgrade(`${ws}${path}?token=nope`)).status).toBe(401);
    }
    const byQuery = await TestClient.open(`${ws}/embeddings?streams=a&token=${TOKEN}`);
    const byHeader = await TestClient.open(`${ws}/events`, { Authorization: `Bearer ${TOKEN}` });
    clients.push(byQuery, byHeader);
    await byQuery.waitJson((m) => m.type === 'hello', 'hello (query token)');
    await byHeader.waitJson((m) => m.type === 'hello', 'hello (header token)');
  });

  it('puts the token into the dashboard page; /healthz and static assets stay open', async () => {
    const page = await (await fetch(`${http}/?token=${TOKEN}`)).text();
    expect(page).toContain(`<meta name="dino-token" content="${TOKEN}">`);
    const viaHeader = await (await fetch(`${http}/`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    expect(viaHeader).toContain(`content="${TOKEN}"`);
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    for (const a of ['/app.js', '/heatmap.js', '/pca.js', '/style.css', '/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css']) {
      const r = await fetch(`${http}${a}`);
      expect(r.status).toBe(200);
      expect((await r.text()).length).toBeGreaterThan(100);
    }
    expect((await fetch(`${http}/../package.json`)).status).toBe(404);
    expect((await fetch(`${http}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('/healthz: waiting, then training, then 503 when stats stop (once training started)', async () => {
    let h = await (await fetch(`${http}/healthz`)).json();
    expect(h).toMatchObject({ ok: true, status: 'waiting_for_training', trainingStarted: false, lastStep: null });
    expect(h.clients).toHaveProperty('/embeddings');
    hub.statsS.next(stats(41, 7.5));
    const r = await fetch(`${http}/healthz`);
    h = await r.json();
    expect(r.status).toBe(200);
    expect(h).toMatchObject({ ok: true, status: 'training', trainingStarted: true, lastStep: 41 });
    expect(h.uptimeS).toBeGreaterThanOrEqual(0);
    await sleep(400); // healthStaleMs is 300 in this test
    const stale = await fetch(`${http}/healthz`);
    expect(stale.status).toBe(503);
    expect(await stale.json()).toMatchObject({ ok: false, status: 'stale', lastStep: 41 });
    hub.statsS.next(stats(42, 7.4));
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
  });

  it('/metrics: clients per path, messages and bytes sent, auth failures, control errors, and the agent\'s own metrics', async () => {
    const { Gauge } = await import('prom-client');
    new Gauge({ name: 'dino_agent_test_gauge', help: 'registered by the agent', registers: [server.registry] }).set(3);
    const c = await TestClient.open(`${ws}/embeddings?streams=m1&token=${TOKEN}`);
    clients.push(c);
    hub.embeddingsS.next(embedding('m1', 1, 8));
    await waitFor(() => c.ofType('embedding').length === 1, 2000, 'embedding');
    c.send('{oops');
    await c.waitJson((m) => m.type === 'error', 'error');
    const text = await (await fetch(`${http}/metrics?token=${TOKEN}`)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1]);
    expect(value(/^dino_serve_clients\{path="\/embeddings"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^dino_serve_clients\{path="\/ingest"\} (\d+)/m)).toBe(0);
    expect(value(/^dino_serve_messages_sent_total\{path="\/embeddings"\} (\d+)/m)).toBeGreaterThanOrEqual(3); // hello, embedding, error
    expect(value(/^dino_serve_bytes_sent_total\{path="\/embeddings"\} (\d+)/m)).toBeGreaterThan(100);
    expect(value(/^dino_serve_messages_dropped_total\{path="\/embeddings"\} (\d+)/m)).toBe(0);
    expect(value(/^dino_serve_auth_failures_total\{path="\/embeddings"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^dino_serve_auth_failures_total\{path="\/metrics"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^dino_serve_control_errors_total\{path="\/embeddings",code="bad_json"\} (\d+)/m)).toBe(1);
    expect(text).toMatch(/^dino_agent_test_gauge 3$/m);
    expect(text).toMatch(/# HELP dino_serve_dead_clients_total/);
  });

  it('refuses to start beyond loopback without a token, with instructions; loopback and explicit opt-outs are fine', async () => {
    const exposed = new AgentServer({ hub, host: '0.0.0.0', port: 0, log: silentLogger, env: {} });
    await expect(exposed.start()).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 without an auth token.*DINO_TOKEN/s);
    expect(exposed.port).toBeUndefined();
    await exposed.stop();
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
    expect(isLoopbackHost('::')).toBe(false);
    expect(isLoopbackHost('192.168.1.5')).toBe(false);
    // An explicit opt-out (not started here: tests listen on 127.0.0.1 only) passes the check.
    const { assertSafeBinding } = await import('../../src/serve/Auth');
    expect(() => assertSafeBinding('0.0.0.0', undefined, true)).not.toThrow();
    expect(() => assertSafeBinding('0.0.0.0', 'tok', false)).not.toThrow();
  });
});
