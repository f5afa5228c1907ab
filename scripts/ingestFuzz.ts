/**
 * Hostile /ingest traffic, shared by the short fuzz test (npm test) and `npm run soak:fuzz`: a corpus of real images,
 * decompression bombs and malformed headers, a seeded mutator, fuzzing sockets that record every reply, and a
 * well-behaved producer that counts what it sent.
 */
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { Random } from '../src/util/Random';
import { encodeRawRgb } from '../streams/sources/IngestDecoder';

export interface FuzzCorpus {
  /** Plausible frames: real JPEGs and PNGs, raw RGB. */
  images: Buffer[];
  /** Each is refused before decoding: 4000x4000 real PNG/JPEG, 20000x20000 / 65535x65535 / 4096x4096 headers, 16-bit 2048^2 PNG, APNG. */
  bombs: { name: string; msg: Buffer }[];
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** The PNG with its IHDR declaring w x h (CRC kept valid). */
export function pngDeclaring(png: Buffer, w: number, h: number): Buffer {
  const ihdr = Buffer.from(png.subarray(16, 29));
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  return Buffer.concat([png.subarray(0, 8), pngChunk('IHDR', ihdr), png.subarray(33)]);
}

/** The JPEG with its first SOF declaring w x h. */
export function jpegDeclaring(jpeg: Buffer, w: number, h: number): Buffer {
  const b = Buffer.from(jpeg);
  for (let i = 2; i < b.length - 9; i++) {
    if (b[i] === 0xff && b[i + 1]! >= 0xc0 && b[i + 1]! <= 0xc2) {
      b.writeUInt16BE(h, i + 5);
      b.writeUInt16BE(w, i + 7);
      return b;
    }
  }
  throw new Error('jpegDeclaring: no SOF marker');
}

/** An animated PNG: an acTL chunk (2 frames) right after IHDR. */
export function apngOf(png: Buffer): Buffer {
  const actl = Buffer.alloc(8);
  actl.writeUInt32BE(2, 0);
  return Buffer.concat([png.subarray(0, 33), pngChunk('acTL', actl), png.subarray(33)]);
}

/** A camera-like frame: a smooth colour field with noise, w x h, as JPEG. */
export async function cameraJpeg(w: number, h: number, seed: number): Promise<Buffer> {
  const rng = new Random(seed);
  const rgb = Buffer.alloc(w * h * 3);
  const [a, b, c] = [rng.int(256), rng.int(256), rng.int(256)];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      rgb[i] = (a + x + rng.int(16)) & 255;
      rgb[i + 1] = (b + y + rng.int(16)) & 255;
      rgb[i + 2] = (c + ((x * y) >> 6)) & 255;
    }
  }
  return sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}

export async function buildCorpus(): Promise<FuzzCorpus> {
  const solid = (w: number, h: number, channels: 3 | 4 = 3) => sharp({ create: { width: w, height: h, channels, background: { r: 40, g: 90, b: 200, alpha: 1 } } });
  const images: Buffer[] = [];
  for (let s = 0; s < 6; s++) images.push(await cameraJpeg(160 + 32 * s, 120 + 24 * s, s));
  for (let s = 0; s < 3; s++) images.push(await sharp(await cameraJpeg(96, 64, 100 + s)).png().toBuffer());
  images.push(encodeRawRgb(64, 64, new Uint8Array(64 * 64 * 3).fill(77)), encodeRawRgb(40, 30, new Uint8Array(40 * 30 * 3).fill(140)));
  const smallPng = await solid(16, 16).png().toBuffer();
  const smallJpeg = await solid(16, 16).jpeg().toBuffer();
  const bombs = [
    { name: 'png 4000x4000 (real)', msg: await solid(4000, 4000).png({ compressionLevel: 9 }).toBuffer() },
    { name: 'jpeg 4000x4000 (real)', msg: await solid(4000, 4000).jpeg({ quality: 40 }).toBuffer() },
    { name: 'png 4096x4096 header', msg: pngDeclaring(smallPng, 4096, 4096) },
    { name: 'png 20000x20000 header', msg: pngDeclaring(smallPng, 20000, 20000) },
    { name: 'png 65535x65535 header', msg: pngDeclaring(smallPng, 65535, 65535) },
    { name: 'jpeg 20000x20000 header', msg: jpegDeclaring(smallJpeg, 20000, 20000) },
    { name: 'jpeg 65535x65535 header', msg: jpegDeclaring(smallJpeg, 65535, 65535) },
    { name: 'png 16-bit RGBA 2048x2048 (real)', msg: await solid(2048, 2048, 4).toColourspace('rgb16').png().toBuffer() },
    { name: 'apng', msg: apngOf(smallPng) },
  ];
  return { images, bombs };
}

