import type { Wire } from './Wire';

/** The part of a ws WebSocket the queue needs (an interface, so the unit test can drive it with a fake). */
export interface QueueSocket {
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Buffer, options: { binary: boolean }, cb: (err?: Error) => void): void;
}

export interface ClientQueueOptions {
  /** Messages waiting in the queue; beyond this the oldest is dropped. */
  maxMessages: number;
  /** Bytes waiting in the queue; beyond this the oldest are dropped (the newest message is always kept). */
  maxBytes: number;
  /** Don't hand the socket more while its bufferedAmount is above this many bytes. */
  highWaterMark: number;
  /** Builds the notice sent ahead of the next message after drops (default: JSON {type:'dropped',count,total,since}). */
  dropNotice?: (count: number, total: number, since: number) => Wire;
  onSent?: (bytes: number) => void;
  onDropped?: (count: number) => void;
  now?: () => number;
}

const OPEN = 1;

export function defaultDropNotice(count: number, total: number, since: number): Wire {
  return { data: Buffer.from(JSON.stringify({ type: 'dropped', count, total, since })), binary: false };
}

/**
 * A bounded, drop-oldest queue in front of one client's socket. The producer never waits: push() returns at once.
 * The socket is fed only while its bufferedAmount (ws's own buffer plus the kernel-bound write queue) is below the
 * high-water mark; every send carries a callback, and each callback (data flushed) pumps again, so a slow reader
 * costs at most highWaterMark + maxBytes of server memory however long it stalls. Drops are counted, and the client
 * is told how many it missed before the next message it does get.
 */
export class ClientQueue {
  private readonly items: Wire[] = [];
  private head = 0; // items before head are already sent (amortised O(1) shift)
  private queuedBytes = 0;
  private droppedTotal = 0;
  private unreported = 0;
  private unreportedSince = 0;
  private sentTotal = 0;
  private closed = false;
  private readonly now: () => number;
  private readonly onFlushed = (err?: Error) => {
    if (!err) this.pump();
  };

  constructor(
    private readonly socket: QueueSocket,
    private readonly o: ClientQueueOptions,
  ) {
    if (!(o.maxMessages >= 1) || !(o.maxBytes >= 1) || !(o.highWaterMark >= 0)) throw new Error('ClientQueue: bad limits');
    this.now = o.now ?? Date.now;
  }

  get length(): number {
    return this.items.length - this.head;
  }
  get bytes(): number {
    return this.queuedBytes;
  }
  get dropped(): number {
    return this.droppedTotal;
  }
  get sent(): number {
    return this.sentTotal;
  }

  push(w: Wire): void {
    if (this.closed) return;
    this.items.push(w);
    this.queuedBytes += w.data.length;
    let dropped = 0;
    while (this.length > 1 && (this.length > this.o.maxMessages || this.queuedBytes > this.o.maxBytes)) {
      this.shift();
      dropped++;
    }
    if (dropped > 0) {
      if (this.unreported === 0) this.unreportedSince = this.now();
      this.unreported += dropped;
      this.droppedTotal += dropped;
      this.o.onDropped?.(dropped);
    }
    this.pump();
  }

  /** Sends what the socket can take now. Called on push, on every flushed send, and by the heartbeat as a backstop. */
  pump(): void {
    while (!this.closed && this.length > 0) {
      if (this.socket.readyState !== OPEN) return;
      if (this.socket.bufferedAmount > this.o.highWaterMark) return; // resumed by a send callback once data drains
      if (this.unreported > 0) {
        const notice = (this.o.dropNotice ?? defaultDropNotice)(this.unreported, this.droppedTotal, this.unreportedSince);
        this.unreported = 0;
        this.write(notice);
        continue;
      }
      this.write(this.shift());
    }
  }

  /** Forgets everything queued (the socket is going away). */
  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  private shift(): Wire {
    const w = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as Wire; // let the buffer be collected now
    this.queuedBytes -= w.data.length;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return w;
  }

  private write(w: Wire): void {
    this.sentTotal++;
    this.o.onSent?.(w.data.length);
    this.socket.send(w.data, { binary: w.binary }, this.onFlushed);
  }
}
