/**
 * A ws source added through the API is declared to the ingest at once (its producer is accepted and its frames are
 * embedded); removed, it is undeclared: its producer is closed, a new one is refused, and nothing of the stream
 * remains in the embeddings or /metrics. The real agent in process (worker trainer, micro model).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { WebSocket } from 'ws';
import type { EmbeddingMessage } from '../../src/types/messages';
import { encodeRawRgb } from '../../streams/sources/IngestDecoder';
import { refusedUpgrade } from '../serve/wsClient';
import { sleep, waitFor } from '../streams/waitFor';
import { microAgent } from './microAgent';

jest.setTimeout(120_000);

const SIZE = 16;
const frame = (seed: number) => encodeRawRgb(SIZE, SIZE, Uint8Array.from({ length: SIZE * SIZE * 3 }, (_, i) => (i * 7 + seed * 13) & 255));

describe('ws sources added and removed at run time', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-runtime-ws-'));
  const { agent } = microAgent({ state: { sourcesFile: path.join(dir, 'sources.json') }, events: { dir: path.join(dir, 'events') } });
  afterAll(() => agent.stop());

  it('are accepted on /ingest/<id> once added, and refused (producer closed, nothing kept) once removed', async () => {
    const { url } = await agent.start();
    const http = url.replace(/\/$/, '');
    const ws = http.replace('http', 'ws');
    const embedded: EmbeddingMessage[] = [];
    const sub = agent.hub.embeddings$.subscribe((e) => embedded.push(e));

    expect(await refusedUpgrade(`${ws}/ingest/phone`)).toMatchObject({ status: 404, body: { code: 'unknown_stream' } });
    const added = await fetch(`${http}/api/sources`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ kind: 'ws', id: 'phone', fps: 10 }) });
    expect(added.status).toBe(201);

    const producer = new WebSocket(`${ws}/ingest/phone`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) => producer.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    await new Promise<void>((resolve, reject) => (producer.once('open', () => resolve()), producer.once('error', reject)));
    let seed = 0;
    const pump = setInterval(() => producer.readyState === WebSocket.OPEN && producer.send(frame(seed++)), 100);
    try {
      await waitFor(() => embedded.some((e) => e.streamId === 'phone'), 60_000, 'an embedding of the added ws source');
      expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/^dino_serve_ingest_frames_total\{stream="phone"\} [1-9]/m);

      expect((await fetch(`${http}/api/sources/phone`, { method: 'DELETE' })).status).toBe(204);
      expect(await closed).toEqual({ code: 1001, reason: 'stream removed' });
    } finally {
      clearInterval(pump);
    }
    expect(await refusedUpgrade(`${ws}/ingest/phone`)).toMatchObject({ status: 404, body: { code: 'unknown_stream' } });

    await sleep(2500); // the ingest announces the forgotten id a second time after 2 s (frames in flight)
    const settled = embedded.length;
    await waitFor(() => embedded.slice(settled).filter((e) => e.streamId === 'cam').length >= 3, 30_000, 'embeddings of the configured camera');
    expect(embedded.slice(settled).filter((e) => e.streamId === 'phone')).toEqual([]);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics.split('\n').filter((l) => l.includes('stream="phone"'))).toEqual([]);
    expect(metrics).toMatch(/stream="cam"/);
    sub.unsubscribe();
  });
});
