import { AgentServer } from '../../src/serve/AgentServer';
import { decodeBinary, decodeJson } from '../../src/protocol/EmbeddingCodec';
import { silentLogger } from '../../src/util/Logger';
import { sleep, waitFor } from '../streams/waitFor';
import { embedding, FakeHub, stats } from './fakeHub';
import { refusedUpgrade, TestClient } from './wsClient';

describe('AgentServer protocol (/embeddings, /events, /ui)', () => {
  const hub = new FakeHub();
  let server: AgentServer;
  let base: string;
  const clients: TestClient[] = [];
  const open = async (path: string) => {
    const c = await TestClient.open(`${base}${path}`);
    clients.push(c);
    await c.waitJson((m) => m.type === 'hello', 'hello');
    return c;
  };

  beforeAll(async () => {
    server = new AgentServer({
      hub,
      port: 0,
      log: silentLogger,
      env: {},
      limits: { maxStreamsPerClient: 3, maxControlErrorsPerMinute: 1000 },
      dashboard: { statusIntervalMs: 100, pcaIntervalMs: 3_600_000 }, // PCA refreshed by hand below
    });
    const { port } = await server.start();
    base = `ws://127.0.0.1:${port}`;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(() => server.stop());

  it('delivers only the requested streams; JSON and binary carry the same numbers; raw only on request', async () => {
    const json = await open('/embeddings?streams=cam1,cam2');
    const bin = await open('/embeddings?streams=cam2&format=binary&raw=1');
    const all = await open('/embeddings?streams=*');
    expect(json.json[0]).toMatchObject({ type: 'hello', endpoint: '/embeddings', subscription: { streams: ['cam1', 'cam2'], format: 'json', raw: false } });

    const sent = [embedding('cam1', 1, 32, { novelty: 0.25 }), embedding('cam2', 1, 32), embedding('cam3', 1, 32), embedding('cam2', 2, 32, { novelty: 0.9 })];
    for (const m of sent) hub.embeddingsS.next(m);
    await waitFor(() => all.ofType('embedding').length === 4 && json.ofType('embedding').length === 3 && bin.binary.length === 2, 3000, 'deliveries');
    await sleep(50);

    expect(json.ofType('embedding').map((m) => `${m.streamId}/${m.frameIndex}`)).toEqual(['cam1/1', 'cam2/1', 'cam2/2']);
    expect(bin.binary.map((b) => decodeBinary(b)).map((m) => `${m.streamId}/${m.frameIndex}`)).toEqual(['cam2/1', 'cam2/2']);
    expect(json.ofType('embedding').every((m) => m.raw === undefined)).toBe(true);

    const j = decodeJson(json.ofType('embedding')[2]);
    const b = decodeBinary(bin.binary[1]!);
    const { raw, ...bNoRaw } = b;
    expect(bNoRaw).toEqual(j); // same stream, time, index, teacher step, dim, novelty and float32 values
    expect(j.embedding).toEqual(sent[3]!.embedding);
    expect(raw).toEqual(sent[3]!.raw);
    expect(j).toMatchObject({ streamId: 'cam2', frameIndex: 2, teacherStep: sent[3]!.teacherStep, dim: 32, t: sent[3]!.t, novelty: 0.9 });
  });

  it('subscribes and unsubscribes by control message; switches format; reports the subscription', async () => {
    const c = await open('/embeddings');
    hub.embeddingsS.next(embedding('cam1', 10, 8));
    c.send({ type: 'subscribe', streams: ['cam1'] });
    await c.waitJson((m) => m.type === 'subscribed', 'subscribed');
    hub.embeddingsS.next(embedding('cam1', 11, 8));
    hub.embeddingsS.next(embedding('cam2', 11, 8));
    await c.waitJson((m) => m.type === 'embedding' && m.frameIndex === 11, 'cam1/11');

    c.send({ type: 'subscribe', streams: '*', format: 'binary', raw: true });
    const sub = await c.waitJson((m) => m.type === 'subscribed' && m.streams === '*', 'subscribed to all');
    expect(sub).toEqual({ type: 'subscribed', streams: '*', format: 'binary', raw: true });
    c.send({ type: 'unsubscribe', streams: ['cam2'] });
    await c.waitJson((m) => m.type === 'subscribed' && m.except?.[0] === 'cam2', 'all except cam2');
    hub.embeddingsS.next(embedding('cam2', 12, 8));
    hub.embeddingsS.next(embedding('cam3', 12, 8));
    await waitFor(() => c.binary.length === 1, 2000, 'binary cam3/12');
    const d = decodeBinary(c.binary[0]!);
    expect([d.streamId, d.frameIndex, d.raw?.length]).toEqual(['cam3', 12, 8]);

    c.send({ type: 'unsubscribe', streams: '*' });
    await c.waitJson((m) => m.type === 'subscribed' && Array.isArray(m.streams) && m.streams.length === 0, 'nothing');
    hub.embeddingsS.next(embedding('cam3', 13, 8));
    await sleep(100);
    expect(c.binary).toHaveLength(1);
    expect(c.ofType('embedding').map((m) => m.frameIndex)).toEqual([11]); // never cam1/10 (before subscribing) nor cam2
  });

  it('answers malformed, oversized and invalid control messages with errors, keeps the socket and stays up', async () => {
    const c = await open('/embeddings');
    const cases: [unknown, string][] = [
      ['not json', 'bad_json'],
      [[1, 2], 'bad_message'],
      [{ type: 'dance' }, 'unknown_type'],
      [{ type: 'subscribe', streams: 'cam1' }, 'bad_message'],
      [{ type: 'subscribe', format: 'xml' }, 'bad_message'],
      [{ type: 'subscribe', streams: ['bad id!'] }, 'bad_stream_id'],
      [{ type: 'subscribe', streams: ['a', 'b', 'c', 'd'] }, 'too_many_streams'],
      [{ type: 'subscribe', streams: 'x'.repeat(5000) }, 'too_large'],
    ];
    for (const [msg, code] of cases) {
      const from = c.json.length;
      c.send(msg);
      const e = await c.waitJson((m) => m.type === 'error', `error ${code}`, from);
      expect(e.code).toBe(code);
      expect(typeof e.message).toBe('string');
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect((await c.waitJson((m) => m.code === 'binary_not_supported', 'binary error')).type).toBe('error');
    // too_many_streams was not applied halfway, and the socket still works.
    c.send({ type: 'subscribe', streams: ['a', 'b'] });
    expect(await c.waitJson((m) => m.type === 'subscribed', 'subscribed')).toMatchObject({ streams: ['a', 'b'] });
    c.send({ type: 'subscribe', streams: ['c', 'd'] });
    expect((await c.waitJson((m) => m.code === 'too_many_streams', 'limit across messages')).message).toMatch(/at most 3/);
    c.send({ type: 'ping', id: 7 });
    expect(await c.waitJson((m) => m.type === 'pong', 'pong')).toMatchObject({ id: 7 });
    expect(c.closed).toBeUndefined();

    // An abusive message (beyond ws maxPayload) closes that socket with 1009; the server carries on.
    const big = await open('/embeddings');
    big.send('x'.repeat(100 * 1024));
    await waitFor(() => big.closed !== undefined, 2000, 'abusive client closed');
    expect(big.closed!.code).toBe(1009);
    const again = await open('/events');
    expect(again.json[0].type).toBe('hello');
  });

  it('refuses bad query strings and unknown paths on upgrade with a JSON reason', async () => {
    expect(await refusedUpgrade(`${base}/embeddings?streams=ok,no%20spaces`)).toMatchObject({ status: 400, body: { code: 'bad_stream_id' } });
    expect(await refusedUpgrade(`${base}/embeddings?format=xml`)).toMatchObject({ status: 400, body: { code: 'bad_query' } });
    expect(await refusedUpgrade(`${base}/events?types=drift,weather`)).toMatchObject({ status: 400, body: { code: 'bad_query' } });
    expect(await refusedUpgrade(`${base}/nowhere`)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await refusedUpgrade(`${base}/ingest/cam1`)).toMatchObject({ status: 404, body: { code: 'ingest_disabled' } });
  });

  it('/events: filters by type and stream (query and control message); collapse passes a stream filter', async () => {
    const drift = await open('/events?types=drift,collapse&streams=cam1');
    const everything = await open('/events');
    const t = Date.now();
    hub.eventsS.next({ type: 'drift', streamId: 'cam2', t, statistic: 0.2, pValue: 0.001, alpha: 0.01, method: 'mmd', teacherStep: 5 });
    hub.eventsS.next({ type: 'drift', streamId: 'cam1', t, statistic: 0.3, pValue: 0.002, alpha: 0.01, method: 'mmd', teacherStep: 5 });
    hub.eventsS.next({ type: 'novelty', streamId: 'cam1', t, frameIndex: 3, score: 0.8, calibrated: 0.99, threshold: 0.95, teacherStep: 5 });
    hub.eventsS.next({ type: 'collapse', t, state: 'collapsed', reason: 'entropy at ln K', step: 9, monitors: { entropy: 8.3 } });
    hub.eventsS.next({ type: 'camera', streamId: 'cam1', t, state: 'stalled', detail: 'no frame for 5 s' });
    await waitFor(() => everything.json.length === 6, 2000, 'all five events');
    await sleep(50);
    expect(drift.json.slice(1).map((e) => `${e.type}/${e.streamId ?? '-'}`)).toEqual(['drift/cam1', 'collapse/-']);
    expect(everything.json.slice(1).map((e) => e.type)).toEqual(['drift', 'drift', 'novelty', 'collapse', 'camera']);
    expect(everything.json[3]).toEqual({ type: 'novelty', streamId: 'cam1', t, frameIndex: 3, score: 0.8, calibrated: 0.99, threshold: 0.95, teacherStep: 5 });

    drift.send({ type: 'filter', types: ['camera'], streams: '*' });
    expect(await drift.waitJson((m) => m.type === 'filtered', 'filtered')).toEqual({ type: 'filtered', types: ['camera'], streams: '*' });
    drift.send({ type: 'filter', types: ['weather'] });
    await drift.waitJson((m) => m.type === 'error', 'bad filter');
    hub.eventsS.next({ type: 'camera', streamId: 'cam9', t, state: 'live' });
    await drift.waitJson((m) => m.type === 'camera' && m.streamId === 'cam9', 'camera event after filter change');
  });

  it('/ui: stats, status, thumbnails, attention and PCA; a late dashboard gets the latest state at once', async () => {
    const ui = await open('/ui');
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    hub.statsS.next(stats(7, 6.5, ['u1']));
    hub.thumbnailsS.next({ streamId: 'u1', t: 5, frameIndex: 3, width: 4, height: 2, jpeg });
    const maps = new Float32Array(2 * 4).map((_, i) => (i % 4) / 6);
    hub.attentionS.next({ streamId: 'u1', t: 5, frameIndex: 3, teacherStep: 7, grid: 2, heads: 2, maps, jpeg });
    // dim 6: a dimension no earlier test used, so the PCA window holds exactly these 12
    for (let i = 0; i < 12; i++) hub.embeddingsS.next(embedding(i % 2 ? 'u1' : 'u2', 100 + i, 6, { novelty: i / 12 }));
    hub.eventsS.next({ type: 'drift', streamId: 'u1', t: 9, statistic: 0.3, pValue: 0.001, alpha: 0.01, method: 'mmd', teacherStep: 7 });
    const pca = server.ui.refreshPca();
    expect(pca?.n).toBe(12);

    expect((await ui.waitJson((m) => m.type === 'stats', 'stats')).stats).toMatchObject({ step: 7, loss: 6.5 });
    const th = await ui.waitJson((m) => m.type === 'thumbnail', 'thumbnail');
    expect(Buffer.from(th.jpeg, 'base64')).toEqual(jpeg);
    const at = await ui.waitJson((m) => m.type === 'attention', 'attention');
    expect(at).toMatchObject({ streamId: 'u1', grid: 2, heads: 2, teacherStep: 7 });
    expect(at.maps).toEqual(Array.from(maps, (v) => Number(v.toPrecision(4))));
    const p = await ui.waitJson((m) => m.type === 'pca', 'pca');
    expect(p.streams.sort()).toEqual(['u1', 'u2']);
    expect(p.x).toHaveLength(12);
    await ui.waitJson((m) => m.type === 'event' && m.event.type === 'drift', 'drift event');
    type S = { streamId: string; drift?: unknown };
    const st = await ui.waitJson((m) => m.type === 'status' && m.streams.some((s: S) => s.streamId === 'u1' && s.drift), 'status with u1 drift');
    const u1 = st.streams.find((s: S) => s.streamId === 'u1');
    expect(u1).toMatchObject({ fps: 10, camera: { state: 'live' }, novelty: 11 / 12, noveltyMax: 11 / 12, drift: { pValue: 0.001, method: 'mmd' } });

    const late = await open('/ui');
    expect(late.json[0]).toMatchObject({ type: 'hello', endpoint: '/ui' });
    expect(late.json[0].stats.map((s: { step: number }) => s.step)).toContain(7);
    expect(late.json[0].events.some((e: { type: string }) => e.type === 'drift')).toBe(true);
    await late.waitJson((m) => m.type === 'thumbnail' && m.streamId === 'u1', 'latest thumbnail on connect');
    await late.waitJson((m) => m.type === 'attention', 'latest attention on connect');
    await late.waitJson((m) => m.type === 'pca', 'latest pca on connect');
  });
});
