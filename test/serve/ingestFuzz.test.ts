/**
 * The short ingest fuzz (the long one is `npm run soak:fuzz`): 16 sockets of mutated JPEG/PNG/RGB0 messages, bombs
 * of 4000x4000 and 65535x65535, 16-bit PNG and APNG, beside one well-behaved producer, through the real server.
 */
import { AgentServer } from '../../src/serve/AgentServer';
import { silentLogger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { buildCorpus, FuzzCorpus, fuzzSocket, goodProducer } from '../../scripts/ingestFuzz';
import { FakeHub } from './fakeHub';

const SOCKETS = 16;
const MESSAGES = 150;
const MAX_BYTES = 4 * 1024 * 1024;

describe('ingest fuzz (short)', () => {
  let server: AgentServer;
  let ingest: WebSocketIngest;
  let base: string;
  let corpus: FuzzCorpus;
  const frames = new Map<string, number>();

  beforeAll(async () => {
    corpus = await buildCorpus();
    const ids = [...Array.from({ length: SOCKETS }, (_, i) => `fuzz${i}`), 'good'];
    ingest = new WebSocketIngest({ width: 64, height: 64, declared: ids, maxBytes: MAX_BYTES, logger: silentLogger });
    ingest.frames$.subscribe((f) => frames.set(f.streamId, (frames.get(f.streamId) ?? 0) + 1));
    server = new AgentServer({ hub: new FakeHub(), ingest, port: 0, log: silentLogger, env: {}, limits: { maxIngestConnections: SOCKETS + 1 } });
    base = `ws://127.0.0.1:${(await server.start()).port}`;
  });
  afterAll(async () => {
    await server.stop();
    ingest.close();
  });

  it('answers every hostile message, stays within memory, and lets a well-behaved producer through', async () => {
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 25);
    const good = goodProducer(`${base}/ingest/good`, 10, 5000);
    const fuzz = await Promise.all(
      Array.from({ length: SOCKETS }, (_, i) =>
        fuzzSocket({ url: `${base}/ingest/fuzz${i}`, messages: MESSAGES, perSec: 50, seed: i + 1, corpus, maxBytes: MAX_BYTES, frames: () => frames.get(`fuzz${i}`) ?? 0 }),
      ),
    );
    const { sent } = await good;
    clearInterval(sampler);

    for (const [i, r] of fuzz.entries()) {
      const made = frames.get(`fuzz${i}`) ?? 0;
      // Every message became a frame or was answered (bombs and malformed ones before decoding): none vanished.
      expect({ socket: i, answered: r.replies + made }).toEqual({ socket: i, answered: MESSAGES });
      expect(r.closed).toBeUndefined(); // bad input never closes the connection
    }
    const codes = fuzz.reduce<Record<string, number>>((acc, r) => {
      for (const [k, v] of Object.entries(r.repliesByCode)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    expect(codes['too_many_pixels']).toBeGreaterThan(0.1 * SOCKETS * MESSAGES); // the bombs (20% of messages, 8 of 9 kinds)
    expect(codes['unsupported_image']).toBeGreaterThan(0);
    for (const c of ['bad_header', 'unknown_format', 'decode_failed', 'text_not_supported']) expect(codes[c]).toBeGreaterThan(0);
    expect(frames.get('good') ?? 0).toBeGreaterThanOrEqual(0.9 * sent);
    expect(ingest.statsFor('good').errors).toBe(0);
    expect((peak - rss0) / 2 ** 20).toBeLessThan(512);
  });
});
