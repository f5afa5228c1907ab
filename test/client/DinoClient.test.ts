import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { configSchema } from '../../config/schema';
import { SourceSet } from '../../src/agent/SourceSet';
import { ApiError, DinoClient } from '../../src/client/DinoClient';
import { EventStore } from '../../src/events/EventStore';
import { freePort } from '../helpers/freePort';
import { AgentServer } from '../../src/serve/AgentServer';
import { silentLogger } from '../../src/util/Logger';
import { embedding, FakeHub } from '../serve/fakeHub';
import { waitFor } from '../streams/waitFor';

const TOKEN = 'test-token-123456';

describe('DinoClient', () => {
  const hub = new FakeHub();
  let server: AgentServer;
  let url: string;

  beforeAll(async () => {
    server = new AgentServer({ hub, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger, env: {} });
    const { port } = await server.start();
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(() => server.stop());

  const connected = (path: '/embeddings' | '/events', n: number) => waitFor(() => server.clientCounts()[path] === n, 3000, `${n} clients on ${path}`);

  test('embeddings of the chosen streams arrive decoded, with the numbers the agent published; unsubscribing closes the socket', async () => {
    const client = new DinoClient({ url, token: TOKEN });
    const got = firstValueFrom(client.embeddings({ streams: ['cam2'], raw: true }).pipe(take(2), toArray()));
    await connected('/embeddings', 1);
    const sent = [embedding('cam1', 1, 8), embedding('cam2', 1, 8, { novelty: 0.5 }), embedding('cam2', 2, 8)];
    for (const m of sent) hub.embeddingsS.next(m);
    const [a, b] = await got;
    expect(a).toEqual({ streamId: 'cam2', t: sent[1]!.t, frameIndex: 1, teacherStep: sent[1]!.teacherStep, dim: 8, embedding: sent[1]!.embedding, raw: sent[1]!.raw, novelty: 0.5 });
    expect(b!.frameIndex).toBe(2);
    expect(b!.novelty).toBeUndefined();
    await connected('/embeddings', 0); // take(2) unsubscribed
  });

  test('events filtered by type; notices on the socket (hello) are not events', async () => {
    const client = new DinoClient({ url: url.replace('http', 'ws'), token: TOKEN });
    const got = firstValueFrom(client.events({ types: ['drift'] }).pipe(take(1)));
    await connected('/events', 1);
    hub.eventsS.next({ type: 'camera', streamId: 'cam1', t: 1, state: 'live' });
    const drift = { type: 'drift' as const, streamId: 'cam1', t: 2, statistic: 0.3, pValue: 0.001, alpha: 0.01, method: 'mmd', teacherStep: 5 };
    hub.eventsS.next(drift);
    expect(await got).toEqual(drift);
    await connected('/events', 0);
  });

  test('a wrong token errors the Observable with the HTTP status; a bad url is refused at once', async () => {
    await expect(firstValueFrom(new DinoClient({ url, token: 'wrong-token-000000' }).embeddings())).rejects.toThrow(/refused with HTTP 401 \(wrong or missing token\)/);
    await expect(firstValueFrom(new DinoClient({ url }).events())).rejects.toThrow(/HTTP 401/);
    expect(() => new DinoClient({ url: 'ftp://127.0.0.1:1' })).toThrow(/http\(s\):\/\/ or ws\(s\):\/\//);
  });

  test('the agent going away errors a live subscription', async () => {
    const other = new AgentServer({ hub: new FakeHub(), host: '127.0.0.1', port: 0, log: silentLogger, env: {} });
    const { port } = await other.start();
    const done = firstValueFrom(new DinoClient({ url: `http://127.0.0.1:${port}` }).embeddings());
    await waitFor(() => other.clientCounts()['/embeddings'] === 1, 3000, 'client connected');
    const refused = expect(done).rejects.toThrow('DinoClient: /embeddings closed (1001: server shutting down)');
    await other.stop();
    await refused;
  });

  test('stored events and their pictures, sources listed, added and removed, refusals as ApiError', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-client-'));
    const store = new EventStore({ dir: path.join(dir, 'events'), maxCount: 10, maxBytes: 1 << 20, maxAgeDays: 1, log: silentLogger });
    await store.open();
    const rgb = new Uint8Array(8 * 8 * 3).fill(128);
    const rec = await store.record({ type: 'novelty', streamId: 'cam', t: Date.now(), score: 0.4 }, { snapshot: { streamId: 'cam', t: 0, index: 0, width: 8, height: 8, rgb } });
    const sources = new SourceSet(configSchema.parse({ sources: [{ kind: 'synthetic', id: 'cam' }] }), silentLogger, path.join(dir, 'sources.json'));
    sources.open();
    const api = new AgentServer({ hub: new FakeHub(), host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger, env: {}, events: store, sources });
    const { port } = await api.start();
    try {
      const client = new DinoClient({ url: `ws://127.0.0.1:${port}`, token: TOKEN });
      expect(await client.listEvents({ stream: 'cam', type: 'novelty' })).toEqual([rec]);
      expect(await client.listEvents({ stream: 'other' })).toEqual([]);
      expect((await client.eventPicture(rec.id)).equals((await store.picture(rec.id, 'snapshot'))!)).toBe(true);
      await expect(client.eventPicture(rec.id, 'before')).rejects.toMatchObject({ status: 404, code: 'not_found' });
      expect((await client.sources()).map((s) => s.id)).toEqual(['cam']);
      expect(await client.addSource({ kind: 'synthetic', id: 'porch', fps: 5 })).toMatchObject({ id: 'porch', origin: 'runtime' });
      const bad = await client.addSource({ kind: 'url', id: 'door' }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ApiError);
      expect(bad).toMatchObject({ status: 400, code: 'bad_source', problems: ['url: Invalid input: expected string, received undefined'] });
      await client.removeSource('porch');
      await expect(client.removeSource('porch')).rejects.toMatchObject({ status: 404 });
      expect((await client.sources()).map((s) => s.id)).toEqual(['cam']);
      await expect(new DinoClient({ url: `http://127.0.0.1:${port}` }).sources()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
      const dead = await freePort();
      await expect(new DinoClient({ url: `http://127.0.0.1:${dead}` }).listEvents()).rejects.toThrow(`DinoClient: GET /api/events?: ECONNREFUSED`);
    } finally {
      sources.stop();
      await api.stop();
    }
  });
});
