import { readFileSync } from 'fs';
import { resolve } from 'path';
import { AgentServer } from '../../src/serve/AgentServer';
import type { Frame } from '../../streams/Frame';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { waitFor } from '../streams/waitFor';
import { FakeHub } from './fakeHub';
import { refusedUpgrade, TestClient } from './wsClient';
import { sharedData } from '../helpers/sharedData';

const CAT = sharedData('cifar10/train/cat/0000.jpg');

describe('AgentServer /ingest', () => {
  let server: AgentServer;
  let ingest: WebSocketIngest;
  let base: string;
  const frames: Frame[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    ingest = new WebSocketIngest({ width: 24, height: 16, open: true, maxBytes: 64 * 1024, logger: silentLogger });
    ingest.frames$.subscribe((f) => frames.push(f));
    server = new AgentServer({ hub: new FakeHub(), ingest, port: 0, log: silentLogger, token: 'tok', limits: { maxIngestConnections: 2, ingestMaxPayloadBytes: 1 << 20 } });
    const { port } = await server.start();
    base = `ws://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.stop();
    ingest.close();
  });

  it('hands /ingest/<id> and /ingest?stream=<id> sockets to WebSocketIngest: a real JPEG becomes a frame', async () => {
    const jpeg = readFileSync(CAT);
    const a = await TestClient.open(`${base}/ingest/cam7?token=tok`);
    const b = await TestClient.open(`${base}/ingest?stream=door.2&token=tok`);
    clients.push(a, b);
    a.ws.send(jpeg);
    b.ws.send(jpeg);
    await waitFor(() => frames.length === 2, 5000, 'two decoded frames');
    expect(frames.map((f) => f.streamId).sort()).toEqual(['cam7', 'door.2']);
    expect(frames[0]).toMatchObject({ width: 24, height: 16 });
    expect(frames[0]!.rgb.length).toBe(24 * 16 * 3);
    expect(server.clientCounts()['/ingest']).toBe(2);

    // Errors come back from the ingest as JSON; a message above the ingest's maxBytes (but below the ws maxPayload)
    // gets an answer instead of a dropped connection.
    a.send('hello');
    expect(await a.waitJson((m) => m.type === 'error', 'text error')).toMatchObject({ code: 'text_not_supported' });
    a.ws.send(Buffer.alloc(100 * 1024, 0xff));
    expect(await a.waitJson((m) => m.code === 'too_large', 'too_large')).toMatchObject({ type: 'error' });
    expect(a.closed).toBeUndefined();

    const text = await server.registry.metrics();
    expect(text).toMatch(/^dino_serve_ingest_frames_total\{stream="cam7"\} 1$/m);
    expect(text).toMatch(/^dino_serve_ingest_errors_total\{stream="cam7",code="text_not_supported"\} 1$/m);
    expect(text).toMatch(/^dino_serve_ingest_errors_total\{stream="cam7",code="too_large"\} 1$/m);
    expect(text).toMatch(/^dino_serve_clients\{path="\/ingest"\} 2$/m);
  });

  it('validates stream ids, requires the token and limits connections', async () => {
    expect(await refusedUpgrade(`${base}/ingest/bad%20id?token=tok`)).toMatchObject({ status: 400, body: { code: 'bad_stream_id', message: expect.stringMatching(/1-64 characters/) } });
    expect(await refusedUpgrade(`${base}/ingest?token=tok`)).toMatchObject({ status: 400, body: { code: 'bad_stream_id' } });
    expect(await refusedUpgrade(`${base}/ingest/${'x'.repeat(65)}?token=tok`)).toMatchObject({ status: 400 });
    expect(await refusedUpgrade(`${base}/ingest/cam1`)).toMatchObject({ status: 401 });
    expect(await refusedUpgrade(`${base}/ingest/cam3?token=tok`)).toMatchObject({ status: 503, body: { code: 'too_many_clients' } }); // two are open
  });
});
