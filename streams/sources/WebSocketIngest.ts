import { Observable, Subject } from 'rxjs';
import type { RawData, WebSocket } from 'ws';
import { Frame } from '../Frame';
import { defaultLogger, Logger } from '../../src/util/Logger';
import { decodeToRgb, Fit } from './decodeImage';

/**
 * Wire format (client -> server), one frame per binary message:
 *  - JPEG bytes (starting FF D8 FF) or PNG bytes (starting 89 50 4E 47 0D 0A 1A 0A), any size: decoded and resized;
 *  - raw RGB: 8-byte header, then width*height*3 bytes of packed RGB (row-major, HWC):
 *      bytes 0-3  ASCII 'RGB0' (magic)
 *      bytes 4-5  uint16 little-endian width  (1..65535)
 *      bytes 6-7  uint16 little-endian height (1..65535)
 *    A raw frame of another size than the configured one is resized.
 * Server -> client, only on a problem, a text message: {"type":"error","code":<IngestErrorCode>,"message":"..."}.
 * The connection stays open after an error.
 */
export const RAW_MAGIC = 'RGB0';
export const RAW_HEADER_BYTES = 8;

export type IngestErrorCode =
  | 'text_not_supported' // a text message: only binary frames are accepted
  | 'too_large' // message longer than maxBytes
  | 'unknown_format' // neither JPEG, PNG nor 'RGB0'
  | 'bad_header' // 'RGB0' with zero width/height or a message shorter than the header
  | 'size_mismatch' // 'RGB0' payload length differs from width*height*3
  | 'decode_failed'; // JPEG/PNG that the decoder rejects (corrupt, truncated, too many pixels)

export interface IngestError {
  type: 'error';
  code: IngestErrorCode;
  message: string;
}

export interface WebSocketIngestOptions {
  width: number;
  height: number;
  fit?: Fit;
  /** Largest accepted message in bytes (default 4 MiB). Give the ws server a maxPayload above this, or ws closes the connection (1009) before we can answer. */
  maxBytes?: number;
  /** Largest decoded image in pixels (decompression bombs). Default 4096*4096. */
  maxInputPixels?: number;
  /** Messages waiting for the decoder per connection; beyond this the oldest is dropped (counted). Default 2. */
  maxPendingPerConnection?: number;
  logger?: Logger;
}

export interface IngestStreamStats {
  messages: number;
  frames: number;
  errors: number;
  errorsByCode: Partial<Record<IngestErrorCode, number>>;
  /** Messages dropped because the client sent faster than we decode. */
  dropped: number;
  connections: number;
}

const JPEG = [0xff, 0xd8, 0xff];
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const startsWith = (b: Uint8Array, sig: number[]) => b.length >= sig.length && sig.every((v, i) => b[i] === v);

class IngestProblem extends Error {
  constructor(
    readonly code: IngestErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Builds an 'RGB0' message (for clients written in TS, and tests). */
export function encodeRawRgb(width: number, height: number, rgb: Uint8Array): Buffer {
  const b = Buffer.alloc(RAW_HEADER_BYTES + rgb.length);
  b.write(RAW_MAGIC, 0, 'ascii');
  b.writeUInt16LE(width, 4);
  b.writeUInt16LE(height, 6);
  b.set(rgb, RAW_HEADER_BYTES);
  return b;
}

/**
 * Frames pushed by websocket clients. The HTTP/ws server lives elsewhere and hands each accepted socket to
 * handleConnection(socket, streamId). Bad input never closes the connection: the client gets an error message,
 * the stream's counter goes up. Decoding is bounded per connection (drop-oldest), so a fast client cannot grow
 * memory.
 */
export class WebSocketIngest {
  private readonly subject = new Subject<Frame>();
  readonly frames$: Observable<Frame> = this.subject.asObservable();
  private readonly stats = new Map<string, IngestStreamStats>();
  private readonly nextIndex = new Map<string, number>();
  private readonly sockets = new Set<WebSocket>();
  private readonly maxBytes: number;
  private readonly maxPending: number;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly o: WebSocketIngestOptions) {
    if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width <= 0 || o.height <= 0) {
      throw new Error('WebSocketIngest: width/height must be positive integers');
    }
    this.maxBytes = o.maxBytes ?? 4 * 1024 * 1024;
    this.maxPending = Math.max(1, o.maxPendingPerConnection ?? 2);
    this.log = o.logger ?? defaultLogger();
  }

  /** A copy of the per-stream counters. */
  statsFor(streamId: string): IngestStreamStats {
    const s = this.stat(streamId);
    return { ...s, errorsByCode: { ...s.errorsByCode } };
  }

