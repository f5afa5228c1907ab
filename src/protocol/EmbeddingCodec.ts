/**
 * Wire formats of one teacher embedding on /embeddings: JSON text, or a compact little-endian binary frame.
 * Works on plain Uint8Array/DataView (no Node Buffer needed), so the same decoder runs in a browser client.
 *
 * Binary frame, version 1 (all numbers little-endian):
 *   offset size type     field
 *   0      4    ASCII    magic "DSEM" (44 53 45 4D)
 *   4      1    uint8    version = 1
 *   5      1    uint8    flags: bit0 = raw vector follows the embedding, bit1 = novelty present
 *   6      2    uint16   L = streamId length in UTF-8 bytes
 *   8      4    uint32   dim
 *   12     4    uint32   frameIndex
 *   16     4    uint32   teacherStep
 *   20     4    uint32   reserved, 0
 *   24     8    float64  t, frame time in ms since the Unix epoch (fraction allowed)
 *   32     8    float64  novelty (NaN when bit1 is clear); float64 so that JSON and binary carry the same number
 *   40     L    UTF-8    streamId
 *   40+L   P    zeros    padding to a multiple of 4 (P = (4 - L % 4) % 4), so the floats are 4-byte aligned
 *   H      4*dim float32 embedding (L2-normalised), H = 40 + L + P
 *   H+4dim 4*dim float32 raw CLS feature, only when bit0 is set
 */
import type { EmbeddingMessage } from '../types/messages';

export const EMBEDDING_MAGIC = 'DSEM';
export const EMBEDDING_VERSION = 1;
export const EMBEDDING_FIXED_HEADER_BYTES = 40;
export const FLAG_RAW = 1;
export const FLAG_NOVELTY = 2;

/** What a subscriber gets back from either format: the message the server encoded. */
export type DecodedEmbedding = EmbeddingMessage;

/** The JSON message on /embeddings. */
export interface EmbeddingJson {
  type: 'embedding';
  streamId: string;
  t: number;
  frameIndex: number;
  teacherStep: number;
  dim: number;
  embedding: number[];
  raw?: number[];
  novelty?: number;
}

const MAGIC_BYTES = [0x44, 0x53, 0x45, 0x4d];
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const UINT32_MAX = 0xffffffff;

function checkUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) throw new RangeError(`${name} must be an integer in [0, 2^32): got ${v}`);
}

function checkVectors(m: EmbeddingMessage, withRaw: boolean): void {
  if (m.embedding.length !== m.dim) throw new RangeError(`embedding has ${m.embedding.length} values but dim is ${m.dim}`);
  if (withRaw && m.raw && m.raw.length !== m.dim) throw new RangeError(`raw has ${m.raw.length} values but dim is ${m.dim}`);
}

/** Binary frame of `m`; the raw vector is included only when asked for and present. */
export function encodeBinary(m: EmbeddingMessage, opts: { raw?: boolean } = {}): Uint8Array {
  const withRaw = !!opts.raw && m.raw !== undefined;
  checkVectors(m, withRaw);
  checkUint32('dim', m.dim);
  checkUint32('frameIndex', m.frameIndex);
  checkUint32('teacherStep', m.teacherStep);
  const id = encoder.encode(m.streamId);
  if (id.length > 0xffff) throw new RangeError('streamId longer than 65535 bytes');
  const head = EMBEDDING_FIXED_HEADER_BYTES + id.length + ((4 - (id.length % 4)) % 4);
  const total = head + 4 * m.dim * (withRaw ? 2 : 1);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  dv.setUint8(4, EMBEDDING_VERSION);
  const hasNovelty = typeof m.novelty === 'number' && Number.isFinite(m.novelty);
  dv.setUint8(5, (withRaw ? FLAG_RAW : 0) | (hasNovelty ? FLAG_NOVELTY : 0));
  dv.setUint16(6, id.length, true);
  dv.setUint32(8, m.dim, true);
  dv.setUint32(12, m.frameIndex, true);
  dv.setUint32(16, m.teacherStep, true);
  dv.setFloat64(24, m.t, true);
  dv.setFloat64(32, hasNovelty ? m.novelty! : NaN, true);
  out.set(id, EMBEDDING_FIXED_HEADER_BYTES);
  // A fresh ArrayBuffer is 4-byte aligned and `head` is a multiple of 4: copy the floats straight in (host order is
  // little-endian on every platform Node supports; the decoder does not rely on it).
  new Float32Array(out.buffer, head, m.dim).set(m.embedding);
  if (withRaw) new Float32Array(out.buffer, head + 4 * m.dim, m.dim).set(m.raw!);
  return out;
}

