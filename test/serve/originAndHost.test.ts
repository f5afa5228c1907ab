import { networkInterfaces } from 'os';
import { AgentServer } from '../../src/serve/AgentServer';
import { isLoopbackName, OriginPolicy } from '../../src/serve/OriginPolicy';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { waitFor } from '../streams/waitFor';
import { FakeHub } from './fakeHub';
import { LiveVideo } from '../../src/serve/LiveVideo';
import type { SourceControl, SourceInfo } from '../../src/types/SourceControl';
import { httpGet, httpRequest, refusedUpgrade, TestClient } from './wsClient';

/** Sources as the API changes them, recorded: a refused request must not reach add() or remove(). */
class RecordingSources implements SourceControl {
  readonly calls: string[] = [];
  list(): SourceInfo[] {
    return [{ id: 'door', kind: 'url', origin: 'config', config: { kind: 'url', url: 'rtsp://127.0.0.1:1/x' }, mask: [], live: true }];
  }
  async add(spec: unknown): Promise<SourceInfo> {
    this.calls.push(`add ${JSON.stringify(spec)}`);
    return { id: 'new', kind: 'synthetic', origin: 'runtime', config: {}, mask: [], live: false };
  }
  async remove(id: string): Promise<boolean> {
    this.calls.push(`remove ${id}`);
    return true;
  }
}

const WS_PATHS = ['/embeddings', '/events', '/ui', '/ingest/cam1'];
const HTTP_PATHS = ['/', '/metrics', '/healthz', '/app.js'];

describe('Origin and Host checks (cross-site websocket hijacking, DNS rebinding)', () => {
  let server: AgentServer;
  let ingest: WebSocketIngest;
  let port: number;
  const clients: TestClient[] = [];
  const sources = new RecordingSources();
  const live = new LiveVideo({ urlOf: () => undefined, log: silentLogger }); // no camera: an admitted /live upgrade is answered 404 not_live

  beforeAll(async () => {
    ingest = new WebSocketIngest({ width: 8, height: 8, declared: ['cam1'], logger: silentLogger });
    server = new AgentServer({
      hub: new FakeHub(),
      ingest,
      port: 0,
      log: silentLogger,
      env: {},
      allowedOrigins: ['https://dash.example.com'],
      allowedHosts: ['dash.example.com', '.corp.example'],
      sources,
      live,
    });
    ({ port } = await server.start());
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    await live.stop();
    ingest.close();
  });

  const ws = (path: string) => `ws://127.0.0.1:${port}${path}`;
  const http = (path: string) => `http://127.0.0.1:${port}${path}`;
  const openAndHello = async (path: string, headers?: Record<string, string>) => {
    const c = await TestClient.open(ws(path), headers);
    clients.push(c);
    if (!path.startsWith('/ingest')) await c.waitJson((m) => m.type === 'hello', `hello on ${path}`);
    c.close();
    await waitFor(() => server.clientCounts()['/ingest'] === 0 && server.clientCounts()['/events'] === 0, 2000, 'the server saw the close'); // one producer per ingest id
  };

  it('refuses every websocket upgrade from another site with 403 JSON before any hello', async () => {
    const hostile = ['http://evil.example', 'https://evil.example', 'null', 'http://127.0.0.1.evil.example', 'http://localhost.evil.example:8080', 'https://dash.example.com.evil.example', 'file://', 'chrome-extension://abc'];
    for (const path of WS_PATHS) {
      for (const origin of hostile) {
        const r = await refusedUpgrade(ws(path), { Origin: origin });
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: 'error', code: 'forbidden_origin', message: expect.stringMatching(/allowedOrigins/) });
      }
    }
    expect(Object.values(server.clientCounts()).every((n) => n === 0)).toBe(true);
    const text = await server.registry.metrics();
    expect(Number(/^dino_serve_rejected_total\{path="\/ui",reason="forbidden_origin"\} (\d+)/m.exec(text)?.[1])).toBe(hostile.length);
  });

  it('opens for the same origin, loopback pages, allowed origins and clients without Origin', async () => {
    for (const path of WS_PATHS) {
      await openAndHello(path); // a script: no Origin
      await openAndHello(path, { Origin: `http://127.0.0.1:${port}` }); // the dashboard itself
      await openAndHello(path, { Origin: 'http://localhost:3000' });
      await openAndHello(path, { Origin: 'http://[::1]:5173' });
      await openAndHello(path, { Origin: 'https://dash.example.com' });
      await openAndHello(path, { Origin: 'https://dash.example.com', Host: 'dash.example.com' }); // behind a proxy
    }
  });

  it('answers 421 JSON to a Host that is not ours, on HTTP and on every websocket path', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.nip.io', 'example.com', 'corp.example.evil']) {
      for (const path of HTTP_PATHS) {
        const r = await httpGet(http(path), { Host: host });
        expect(r.status).toBe(421);
        expect(r.type).toMatch(/application\/json/);
        expect(JSON.parse(r.body)).toMatchObject({ type: 'error', code: 'misdirected_host', message: expect.stringMatching(/allowedHosts/) });
      }
      for (const path of WS_PATHS) {
        expect(await refusedUpgrade(ws(path), { Host: host })).toMatchObject({ status: 421, body: { code: 'misdirected_host' } });
      }
    }
    // A rebound name fails on Host even when the page sends its own (matching) Origin.
    expect((await refusedUpgrade(ws('/ui'), { Host: 'evil.example', Origin: 'http://evil.example' })).status).toBe(421);
  });

  it('serves loopback names, the configured host and allowed names', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', 'LOCALHOST.', `app.localhost:${port}`, '127.0.0.2', 'dash.example.com', 'a.corp.example', 'corp.example']) {
      for (const path of HTTP_PATHS) expect((await httpGet(http(path), { Host: host })).status).toBe(200);
      await openAndHello('/events', { Host: host });
    }
  });

  it('guards /api and the /live upgrade as every other path: a foreign page changes no source (403), a foreign Host gets 421', async () => {
    const json = { 'Content-Type': 'application/json' };
    const spec = JSON.stringify({ kind: 'synthetic', id: 'planted' });
    for (const origin of ['http://evil.example', 'null', 'http://localhost.evil.example:8080']) {
      for (const [method, path, body] of [['POST', '/api/sources', spec], ['DELETE', '/api/sources/door', undefined], ['GET', '/api/sources', undefined], ['GET', '/api/events', undefined]] as const) {
        const r = await httpRequest(method, http(path), { ...json, Origin: origin }, body);
        expect({ method, path, origin, status: r.status, body: JSON.parse(r.body) }).toMatchObject({ method, path, origin, status: 403, body: { code: 'forbidden_origin' } });
      }
      expect(await refusedUpgrade(ws('/live/door'), { Origin: origin })).toMatchObject({ status: 403, body: { code: 'forbidden_origin' } });
    }
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1.nip.io']) {
      const r = await httpRequest('POST', http('/api/sources'), { ...json, Host: host }, spec);
      expect([r.status, JSON.parse(r.body).code]).toEqual([421, 'misdirected_host']);
      expect((await httpGet(http('/api/sources'), { Host: host })).status).toBe(421);
      expect(await refusedUpgrade(ws('/live/door'), { Host: host })).toMatchObject({ status: 421, body: { code: 'misdirected_host' } });
    }
    expect(sources.calls).toEqual([]);
    // the same requests from the dashboard's own origin reach the API and the live route
    const own = { ...json, Origin: `http://127.0.0.1:${port}` };
    expect((await httpRequest('POST', http('/api/sources'), own, spec)).status).toBe(201);
    expect((await httpRequest('DELETE', http('/api/sources/door'), own)).status).toBe(204);
    expect(sources.calls).toEqual([`add ${spec}`, 'remove door']);
    expect(await refusedUpgrade(ws('/live/door'), { Origin: `http://127.0.0.1:${port}` })).toMatchObject({ status: 404, body: { code: 'not_live' } });
    const text = await server.registry.metrics();
    expect(Number(/^dino_serve_rejected_total\{path="\/live",reason="forbidden_origin"\} (\d+)/m.exec(text)?.[1])).toBe(3);
    expect(Number(/^dino_serve_rejected_total\{path="\/live",reason="misdirected_host"\} (\d+)/m.exec(text)?.[1])).toBe(3);
  });

  it('refuses HTTP requests that carry a foreign Origin with 403; navigations (no Origin) load the page', async () => {
    const r = await httpGet(http('/metrics'), { Origin: 'http://evil.example' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'forbidden_origin' });
    expect((await httpGet(http('/'), { Origin: `http://127.0.0.1:${port}` })).status).toBe(200);
    const page = await httpGet(http('/'));
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html/i);
  });
});