  allStats(): Record<string, IngestStreamStats> {
    return Object.fromEntries([...this.stats.keys()].map((k) => [k, this.statsFor(k)]));
  }

  /** Takes over one accepted websocket; its binary messages become frames of streamId. */
  handleConnection(socket: WebSocket, streamId: string): void {
    if (this.closed) {
      socket.close(1001, 'ingest closed');
      return;
    }
    const st = this.stat(streamId);
    st.connections++;
    this.sockets.add(socket);
    const pending: Buffer[] = [];
    let busy = false;

    const reply = (code: IngestErrorCode, message: string) => {
      st.errors++;
      st.errorsByCode[code] = (st.errorsByCode[code] ?? 0) + 1;
      this.log.warn({ streamId, code, message }, 'ingest: bad message');
      if (socket.readyState === socket.OPEN) {
        const body: IngestError = { type: 'error', code, message };
        socket.send(JSON.stringify(body));
      }
    };

    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        while (pending.length > 0 && !this.closed) {
          const msg = pending.shift()!;
          try {
            const rgb = await this.decode(msg);
            if (this.closed) return;
            const index = this.nextIndex.get(streamId) ?? 0;
            this.nextIndex.set(streamId, index + 1);
            st.frames++;
            this.subject.next({ streamId, t: Date.now(), index, width: this.o.width, height: this.o.height, rgb });
          } catch (e) {
            if (e instanceof IngestProblem) reply(e.code, e.message);
            else reply('decode_failed', `cannot decode image: ${(e as Error).message}`);
          }
        }
      } finally {
        busy = false;
      }
    };

    socket.on('message', (data: RawData, isBinary: boolean) => {
      st.messages++;
      if (!isBinary) {
        reply('text_not_supported', 'send frames as binary messages (JPEG, PNG or RGB0 raw); text messages are not accepted');
        return;
      }
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (buf.length > this.maxBytes) {
        reply('too_large', `message of ${buf.length} bytes exceeds the limit of ${this.maxBytes} bytes`);
        return;
      }
      pending.push(buf);
      if (pending.length > this.maxPending) {
        pending.shift();
        st.dropped++;
      }
      void pump();
    });
    // ws emits 'error' on protocol violations; unhandled it would crash the process.
    socket.on('error', (err) => this.log.warn({ streamId, err: err.message }, 'ingest: socket error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      st.connections--;
      pending.length = 0;
    });
  }

  /** Completes frames$ and closes the sockets this ingest was given. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.close(1001, 'ingest closed');
    this.subject.complete();
  }

  private stat(streamId: string): IngestStreamStats {
    let s = this.stats.get(streamId);
    if (!s) {
      s = { messages: 0, frames: 0, errors: 0, errorsByCode: {}, dropped: 0, connections: 0 };
      this.stats.set(streamId, s);
    }
    return s;
  }

  private async decode(msg: Buffer): Promise<Uint8Array> {
    const { width, height, fit } = this.o;
    const maxInputPixels = this.o.maxInputPixels ?? 4096 * 4096;
    if (msg.length >= 4 && msg.toString('ascii', 0, 4) === RAW_MAGIC) {
      if (msg.length < RAW_HEADER_BYTES) throw new IngestProblem('bad_header', `RGB0 message of ${msg.length} bytes is shorter than the 8-byte header`);
      const w = msg.readUInt16LE(4);
      const h = msg.readUInt16LE(6);
      if (w === 0 || h === 0) throw new IngestProblem('bad_header', `RGB0 header declares ${w}x${h}; width and height must be >= 1`);
      const want = w * h * 3;
      const got = msg.length - RAW_HEADER_BYTES;
      if (got !== want) {
        throw new IngestProblem('size_mismatch', `RGB0 header declares ${w}x${h} (${want} bytes of RGB) but ${got} bytes follow`);
      }
      const raw = msg.subarray(RAW_HEADER_BYTES);
      if (w === width && h === height) return new Uint8Array(raw); // already the right size: no decoder round trip
      return decodeToRgb({ raw, width: w, height: h }, { width, height, fit, maxInputPixels });
    }
    if (startsWith(msg, JPEG) || startsWith(msg, PNG)) {
      return decodeToRgb(msg, { width, height, fit, maxInputPixels });
    }
    const head = [...msg.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new IngestProblem('unknown_format', `unrecognised message (starts ${head || '<empty>'}); expected JPEG, PNG or 'RGB0' raw RGB`);
  }
}