/** True when `bytes` starts like an embedding frame (cheap check before decodeBinary). */
export function isBinaryEmbedding(bytes: Uint8Array): boolean {
  return bytes.length >= EMBEDDING_FIXED_HEADER_BYTES && MAGIC_BYTES.every((b, i) => bytes[i] === b);
}

function readFloats(dv: DataView, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(offset + 4 * i, true);
  return out;
}

/** Decodes a binary frame (a Node Buffer is a Uint8Array). Throws RangeError on anything malformed. */
export function decodeBinary(bytes: Uint8Array | ArrayBuffer): DecodedEmbedding {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (!isBinaryEmbedding(b)) throw new RangeError('not an embedding frame (bad magic or shorter than 40 bytes)');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = dv.getUint8(4);
  if (version !== EMBEDDING_VERSION) throw new RangeError(`unsupported embedding frame version ${version}`);
  const flags = dv.getUint8(5);
  const idLen = dv.getUint16(6, true);
  const dim = dv.getUint32(8, true);
  const head = EMBEDDING_FIXED_HEADER_BYTES + idLen + ((4 - (idLen % 4)) % 4);
  const hasRaw = (flags & FLAG_RAW) !== 0;
  const want = head + 4 * dim * (hasRaw ? 2 : 1);
  if (b.length !== want) throw new RangeError(`embedding frame of ${b.length} bytes, header says ${want}`);
  const out: DecodedEmbedding = {
    streamId: decoder.decode(b.subarray(EMBEDDING_FIXED_HEADER_BYTES, EMBEDDING_FIXED_HEADER_BYTES + idLen)),
    t: dv.getFloat64(24, true),
    frameIndex: dv.getUint32(12, true),
    teacherStep: dv.getUint32(16, true),
    dim,
    embedding: readFloats(dv, head, dim),
  };
  if (hasRaw) out.raw = readFloats(dv, head + 4 * dim, dim);
  if (flags & FLAG_NOVELTY) out.novelty = dv.getFloat64(32, true);
  return out;
}

/** The JSON message of `m` (a string, ready to send). Float32 values print as their exact double value. */
export function encodeJson(m: EmbeddingMessage, opts: { raw?: boolean } = {}): string {
  const withRaw = !!opts.raw && m.raw !== undefined;
  checkVectors(m, withRaw);
  const msg: EmbeddingJson = {
    type: 'embedding',
    streamId: m.streamId,
    t: m.t,
    frameIndex: m.frameIndex,
    teacherStep: m.teacherStep,
    dim: m.dim,
    embedding: Array.from(m.embedding),
  };
  if (withRaw) msg.raw = Array.from(m.raw!);
  if (typeof m.novelty === 'number' && Number.isFinite(m.novelty)) msg.novelty = m.novelty;
  return JSON.stringify(msg);
}

/** Parses a JSON embedding message (text or already-parsed object) into Float32Arrays. */
export function decodeJson(text: string | EmbeddingJson): DecodedEmbedding {
  const m = (typeof text === 'string' ? JSON.parse(text) : text) as EmbeddingJson;
  if (m.type !== 'embedding' || !Array.isArray(m.embedding)) throw new RangeError('not an embedding message');
  const out: DecodedEmbedding = {
    streamId: m.streamId,
    t: m.t,
    frameIndex: m.frameIndex,
    teacherStep: m.teacherStep,
    dim: m.dim,
    embedding: Float32Array.from(m.embedding),
  };
  if (m.raw) out.raw = Float32Array.from(m.raw);
  if (m.novelty !== undefined) out.novelty = m.novelty;
  return out;
}

/** Everything in one object, for `import { EmbeddingCodec } from` the package entry. */
export const EmbeddingCodec = { encodeBinary, decodeBinary, isBinaryEmbedding, encodeJson, decodeJson };