describe('OriginPolicy', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as never;

  it('knows loopback names', () => {
    for (const n of ['localhost', 'LocalHost', 'a.localhost', '127.0.0.1', '127.255.0.9', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackName(n)).toBe(true);
    for (const n of ['localhost.example', '128.0.0.1', '0.0.0.0', '::', 'mylocalhost']) expect(isLoopbackName(n)).toBe(false);
  });

  it('a name configured as host is served; listening on every interface serves the addresses of this machine only', () => {
    const named = new OriginPolicy({ host: 'box.lan' });
    expect(named.check(req({ host: 'box.lan:8080' }))).toBeUndefined();
    expect(named.check(req({ host: 'box.lan:8080', origin: 'http://box.lan:9000' }))).toBeUndefined();
    expect(named.check(req({ host: 'other.lan' }))?.status).toBe(421);
    const wild = new OriginPolicy({ host: '0.0.0.0' });
    const own = Object.values(networkInterfaces()).flat().map((a) => a!.address).find((a) => !a.startsWith('127.') && !a.includes(':'));
    if (own) expect(wild.check(req({ host: `${own}:8080` }))).toBeUndefined();
    expect(wild.check(req({ host: '203.0.113.7:8080' }))?.status).toBe(421); // TEST-NET-3: not one of ours
    expect(wild.check(req({ host: '0.0.0.0:8080', origin: 'http://0.0.0.0:1234' }))?.status).toBe(421);
    expect(wild.check(req({}))?.code).toBe('misdirected_host'); // no Host at all
  });

  it('"*" turns each check off; origins are compared normalised', () => {
    const any = new OriginPolicy({ host: '127.0.0.1', allowedHosts: ['*'], allowedOrigins: ['*'] });
    expect(any.check(req({ host: 'evil.example', origin: 'http://evil.example' }))).toBeUndefined();
    const p = new OriginPolicy({ host: '127.0.0.1', allowedOrigins: ['HTTPS://Dash.Example.com:443/'] });
    expect(p.check(req({ host: 'localhost', origin: 'https://dash.example.com' }))).toBeUndefined();
    expect(p.check(req({ host: 'localhost', origin: 'http://dash.example.com' }))?.status).toBe(403);
    expect(p.check(req({ host: 'localhost:8080', origin: 'http://localhost:8080' }))).toBeUndefined();
  });
});
