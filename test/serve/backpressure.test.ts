import { WebSocket } from 'ws';
import { AgentServer } from '../../src/serve/AgentServer';
import { decodeBinary } from '../../src/protocol/EmbeddingCodec';
import { silentLogger } from '../../src/util/Logger';
import { waitFor } from '../streams/waitFor';
import { embedding, FakeHub } from './fakeHub';

/** A binary subscriber that keeps counts, not buffers (this test moves tens of MB). */
class CountingClient {
  frames: number[] = [];
  notices: { count: number; total: number; since: number }[] = [];
  closed = false;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d: Buffer, isBinary) => {
      if (isBinary) {
        // Header only: frameIndex at byte 12 (see EmbeddingCodec); full decode of a sample below.
        this.frames.push(d.readUInt32LE(12));
      } else {
        const m = JSON.parse(d.toString());
        if (m.type === 'dropped') this.notices.push(m);
      }
    });
    ws.on('close', () => (this.closed = true));
    ws.on('error', () => {});
  }
  static async open(url: string): Promise<CountingClient> {
    const ws = new WebSocket(url);
    const c = new CountingClient(ws);
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    return c;
  }
  /** Stop reading from the TCP socket: the kernel buffers fill, then the server's view of this client backs up. */
  pause(): void {
    (this.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  }
  resume(): void {
    (this.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  }
}

describe('AgentServer with slow and dead clients', () => {
  const servers: AgentServer[] = [];
  const clients: CountingClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    for (const s of servers) await s.stop(100);
  });

  it('a client that never reads costs a bounded amount of memory and drops are counted; another client gets every message', async () => {
    const hub = new FakeHub();
    const limits = { queueMaxMessages: 64, queueMaxBytes: 1 << 20, highWaterMarkBytes: 256 << 10, pingIntervalMs: 600_000 };
    const server = new AgentServer({ hub, port: 0, log: silentLogger, env: {}, limits });
    servers.push(server);
    const { port } = await server.start();
    const url = `ws://127.0.0.1:${port}/embeddings?streams=cam1&format=binary&raw=1`;
    const slow = await CountingClient.open(url);
    const fast = await CountingClient.open(url);
    clients.push(slow, fast);
    await waitFor(() => server.embeddings.size === 2, 2000, 'two subscribers');
    slow.pause();

    const dim = 2048; // 16 KiB per message with raw: 2400 messages = 39 MB, far beyond what socket buffers absorb
    const N = 2400;
    const sample = embedding('cam1', 0, dim);
    let worstQueueBytes = 0;
    let worstQueueLen = 0;
    let worstBuffered = 0;
    for (let i = 0; i < N; i += 20) {
      for (let k = i; k < i + 20; k++) hub.embeddingsS.next({ ...sample, frameIndex: k });
      for (const conn of server.embeddings.connections()) {
        worstQueueBytes = Math.max(worstQueueBytes, conn.queue.bytes);
        worstQueueLen = Math.max(worstQueueLen, conn.queue.length);
        worstBuffered = Math.max(worstBuffered, conn.socket.bufferedAmount);
      }
      await until(() => fast.frames.length >= i + 20, 5000, `fast client caught up with ${i + 20}`);
    }
    const [slowConn] = [...server.embeddings.connections()].filter((c) => c.queue.dropped > 0);
    expect(slowConn).toBeDefined();
    const dropped = slowConn!.queue.dropped;

    // The fast client got every message, in order.
    expect(fast.frames).toEqual(Array.from({ length: N }, (_, k) => k));
    expect(fast.notices).toEqual([]);
    // The slow client cost at most the queue bound plus the high-water mark plus one message.
    expect(worstQueueLen).toBeLessThanOrEqual(64);
    expect(worstQueueBytes).toBeLessThanOrEqual(1 << 20);
    expect(worstBuffered).toBeLessThanOrEqual((256 << 10) + 2 * (16 << 10) + 1024);
    expect(dropped).toBeGreaterThan(N / 2);
    const metrics = await server.registry.getSingleMetricAsString('dino_serve_messages_dropped_total');
    expect(metrics).toContain(`dino_serve_messages_dropped_total{path="/embeddings"} ${dropped}`);

    // When it reads again, it gets what was buffered and is told how many it missed before the next message.
    slow.resume();
    hub.embeddingsS.next({ ...sample, frameIndex: N });
    await waitFor(() => slow.frames[slow.frames.length - 1] === N, 10_000, 'slow client drained');
    const missed = slow.notices.reduce((a, n) => a + n.count, 0);
    const droppedInAll = slowConn!.queue.dropped; // the last push may have dropped one more before the drain
    expect(droppedInAll).toBeGreaterThanOrEqual(dropped);
    expect(missed).toBe(droppedInAll);
    expect(slow.frames.length + missed).toBe(N + 1);
    expect(slow.notices[slow.notices.length - 1]!.total).toBe(droppedInAll);
    // What it did get is in order (oldest dropped, so it resumes on the newest).
    expect([...slow.frames].sort((a, b) => a - b)).toEqual(slow.frames);
    expect(decodeBinary(slowConnSample(sample)).dim).toBe(dim);
  }, 60_000);

  it('terminates a client that does not answer pings; a live one stays', async () => {
    const hub = new FakeHub();
    const server = new AgentServer({ hub, port: 0, log: silentLogger, env: {}, limits: { pingIntervalMs: 150 } });
    servers.push(server);
    const { port } = await server.start();
    const dead = await CountingClient.open(`ws://127.0.0.1:${port}/events`);
    const alive = await CountingClient.open(`ws://127.0.0.1:${port}/events`);
    clients.push(dead, alive);
    dead.pause(); // reads nothing, so never sees a ping, so never pongs
    await waitFor(() => server.events.size === 1, 3000, 'dead client terminated');
    await new Promise((r) => setTimeout(r, 400)); // a few more ping rounds
    expect(server.events.size).toBe(1);
    expect(alive.closed).toBe(false);
    const m = await server.registry.getSingleMetricAsString('dino_serve_dead_clients_total');
    expect(m).toContain('dino_serve_dead_clients_total{path="/events"} 1');
  });
});

/** waitFor with a 1 ms step: this loop waits 120 times. */
async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Encodes like the server does (a sanity check that the counting client's header read matches the codec). */
function slowConnSample(m: ReturnType<typeof embedding>): Uint8Array {
  const { encodeBinary } = require('../../src/protocol/EmbeddingCodec') as typeof import('../../src/protocol/EmbeddingCodec');
  const b = encodeBinary({ ...m, frameIndex: 99 }, { raw: true });
  expect(Buffer.from(b).readUInt32LE(12)).toBe(99);
  return b;
}
