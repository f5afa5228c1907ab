import { decodeToRgb, Fit } from './decodeImage';
import { ImageHeaderError, isJpeg, isPng, readImageHeader } from './imageHeader';

/**
 * Wire format (client -> server), one frame per binary message:
 *  - JPEG bytes (starting FF D8 FF) or PNG bytes (starting 89 50 4E 47 0D 0A 1A 0A): decoded and resized;
 *  - raw RGB: 8-byte header, then width*height*3 bytes of packed RGB (row-major, HWC):
 *      bytes 0-3  ASCII 'RGB0' (magic)
 *      bytes 4-5  uint16 little-endian width  (1..65535)
 *      bytes 6-7  uint16 little-endian height (1..65535)
 *    A raw frame of another size than the configured one is resized.
 */
export const RAW_MAGIC = 'RGB0';
export const RAW_HEADER_BYTES = 8;

export type IngestErrorCode =
  | 'text_not_supported' // a text message: only binary frames are accepted
  | 'too_large' // message longer than maxBytes
  | 'unknown_format' // neither JPEG, PNG nor 'RGB0'
  | 'bad_header' // a header that is truncated or inconsistent ('RGB0' of 0x0, a PNG without IHDR, ...)
  | 'size_mismatch' // 'RGB0' payload length differs from width*height*3
  | 'too_many_pixels' // the header declares more pixels (or decoded bytes) than the budget: refused before decoding
  | 'unsupported_image' // an animated PNG
  | 'decode_failed' // JPEG/PNG that the decoder rejects (corrupt, truncated)
  | 'rate_limited' // more messages per second than the connection's budget
  | 'idle_timeout' // no frame for the idle timeout: the socket is closed
  | 'dropped' // not an error of the message: frames arrive faster than they decode, the oldest waiting one was dropped
  | 'stream_busy' // another producer holds this stream id (the socket is closed)
  | 'unknown_stream' // not a declared ws source, and ingest is not open
  | 'too_many_streams'; // open ingest: every kept stream has a producer

/**
 * Why a message was refused. Not an Error on purpose: a hostile client makes thousands a second, and an Error
 * captures a stack trace each time (a fifth of the ingest's CPU under fuzzing).
 */
export class IngestProblem {
  readonly name = 'IngestProblem';
  constructor(
    readonly code: IngestErrorCode,
    readonly message: string,
  ) {}
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
 * The default input budget: 1024 times the frame's pixels (a 32x upscale per side: 2048x2048 for 64x64 frames,
 * which admits 1080p camera JPEGs), at least 1 MP, at most 40 MP.
 */
export function defaultMaxInputPixels(width: number, height: number): number {
  return Math.min(40_000_000, Math.max(1 << 20, width * height * 1024));
}

const mp = (px: number) => `${(px / 1e6).toFixed(1)} megapixels`;

/**
 * One ingest message to exactly width*height*3 bytes of RGB. Everything is checked before the decoder runs: the
 * format by its magic bytes, the declared size against maxInputPixels, the decoded size (samples of 16 bits count
 * twice) against maxInputPixels * 4 bytes, APNG refused; sharp's own limitInputPixels stays as the second line.
 * Throws IngestProblem.
 */
export class IngestDecoder {
  readonly maxInputPixels: number;

  constructor(private readonly o: { width: number; height: number; fit?: Fit; maxInputPixels?: number }) {
    this.maxInputPixels = o.maxInputPixels ?? defaultMaxInputPixels(o.width, o.height);
  }

  /**
   * Everything that can be known without decoding, in microseconds: the format by its magic bytes, the 'RGB0'
   * header and length, the JPEG/PNG header against the budgets. Throws IngestProblem; returns the 'RGB0' size.
   */
  check(msg: Buffer): { raw?: { width: number; height: number } } {
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
      this.checkPixels('RGB0 frame', w, h);
      return { raw: { width: w, height: h } };
    }
    if (!isJpeg(msg) && !isPng(msg)) {
      const head = [...msg.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new IngestProblem('unknown_format', `unrecognised message (starts ${head || '<empty>'}); expected JPEG, PNG or 'RGB0' raw RGB`);
    }
    let header;
    try {
      header = readImageHeader(msg);
    } catch (e) {
      if (e instanceof ImageHeaderError) throw new IngestProblem('bad_header', `cannot read the image header: ${e.message}`);
      throw e;
    }
    const kind = header.format.toUpperCase();
    if (header.animated) throw new IngestProblem('unsupported_image', 'animated PNG (APNG) is not accepted: send one frame per message');
    this.checkPixels(kind, header.width, header.height);
    const bytes = header.width * header.height * header.channels * (header.bitDepth > 8 ? 2 : 1);
    const maxBytes = this.maxInputPixels * 4;
    if (bytes > maxBytes) {
      throw new IngestProblem(
        'too_many_pixels',
        `${kind} of ${header.width}x${header.height} with ${header.channels} channels of ${header.bitDepth} bits decodes to ` +
          `${(bytes / 1e6).toFixed(1)} MB; the limit is ${(maxBytes / 1e6).toFixed(1)} MB (server.maxInputPixels x 4 bytes): send 8-bit images or smaller ones`,
      );
    }
    return {};
  }

  /** check(), then the decoder; throws IngestProblem. */
  async decode(msg: Buffer): Promise<Uint8Array> {
    const { width, height, fit } = this.o;
    const maxInputPixels = this.maxInputPixels;
    const { raw } = this.check(msg);
    if (raw) {
      const rgb = msg.subarray(RAW_HEADER_BYTES);
      if (raw.width === width && raw.height === height) return new Uint8Array(rgb); // already the right size: no decoder round trip
      return decodeToRgb({ raw: rgb, ...raw }, { width, height, fit, maxInputPixels });
    }
    try {
      return await decodeToRgb(msg, { width, height, fit, maxInputPixels });
    } catch (e) {
      throw new IngestProblem('decode_failed', `cannot decode image: ${(e as Error).message}`);
    }
  }

  private checkPixels(kind: string, w: number, h: number): void {
    if (w * h <= this.maxInputPixels) return;
    throw new IngestProblem(
      'too_many_pixels',
      `${kind} declares ${w}x${h} (${mp(w * h)}); frames here are ${this.o.width}x${this.o.height}, so images may have at most ` +
        `${mp(this.maxInputPixels)} (server.maxInputPixels): scale them down before sending`,
    );
  }
}
