import { Observable, Subject } from 'rxjs';
import type { RawData, WebSocket } from 'ws';
import { Frame } from '../Frame';
import { defaultLogger, Logger } from '../../src/util/Logger';
import { StreamLru } from '../StreamLru';
import { TokenBucket } from '../../src/util/TokenBucket';
import type { Fit } from './decodeImage';
import { FairScheduler } from './FairScheduler';
import { IngestDecoder, IngestErrorCode, IngestProblem } from './IngestDecoder';

export { encodeRawRgb, RAW_HEADER_BYTES, RAW_MAGIC } from './IngestDecoder';
export type { IngestErrorCode } from './IngestDecoder';

/**
 * Server -> client, only on a problem, a text message: {"type":"error","code":<IngestErrorCode>,"message":"..."}.
 * The connection stays open after an error, except for idle_timeout, stream_busy, unknown_stream and
 * too_many_streams (closed right after; the server normally refuses the last three before the upgrade).
 */
export interface IngestError {
  type: 'error';
  code: IngestErrorCode;
  message: string;
}

export interface WebSocketIngestOptions {
  width: number;
  height: number;
  fit?: Fit;
  /** Stream ids a client may push to (the `ws:` sources): a fixed list, or a test for sources that change at run time. */
  declared?: Iterable<string> | ((streamId: string) => boolean);
  /** Ids fed by other sources (cameras, files): never accepted here, open ingest or not. */
  reserved?: (streamId: string) => boolean;
  /** Accept any valid stream id, not only the declared ones; undeclared streams are then bounded by maxStreams. */
  open?: boolean;
  /** Undeclared streams kept at once (open only); a new one evicts the least recently used one without a producer. Default 64. */
  maxStreams?: number;
  /** Evicted ids are announced on evicted$ at once and again this much later (frames in flight). Default 2 s. */
  forgetAgainMs?: number;
  /** Largest accepted message in bytes (default 4 MiB). Give the ws server a maxPayload above this, or ws closes the connection (1009) before we can answer. */
  maxBytes?: number;
  /** Largest image in pixels, checked in the header before decoding. Default: defaultMaxInputPixels(width, height). */
  maxInputPixels?: number;
  /**
   * Messages waiting for the decoder per connection (four times as many for a producer whose frames decode); beyond
   * this, or beyond maxPendingBytesPerConnection (default 8 MiB), the oldest is dropped, counted, and the client told. Default 2.
   */
  maxPendingPerConnection?: number;
  maxPendingBytesPerConnection?: number;
  /** Images decoded at once, all connections together; the next slot goes to the connection whose messages fail least. Default 2. */
  decodeConcurrency?: number;
  /**
   * A producer that sends no frame for this long is closed (4408), freeing the stream id: a frame is one that decoded,
   * or one waiting for the decoder from a connection whose messages mostly decode. Default 10 s; 0: never.
   */
  idleTimeoutMs?: number;
  /** Messages per second per connection (token bucket with burst messageBurst); the excess is answered rate_limited. Default 60, burst 120. */
  messagesPerSecond?: number;
  messageBurst?: number;
  /** Error replies are skipped while the socket has this much unsent (a client that never reads). Default 256 KiB. */
  maxReplyBacklogBytes?: number;
  logger?: Logger;
}

/** Why an upgrade to /ingest/<id> is refused: the HTTP status to answer with. */
export interface IngestRefusal {
  status: 404 | 409 | 503;
  code: 'unknown_stream' | 'stream_busy' | 'too_many_streams';
  message: string;
}

export interface IngestStreamStats {
  messages: number;
  frames: number;
  errors: number;
  errorsByCode: Partial<Record<IngestErrorCode, number>>;
  /** Messages dropped because the client sent faster than we decode. */
  dropped: number;
  connections: number;
  /** Error replies not sent because the client was not reading them. */
  repliesSkipped: number;
}

/** Close codes in the application range: 4408 idle (as HTTP 408), 4409 another producer holds the id (409). */
export const CLOSE_IDLE = 4408;
export const CLOSE_BUSY = 4409;

