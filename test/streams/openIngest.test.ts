import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { silentLogger } from '../../src/util/Logger';
import { encodeRawRgb, WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { StreamLru } from '../../streams/StreamLru';
import { sleep, waitFor } from './waitFor';

/** Enough of a ws socket for WebSocketIngest: it emits what the test sends and records what it is sent. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  closedWith?: number;
  send(m: string): void {
    this.sent.push(m);
  }
  close(code = 1000): void {
    if (this.readyState !== 1) return;
    this.readyState = 3;
    this.closedWith = code;
    this.emit('close');
  }
  push(b: Buffer): void {
    this.emit('message', b, true);
  }
}

const FRAME = encodeRawRgb(4, 4, new Uint8Array(48).fill(9));

describe('StreamLru', () => {
  it('orders ids by last use and names the least recently used evictable one', () => {
    const lru = new StreamLru(3);
    for (const id of ['a', 'b', 'c']) lru.touch(id);
    expect(lru.full).toBe(true);
    lru.touch('a');
    expect(lru.ids()).toEqual(['b', 'c', 'a']);
    expect(lru.victim()).toBe('b');
    expect(lru.victim((id) => id !== 'b')).toBe('c');
    expect(lru.victim(() => false)).toBeUndefined();
    lru.delete('b');
    expect(lru.size).toBe(2);
    expect(() => new StreamLru(0)).toThrow(/capacity/);
  });
});

describe('WebSocketIngest with open ingest', () => {
  it('keeps at most maxStreams undeclared streams: the least recently used one without a producer is forgotten and announced (twice)', async () => {
    const ingest = new WebSocketIngest({ width: 4, height: 4, declared: ['cam'], open: true, maxStreams: 3, forgetAgainMs: 100, logger: silentLogger });
    const forgotten: string[] = [];
    ingest.evicted$.subscribe((id) => forgotten.push(id));
    const frames: string[] = [];
    ingest.frames$.subscribe((f) => frames.push(`${f.streamId}#${f.index}`));
    const visit = async (id: string) => {
      expect(ingest.admit(id)).toBeUndefined();
      const s = new FakeSocket();
      ingest.handleConnection(s as unknown as WebSocket, id);
      s.push(FRAME);
      await waitFor(() => frames.includes(`${id}#0`), 2000, `a frame of ${id}`);
      s.close();
    };
    for (const id of ['a', 'b', 'c']) await visit(id);
    await visit('a'); // a is used again: b is now the least recently used
    expect(ingest.openStreams()).toEqual(['b', 'c', 'a']);
    await visit('d');
    expect(forgotten).toEqual(['b']);
    expect(Object.keys(ingest.allStats()).sort()).toEqual(['a', 'c', 'd']);
    await sleep(150);
    expect(forgotten).toEqual(['b', 'b']); // again, for frames that were in flight
    await visit('b'); // a forgotten id may come back: it starts over, and evicts c
    expect(frames.filter((f) => f.startsWith('b#'))).toEqual(['b#0', 'b#0']);
    expect(forgotten.slice(2)).toEqual(['c']);
    await sleep(150);
    expect(forgotten.slice(2)).toEqual(['c', 'c']);
    // declared streams are never counted nor evicted
    expect(ingest.admit('cam')).toBeUndefined();
    expect(ingest.openStreams()).not.toContain('cam');
    ingest.close();
  });

  it('refuses (503) when every kept stream has a producer, and undeclared ids without open ingest (404)', () => {
    const ingest = new WebSocketIngest({ width: 4, height: 4, open: true, maxStreams: 2, logger: silentLogger });
    for (const id of ['a', 'b']) {
      expect(ingest.admit(id)).toBeUndefined();
      ingest.handleConnection(new FakeSocket() as unknown as WebSocket, id);
    }
    expect(ingest.admit('c')).toMatchObject({ status: 503, code: 'too_many_streams' });
    expect(ingest.admit('a')).toMatchObject({ status: 409, code: 'stream_busy' });
    ingest.close();
    const closed = new WebSocketIngest({ width: 4, height: 4, declared: ['x'], logger: silentLogger });
    expect(closed.admit('y')).toMatchObject({ status: 404, code: 'unknown_stream' });
    expect(closed.admit('x')).toBeUndefined();
    closed.close();
  });

  it('a frame still decoding when its producer leaves is dropped, not delivered for a stream nobody holds', async () => {
    const ingest = new WebSocketIngest({ width: 2, height: 2, open: true, logger: silentLogger });
    const frames: string[] = [];
    ingest.frames$.subscribe((f) => frames.push(f.streamId));
    const s = new FakeSocket();
    ingest.handleConnection(s as unknown as WebSocket, 'gone');
    s.push(encodeRawRgb(4, 4, new Uint8Array(48))); // 4x4 -> 2x2: goes through the decoder (asynchronous)
    s.close();
    await sleep(200);
    expect(frames).toEqual([]);
    ingest.close();
  });
});
