import { ClientQueue, QueueSocket } from '../../src/serve/ClientQueue';
import type { Wire } from '../../src/serve/Wire';

/** A socket whose "kernel" accepts nothing until the test flushes: bufferedAmount grows with every send. */
class FakeSocket implements QueueSocket {
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: { data: string; binary: boolean }[] = [];
  private callbacks: { bytes: number; cb: (err?: Error) => void }[] = [];

  send(data: Buffer, o: { binary: boolean }, cb: (err?: Error) => void): void {
    this.sent.push({ data: data.toString(), binary: o.binary });
    this.bufferedAmount += data.length;
    this.callbacks.push({ bytes: data.length, cb });
  }

  /** The peer read everything: buffers drain and ws calls the send callbacks. */
  flush(): void {
    const cbs = this.callbacks;
    this.callbacks = [];
    for (const { bytes, cb } of cbs) {
      this.bufferedAmount -= bytes;
      cb();
    }
  }
}

const wire = (s: string): Wire => ({ data: Buffer.from(s), binary: true });

describe('ClientQueue', () => {
  it('sends at once while the socket keeps up, in order', () => {
    const s = new FakeSocket();
    const q = new ClientQueue(s, { maxMessages: 4, maxBytes: 1000, highWaterMark: 100 });
    for (let i = 0; i < 3; i++) {
      q.push(wire(`m${i}`));
      s.flush();
    }
    expect(s.sent.map((x) => x.data)).toEqual(['m0', 'm1', 'm2']);
    expect(q.length).toBe(0);
    expect(q.dropped).toBe(0);
  });

  it('stops at the high-water mark, drops the oldest beyond its bound, reports the drops before the next message', () => {
    const s = new FakeSocket();
    const dropped: number[] = [];
    let clock = 1000;
    const q = new ClientQueue(s, { maxMessages: 3, maxBytes: 1 << 20, highWaterMark: 10, onDropped: (n) => dropped.push(n), now: () => clock });
    // 10-byte messages: the first goes out (buffered 0 <= 10), the second too (10 <= 10), then the socket is full.
    for (let i = 0; i < 10; i++) {
      q.push(wire(`message-${i}`.padEnd(10, '.')));
      clock++;
    }
    expect(s.sent).toHaveLength(2);
    expect(q.length).toBe(3); // bounded
    expect(q.dropped).toBe(5); // 10 pushed - 2 sent - 3 queued
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(5);

    s.flush(); // the reader catches up: the notice first, then the three newest messages
    const after = s.sent.slice(2).map((x) => x.data);
    const notice = JSON.parse(after[0]!);
    expect(notice).toEqual({ type: 'dropped', count: 5, total: 5, since: 1005 }); // the 6th push (clock 1005) caused the first drop
    expect(s.sent[2]!.binary).toBe(false); // the notice is a text frame even on a binary stream
    // After the notice (26+ bytes > high-water mark) the socket is full again; keep flushing.
    while (q.length > 0) s.flush();
    expect(s.sent.slice(3).map((x) => x.data.slice(0, 9))).toEqual(['message-7', 'message-8', 'message-9']);

    // No new drops: no new notice.
    s.flush();
    q.push(wire('late'));
    expect(s.sent[s.sent.length - 1]!.data).toBe('late');
    expect(s.sent.filter((x) => x.data.includes('"dropped"'))).toHaveLength(1);
  });

  it('bounds bytes as well as messages, but always keeps the newest message', () => {
    const s = new FakeSocket();
    s.bufferedAmount = 1e9; // never drains in this test
    const q = new ClientQueue(s, { maxMessages: 100, maxBytes: 25, highWaterMark: 0 });
    for (let i = 0; i < 10; i++) q.push(wire('x'.repeat(10)));
    expect(q.bytes).toBeLessThanOrEqual(25);
    expect(q.length).toBe(2);
    q.push(wire('y'.repeat(100)));
    expect(q.length).toBe(1);
    expect(q.dropped).toBe(10);
  });

  it('sends nothing to a socket that is not open, and close() forgets the queue', () => {
    const s = new FakeSocket();
    s.readyState = 0;
    const q = new ClientQueue(s, { maxMessages: 10, maxBytes: 1000, highWaterMark: 100 });
    q.push(wire('a'));
    expect(s.sent).toHaveLength(0);
    s.readyState = 1;
    q.pump();
    expect(s.sent.map((x) => x.data)).toEqual(['a']);
    q.close();
    q.push(wire('b'));
    expect(q.length).toBe(0);
    expect(s.sent).toHaveLength(1);
  });
});