/**
 * Frames pushed by websocket clients. The HTTP/ws server lives elsewhere: it asks admit(streamId) before
 * accepting an upgrade and hands each accepted socket to handleConnection(socket, streamId).
 * Bounded in every direction: declared ids only unless open (then at most maxStreams undeclared ids, least
 * recently used evicted, announced on evicted$); one producer per id; idle producers closed; a per-connection
 * message rate; a decode queue of maxPending per connection (drop-oldest); the header checked against the pixel
 * budget before decoding. Bad input never closes the connection: the client gets an error message, the stream's
 * counter goes up.
 */
export class WebSocketIngest {
  private readonly subject = new Subject<Frame>();
  readonly frames$: Observable<Frame> = this.subject.asObservable();
  private readonly evictions = new Subject<string>();
  /** Stream ids forgotten: undeclared ones to make room (open ingest), removed ones (forget): drop everything kept for them (announced twice, see forgetAgainMs). */
  readonly evicted$: Observable<string> = this.evictions.asObservable();
  private readonly stats = new Map<string, IngestStreamStats>();
  private readonly nextIndex = new Map<string, number>();
  private readonly sockets = new Set<WebSocket>();
  private readonly producers = new Map<string, WebSocket>();
  private readonly isDeclared: (streamId: string) => boolean;
  private readonly lru: StreamLru;
  private readonly decoder: IngestDecoder;
  private readonly scheduler: FairScheduler<{ failRate: number }>;
  private readonly maxBytes: number;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;
  private readonly idleMs: number;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: WebSocketIngestOptions) {
    if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width <= 0 || o.height <= 0) {
      throw new Error('WebSocketIngest: width/height must be positive integers');
    }
    const declared = o.declared;
    if (typeof declared === 'function') this.isDeclared = declared;
    else {
      const ids = new Set(declared ?? []);
      this.isDeclared = (id) => ids.has(id);
    }
    this.lru = new StreamLru(o.maxStreams ?? 64);
    this.decoder = new IngestDecoder({ width: o.width, height: o.height, fit: o.fit, maxInputPixels: o.maxInputPixels });
    this.maxBytes = o.maxBytes ?? 4 * 1024 * 1024;
    this.maxPending = Math.max(1, o.maxPendingPerConnection ?? 2);
    this.maxPendingBytes = Math.max(this.maxBytes, o.maxPendingBytesPerConnection ?? 8 * 1024 * 1024);
    // A connection whose messages mostly fail never holds the last decode slot.
    this.scheduler = new FairScheduler(o.decodeConcurrency ?? 2, (c) => c.failRate, 0.5);
    this.idleMs = o.idleTimeoutMs ?? 10_000;
    this.log = o.logger ?? defaultLogger();
  }

  get maxInputPixels(): number {
    return this.decoder.maxInputPixels;
  }

  /** A copy of the per-stream counters. */
  statsFor(streamId: string): IngestStreamStats {
    const s = this.stats.get(streamId) ?? emptyStats();
    return { ...s, errorsByCode: { ...s.errorsByCode } };
  }

  allStats(): Record<string, IngestStreamStats> {
    return Object.fromEntries([...this.stats.keys()].map((k) => [k, this.statsFor(k)]));
  }

  /** Whether frames of this id come from a client that opened it (open ingest), not from a declared source. */
  isOpen(streamId: string): boolean {
    return !!this.o.open && !this.isDeclared(streamId) && !this.o.reserved?.(streamId);
  }

  /** Undeclared stream ids currently kept, least recently used first. */
  openStreams(): string[] {
    return this.lru.ids();
  }

  /**
   * Whether a producer may connect to streamId now; undefined means yes. May evict the least recently used
   * undeclared stream to make room (open ingest).
   */
  admit(streamId: string): IngestRefusal | undefined {
    if (this.producers.has(streamId)) {
      return {
        status: 409,
        code: 'stream_busy',
        message: `stream ${streamId} already has a producer; one connection per stream id (an idle one is closed after ${this.idleMs / 1000} s)`,
      };
    }
    if (this.o.reserved?.(streamId)) {
      return { status: 404, code: 'unknown_stream', message: `stream ${streamId} is fed by another source, not by websocket ingest` };
    }
    if (this.isDeclared(streamId) || this.lru.has(streamId)) return undefined;
    if (!this.o.open) {
      return {
        status: 404,
        code: 'unknown_stream',
        message: `no ingest stream ${streamId}: declare it as a source (--source ws:${streamId}), or set server.openIngest to accept any id`,
      };
    }
    if (this.lru.full) {
      const victim = this.lru.victim((id) => !this.producers.has(id));
      if (victim === undefined) {
        return { status: 503, code: 'too_many_streams', message: `all ${this.lru.capacity} open ingest streams (server.maxStreams) have a producer; try again later` };
      }
      this.evict(victim);
    }
    this.lru.touch(streamId);
    return undefined;
  }

  /** Takes over one accepted websocket; its binary messages become frames of streamId. */
  handleConnection(socket: WebSocket, streamId: string): void {
    if (this.closed) {
      socket.close(1001, 'ingest closed');
      return;
    }
    // admit() again: the server checked before the upgrade, but another producer may have won the race since.
    const refusal = this.admit(streamId);
    if (refusal) {
      this.replyTo(socket, refusal.code, refusal.message);
      socket.close(refusal.code === 'stream_busy' ? CLOSE_BUSY : 1008, refusal.code);
      return;
    }
    const st = this.stat(streamId);
    st.connections++;
    this.sockets.add(socket);
    this.producers.set(streamId, socket);
    // How often this connection's messages fail (moving average): the decoder serves clean producers first.
    const conn = { failRate: 0 };
    const outcome = (failed: boolean) => (conn.failRate = 0.9 * conn.failRate + (failed ? 0.1 : 0));
    let open = true;
    const rate = new TokenBucket(this.o.messagesPerSecond ?? 60, this.o.messageBurst ?? 120);

    const reply = (code: IngestErrorCode, message: string) => {
      st.errors++;
      st.errorsByCode[code] = (st.errorsByCode[code] ?? 0) + 1;
      outcome(true);
      this.log.debug({ streamId, code, message }, 'ingest: bad message');
      if (!this.replyTo(socket, code, message)) st.repliesSkipped++;
    };

    const idleMs = this.idleMs;
    let lastFrame = Date.now();
    let idle: NodeJS.Timeout | undefined;
    // After an event-loop stall timers run before the sockets are read: the verdict waits (setImmediate) until the
    // frames that arrived meanwhile have been seen.
    const armIdle = (ms: number): void => {
      idle = setTimeout(
        () =>
          setImmediate(() => {
            if (!open) return;
            const quiet = Date.now() - lastFrame;
            if (quiet < idleMs) return armIdle(idleMs - quiet);
            reply('idle_timeout', `no frame for ${idleMs / 1000} s: closing, so the stream id is free for its producer`);
            socket.close(CLOSE_IDLE, 'idle');
          }),
        ms,
      );
      idle.unref();
    };
    if (idleMs > 0) armIdle(idleMs);

    const decode = async (msg: Buffer) => {
      if (this.closed || !open) return;
      try {
        const rgb = await this.decoder.decode(msg);
        // The producer left or the stream was forgotten while decoding: nothing may be kept for it now.
        if (this.closed || !open || this.producers.get(streamId) !== socket) return;
        const index = this.nextIndex.get(streamId) ?? 0;
        this.nextIndex.set(streamId, index + 1);
        st.frames++;
        outcome(false);
        lastFrame = Date.now();
        if (this.lru.has(streamId)) this.lru.touch(streamId);
        this.subject.next({ streamId, t: Date.now(), index, width: this.o.width, height: this.o.height, rgb });
      } catch (e) {
        if (e instanceof IngestProblem) reply(e.code, e.message);
        else reply('decode_failed', `cannot decode image: ${(e as Error).message}`);
      }
    };
    const dropped = () => {
      st.dropped++;
      if (!this.replyTo(socket, 'dropped', 'frames arrive faster than they decode: dropped the oldest waiting one')) st.repliesSkipped++;
    };

    socket.on('message', (data: RawData, isBinary: boolean) => {
      st.messages++;
      if (!rate.take()) {
        reply('rate_limited', `more than ${rate.ratePerSec} messages per second (bursts of ${rate.burst}); this one was dropped, slow down`);
        return;
      }
      if (!isBinary) {
        reply('text_not_supported', 'send frames as binary messages (JPEG, PNG or RGB0 raw); text messages are not accepted');
        return;
      }
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (buf.length > this.maxBytes) {
        reply('too_large', `message of ${buf.length} bytes exceeds the limit of ${this.maxBytes} bytes`);
        return;
      }
      try {
        this.decoder.check(buf); // cheap header checks answer at once; only plausible images wait for the decoder
      } catch (e) {
        // a parser bug on hostile bytes must cost this message, never the process
        return e instanceof IngestProblem ? reply(e.code, e.message) : reply('bad_header', `cannot read the image header: ${(e as Error).message}`);
      }
      // A producer whose frames decode may queue more (an event-loop stall delivers its frames in a burst), and is
      // alive while its frames arrive even when their decoding lags behind a loaded machine; a squatter sending
      // bytes that never decode is not.
      const jobs = conn.failRate < 0.5 ? 4 * this.maxPending : this.maxPending;
      if (conn.failRate < 0.5) lastFrame = Date.now();
      this.scheduler.enqueue(conn, () => decode(buf), buf.length, { jobs, bytes: this.maxPendingBytes }, dropped);
    });
    // ws emits 'error' on protocol violations; unhandled it would crash the process.
    socket.on('error', (err) => this.log.warn({ streamId, err: err.message }, 'ingest: socket error'));
    socket.on('close', () => {
      open = false;
      clearTimeout(idle);
      this.sockets.delete(socket);
      if (this.producers.get(streamId) === socket) this.producers.delete(streamId);
      st.connections--;
      this.scheduler.cancel(conn);
    });
  }

  /** Forgets an undeclared stream: its counters and frame numbering (its producer, if any, is closed). */
  remove(streamId: string): void {
    this.producers.get(streamId)?.close(1001, 'stream removed');
    this.producers.delete(streamId);
    this.stats.delete(streamId);
    this.nextIndex.delete(streamId);
    this.lru.delete(streamId);
  }

  /**
   * A stream that is no longer to be fed (its ws source was removed at run time): its producer is closed, frames
   * still decoding are dropped, and the id is announced on evicted$ as an eviction is, so everything kept for it
   * downstream goes too. An id this ingest knows nothing of is left alone.
   */
  forget(streamId: string): void {
    if (!this.producers.has(streamId) && !this.stats.has(streamId) && !this.lru.has(streamId)) return;
    this.evict(streamId);
  }

  /** Completes frames$ and closes the sockets this ingest was given. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.close(1001, 'ingest closed');
    this.subject.complete();
    this.evictions.complete();
  }

  private evict(streamId: string): void {
    this.remove(streamId);
    this.log.debug({ streamId }, 'ingest: forgot a stream');
    this.evictions.next(streamId);
    // Again a little later, unless the id came back: frames already on their way downstream (a mixer's queue, an
    // embedding round) may have recreated state for it after the first announcement.
    setTimeout(() => {
      if (!this.closed && !this.lru.has(streamId)) this.evictions.next(streamId);
    }, this.o.forgetAgainMs ?? 2000).unref();
  }

  /** Sends an error message unless the client is not reading its replies; false when skipped. */
  private replyTo(socket: WebSocket, code: IngestErrorCode, message: string): boolean {
    if (socket.readyState !== socket.OPEN || socket.bufferedAmount > (this.o.maxReplyBacklogBytes ?? 256 * 1024)) return false;
    const body: IngestError = { type: 'error', code, message };
    socket.send(JSON.stringify(body));
    return true;
  }

  private stat(streamId: string): IngestStreamStats {
    let s = this.stats.get(streamId);
    if (!s) this.stats.set(streamId, (s = emptyStats()));
    return s;
  }
}

function emptyStats(): IngestStreamStats {
  return { messages: 0, frames: 0, errors: 0, errorsByCode: {}, dropped: 0, connections: 0, repliesSkipped: 0 };
}