/** One hostile message: a bomb, a mutated image, a bad raw header, garbage or text; sometimes an intact image. */
export function mutate(rng: Random, c: FuzzCorpus, maxBytes: number): Buffer | string {
  const pick = <T>(xs: T[]) => xs[rng.int(xs.length)]!;
  const r = rng.next();
  if (r < 0.2) return pick(c.bombs).msg;
  if (r < 0.3) return pick(c.images);
  const img = Buffer.from(pick(c.images));
  if (r < 0.5) {
    // flip bytes anywhere (headers included) or only in the body
    const n = 1 + rng.int(16);
    const from = rng.bernoulli(0.5) ? 0 : Math.min(img.length - 1, 64);
    for (let i = 0; i < n; i++) img[from + rng.int(img.length - from)] = rng.int(256);
    return img;
  }
  if (r < 0.6) return img.subarray(0, rng.int(img.length)); // truncated
  if (r < 0.7) {
    const raw = encodeRawRgb(8, 8, new Uint8Array(192));
    const kind = rng.int(4);
    if (kind === 0) raw.writeUInt16LE(0, 4); // 0 wide
    else if (kind === 1) raw.writeUInt16LE(65535, 4); // declares more than follows
    else if (kind === 2) return raw.subarray(0, 5); // shorter than the header
    else return Buffer.concat([raw, Buffer.alloc(1 + rng.int(99))]); // more than declared
    return raw;
  }
  if (r < 0.8) return Buffer.from(Array.from({ length: rng.int(2048) }, () => rng.int(256))); // garbage
  if (r < 0.85) return JSON.stringify({ type: 'frame', n: rng.int(1000) }); // text
  if (r < 0.86) return Buffer.alloc(0);
  if (r < 0.861) return Buffer.alloc(maxBytes + 1 + rng.int(1024), 0xd8); // above maxBytes
  // a header swapped onto another body
  const other = pick(c.images);
  return Buffer.concat([other.subarray(0, Math.min(other.length, 64)), img.subarray(Math.min(img.length, 64))]);
}

export interface FuzzSocketResult {
  sent: number;
  replies: number;
  repliesByCode: Record<string, number>;
  /** Close code when the server closed the socket before the fuzzer was done. */
  closed?: number;
}

/**
 * Sends `messages` hostile messages over one socket at about `perSec`, then waits (up to settleMs) until every
 * message has been answered or counted as a frame (frames(): the frames the server made of this stream).
 */
export async function fuzzSocket(o: {
  url: string;
  messages: number;
  perSec: number;
  seed: number;
  corpus: FuzzCorpus;
  maxBytes: number;
  frames: () => number | Promise<number>;
  settleMs?: number;
}): Promise<FuzzSocketResult> {
  const ws = new WebSocket(o.url);
  const res: FuzzSocketResult = { sent: 0, replies: 0, repliesByCode: {} };
  ws.on('message', (d, isBinary) => {
    if (isBinary) return;
    res.replies++;
    const code = String((JSON.parse(d.toString()) as { code?: string }).code);
    res.repliesByCode[code] = (res.repliesByCode[code] ?? 0) + 1;
  });
  let done = false;
  ws.on('close', (code) => {
    if (!done) res.closed = code;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, r) => reject(new Error(`${o.url}: upgrade refused ${r.statusCode}`)));
  });
  const rng = new Random(o.seed);
  const tickMs = 20;
  const perTick = o.perSec * (tickMs / 1000);
  let owed = 0;
  while (res.sent < o.messages && ws.readyState === ws.OPEN) {
    owed += perTick;
    while (owed >= 1 && res.sent < o.messages) {
      owed -= 1;
      ws.send(mutate(rng, o.corpus, o.maxBytes));
      res.sent++;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  const t0 = Date.now();
  while (Date.now() - t0 < (o.settleMs ?? 10_000) && res.replies + (await o.frames()) < res.sent) await new Promise((r) => setTimeout(r, 100));
  done = true;
  ws.close();
  return res;
}

/** A producer that behaves: one camera-like JPEG every 1/fps s for durationMs. Returns how many it sent. */
export async function goodProducer(url: string, fps: number, durationMs: number): Promise<{ sent: number; errors: string[] }> {
  const frames = await Promise.all([0, 1, 2, 3].map((s) => cameraJpeg(320, 240, 1000 + s)));
  const ws = new WebSocket(url);
  const errors: string[] = [];
  ws.on('message', (d) => errors.push(d.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < durationMs && ws.readyState === ws.OPEN) {
    ws.send(frames[sent % frames.length]!);
    sent++;
    const next = t0 + (sent * 1000) / fps;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  await new Promise((r) => setTimeout(r, 1000)); // the last frames decode
  ws.close();
  return { sent, errors };
}
