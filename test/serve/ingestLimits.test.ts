import { readFileSync } from 'fs';
import { resolve } from 'path';
import { AgentServer } from '../../src/serve/AgentServer';
import type { Frame } from '../../streams/Frame';
import { silentLogger } from '../../src/util/Logger';
import { CLOSE_BUSY, CLOSE_IDLE, WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { sleep, waitFor } from '../streams/waitFor';
import { embedding, FakeHub } from './fakeHub';
import { refusedUpgrade, TestClient } from './wsClient';

const CAT = readFileSync(resolve(__dirname, '../../../shared/data/cifar10/train/cat/0000.jpg'));
const IDLE_MS = 600;

describe('ingest and websocket limits', () => {
  let server: AgentServer;
  let ingest: WebSocketIngest;
  let base: string;
  const frames: Frame[] = [];
  const clients: TestClient[] = [];
  const open = async (path: string) => {
    const c = await TestClient.open(`${base}${path}`);
    clients.push(c);
    return c;
  };
  const closeAll = async () => {
    for (const c of clients.splice(0)) c.close();
    await waitFor(() => Object.values(server.clientCounts()).every((n) => n === 0), 3000, 'all sockets closed');
  };

  beforeAll(async () => {
    ingest = new WebSocketIngest({ width: 16, height: 16, declared: ['door', 'yard'], idleTimeoutMs: IDLE_MS, messagesPerSecond: 10, messageBurst: 5, logger: silentLogger });
    ingest.frames$.subscribe((f) => frames.push(f));
    server = new AgentServer({ hub: new FakeHub(), ingest, port: 0, log: silentLogger, env: {}, limits: { maxConnectionsPerAddress: 4, messagesPerSecond: 10, messageBurst: 5 } });
    base = `ws://127.0.0.1:${(await server.start()).port}`;
  });
  afterEach(closeAll);
  afterAll(async () => {
    await server.stop();
    ingest.close();
  });

  it('accepts only declared ws: ids by default (404 unknown_stream, naming the fix)', async () => {
    expect(await refusedUpgrade(`${base}/ingest/intruder`)).toMatchObject({
      status: 404,
      body: { code: 'unknown_stream', message: expect.stringMatching(/--source ws:intruder.*openIngest/) },
    });
    expect(ingest.allStats()).not.toHaveProperty('intruder');
    const door = await open('/ingest/door');
    door.ws.send(CAT);
    await waitFor(() => frames.some((f) => f.streamId === 'door'), 5000, 'a frame of the declared stream');
  });

  it('one producer per stream id: a second connection is refused with 409 while the first is live', async () => {
    await open('/ingest/door');
    expect(await refusedUpgrade(`${base}/ingest/door`)).toMatchObject({ status: 409, body: { code: 'stream_busy' } });
    await open('/ingest/yard'); // another id is free
  });

  it('idle slot squatting: a socket that sends no frame is closed after the timeout, then the producer connects', async () => {
    const squatter = await open('/ingest/door');
    const t0 = Date.now();
    // Bad messages are not activity: a squatter cannot keep the slot with garbage.
    const garbage = setInterval(() => squatter.ws.readyState === squatter.ws.OPEN && squatter.ws.send(Buffer.from('junk')), 100);
    expect((await refusedUpgrade(`${base}/ingest/door`)).status).toBe(409);
    await waitFor(() => squatter.closed !== undefined, 5000, 'the squatter closed');
    clearInterval(garbage);
    const held = Date.now() - t0;
    expect(squatter.closed!.code).toBe(CLOSE_IDLE);
    expect(held).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(held).toBeLessThan(IDLE_MS + 1500);
    expect(squatter.ofType('error').map((e) => e.code)).toContain('idle_timeout');
    expect(squatter.ofType('error').filter((e) => e.code === 'unknown_format').length).toBeGreaterThan(0);

    const producer = await open('/ingest/door');
    const before = frames.length;
    // A producer that keeps sending frames is never idle, however long it stays.
    for (let i = 0; i < 8; i++) {
      producer.ws.send(CAT);
      await sleep(IDLE_MS / 3);
    }
    expect(producer.closed).toBeUndefined();
    expect(frames.length - before).toBe(8);
  });

  it('a second producer that lost the race after the upgrade is closed with 4409', () => {
    const fake = { readyState: 1, OPEN: 1, bufferedAmount: 0, sent: [] as string[], closed: 0, send(m: string) { this.sent.push(m); }, close(code: number) { this.closed = code; }, on() {} };
    const first = { ...fake, sent: [] as string[] };
    ingest.handleConnection(first as never, 'yard');
    const second = { ...fake, sent: [] as string[] };
    ingest.handleConnection(second as never, 'yard');
    expect(second.closed).toBe(CLOSE_BUSY);
    expect(JSON.parse(second.sent[0]!)).toMatchObject({ type: 'error', code: 'stream_busy' });
    ingest.remove('yard'); // closes `first` as the real server would
    expect(first.closed).toBe(1001);
  });

  it('rate-limits messages per ingest connection with a rate_limited reply for each one over budget', async () => {
    const c = await open('/ingest/yard');
    const before = frames.length;
    for (let i = 0; i < 25; i++) c.ws.send(Buffer.from('not-an-image')); // burst 5, 10/s: ~20 over budget
    await waitFor(() => c.ofType('error').length === 25, 3000, 'a reply to every message');
    const codes = c.ofType('error').map((e) => e.code);
    expect(codes.filter((x) => x === 'rate_limited').length).toBeGreaterThanOrEqual(18);
    expect(codes.filter((x) => x === 'unknown_format').length).toBeGreaterThanOrEqual(5);
    expect(c.ofType('error').find((e) => e.code === 'rate_limited').message).toMatch(/more than 10 messages per second/);
    await sleep(300); // the bucket refills (within the idle timeout): frames go through again
    c.ws.send(CAT);
    await waitFor(() => frames.length === before + 1, 5000, 'a frame after the refill');
  });

  it('rate-limits control messages on subscriber sockets', async () => {
    const c = await open('/events');
    await c.waitJson((m) => m.type === 'hello', 'hello');
    for (let i = 0; i < 12; i++) c.send({ type: 'ping', id: i });
    await waitFor(() => c.ofType('pong').length + c.ofType('error').length === 12, 3000, 'an answer to every ping');
    expect(c.ofType('pong').length).toBeGreaterThanOrEqual(5);
    expect(c.ofType('pong').length).toBeLessThanOrEqual(7);
    expect(c.ofType('error')[0]).toMatchObject({ code: 'rate_limited' });
  });

  it('caps open websockets per remote address (429), across endpoints; a closed one frees its place', async () => {
    const a = await open('/events');
    await open('/ui');
    await open('/embeddings');
    await open('/ingest/door');
    expect(await refusedUpgrade(`${base}/events`)).toMatchObject({ status: 429, body: { code: 'too_many_connections' } });
    expect((await refusedUpgrade(`${base}/ingest/yard`)).status).toBe(429);
    a.close();
    await waitFor(() => server.clientCounts()['/events'] === 0, 2000, 'the server saw the close');
    await open('/events');
  });
});

describe('open ingest: a forgotten stream leaves the server', () => {
  it("its ingest metric series and the dashboard's status entry go when the ingest evicts it", async () => {
    const hub = new FakeHub();
    const ingest = new WebSocketIngest({ width: 16, height: 16, open: true, maxStreams: 2, forgetAgainMs: 60_000, logger: silentLogger });
    const server = new AgentServer({ hub, ingest, port: 0, log: silentLogger, env: {}, dashboard: { statusIntervalMs: 50 } });
    const base = `ws://127.0.0.1:${(await server.start()).port}`;
    const ui = await TestClient.open(`${base}/ui`);
    try {
      for (const id of ['a', 'b', 'c']) {
        const c = await TestClient.open(`${base}/ingest/${id}`);
        c.ws.send(CAT);
        await waitFor(() => ingest.statsFor(id).frames === 1, 5000, `a frame of ${id}`);
        hub.embeddingsS.next(embedding(id, 1));
        if (id === 'b') {
          const m = await server.registry.metrics();
          expect(m).toMatch(/dino_serve_ingest_frames_total\{stream="a"\} 1/);
          await ui.waitJson((s) => s.type === 'status' && s.streams.some((x: { streamId: string }) => x.streamId === 'a'), 'a on the dashboard');
        }
        c.close();
        await waitFor(() => server.clientCounts()['/ingest'] === 0, 2000, 'closed');
      }
      const m = await server.registry.metrics();
      expect(m).not.toMatch(/stream="a"/);
      expect(m).toMatch(/dino_serve_ingest_frames_total\{stream="c"\} 1/);
      const from = ui.json.length;
      const status = await ui.waitJson((s) => s.type === 'status', 'a status after the eviction', from);
      expect(status.streams.map((x: { streamId: string }) => x.streamId).sort()).toEqual(['b', 'c']);
    } finally {
      ui.close();
      await server.stop();
      ingest.close();
    }
  });
});

describe('idle sockets holding every ingest slot', () => {
  it('are closed after the idle timeout, and the declared producer then connects', async () => {
    const ids = ['s1', 's2', 's3', 'cam'];
    const ingest = new WebSocketIngest({ width: 16, height: 16, declared: ids, idleTimeoutMs: IDLE_MS, logger: silentLogger });
    const server = new AgentServer({ hub: new FakeHub(), ingest, port: 0, log: silentLogger, env: {}, limits: { maxIngestConnections: 3 } });
    const base = `ws://127.0.0.1:${(await server.start()).port}`;
    try {
      const squatters = await Promise.all(['s1', 's2', 's3'].map((id) => TestClient.open(`${base}/ingest/${id}`)));
      expect(await refusedUpgrade(`${base}/ingest/cam`)).toMatchObject({ status: 503, body: { code: 'too_many_clients' } });
      await waitFor(() => squatters.every((q) => q.closed?.code === CLOSE_IDLE), IDLE_MS + 3000, 'every squatter closed as idle');
      await waitFor(() => server.clientCounts()['/ingest'] === 0, 2000, 'the server saw the closes');
      const cam = await TestClient.open(`${base}/ingest/cam`);
      cam.ws.send(CAT);
      await waitFor(() => ingest.statsFor('cam').frames === 1, 5000, 'the producer\'s frame');
      cam.close();
    } finally {
      await server.stop();
      ingest.close();
    }
  });
});

describe('a producer whose frames decode slower than the idle timeout', () => {
  it('stays connected while its frames keep arriving, and its frames still come through', async () => {
    const ingest = new WebSocketIngest({ width: 16, height: 16, declared: ['cam'], idleTimeoutMs: IDLE_MS, logger: silentLogger });
    // A loaded machine: every decode takes twice the idle timeout.
    const decoder = (ingest as unknown as { decoder: { decode: (b: Buffer) => Promise<Uint8Array> } }).decoder;
    const decode = decoder.decode.bind(decoder);
    decoder.decode = async (b) => {
      await sleep(2 * IDLE_MS);
      return decode(b);
    };
    const server = new AgentServer({ hub: new FakeHub(), ingest, port: 0, log: silentLogger, env: {} });
    const base = `ws://127.0.0.1:${(await server.start()).port}`;
    try {
      const cam = await TestClient.open(`${base}/ingest/cam`);
      for (let i = 0; i < 12; i++) {
        cam.ws.send(CAT);
        await sleep(IDLE_MS / 3);
      }
      expect(cam.closed).toBeUndefined();
      expect(cam.ofType('error').map((e) => e.code)).not.toContain('idle_timeout');
      await waitFor(() => ingest.statsFor('cam').frames >= 2, 5000, 'decoded frames of the slow stream');
      cam.close();
    } finally {
      await server.stop();
      ingest.close();
    }
  });
});
