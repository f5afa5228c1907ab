import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';

/**
 * Checkpoint file format (little-endian):
 *   "DINOCKPT" | u32 version | u32 headerBytes | header JSON | float32 payload | sha256(everything before it)
 * The header lists every tensor (name, shape, offset in floats) plus the run's metadata. The trailing hash makes a
 * truncated or corrupted file fail loudly instead of loading garbage. Values are plain float32, so a checkpoint
 * written on one backend loads on any other.
 */
const MAGIC = Buffer.from('DINOCKPT', 'ascii');
const VERSION = 1;
const HASH_BYTES = 32;

export interface CheckpointHeader {
  version: number;
  step: number;
  createdAt: string;
  /** Anything JSON the owner wants back: configs, optimiser step counts, RNG states. */
  meta: Record<string, unknown>;
  tensors: { name: string; shape: number[]; offset: number; size: number }[];
}

export class CheckpointError extends Error {
  constructor(readonly file: string, message: string) {
    super(`checkpoint ${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Serialise tensors + metadata into one buffer (reads tensor values asynchronously). */
export async function encodeCheckpoint(step: number, tensors: Map<string, tf.Tensor>, meta: Record<string, unknown>): Promise<Buffer> {
  const entries: CheckpointHeader['tensors'] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const values = (await t.data()) as Float32Array;
    entries.push({ name, shape: t.shape.slice(), offset, size: values.length });
    chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    offset += values.length;
  }
  const header: CheckpointHeader = { version: VERSION, step, createdAt: new Date().toISOString(), meta, tensors: entries };
  const headerBuf = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(8 + 4 + 4);
  MAGIC.copy(fixed, 0);
  fixed.writeUInt32LE(VERSION, 8);
  fixed.writeUInt32LE(headerBuf.length, 12);
  // header padded so the payload starts 4-byte aligned (Float32Array views without copying)
  const pad = Buffer.alloc((4 - ((fixed.length + headerBuf.length) % 4)) % 4, 0x20);
  const body = Buffer.concat([fixed, headerBuf, pad, ...chunks]);
  const hash = createHash('sha256').update(body).digest();
  return Buffer.concat([body, hash]);
}

/** Parse and verify a checkpoint buffer; throws CheckpointError naming what is wrong. */
export function decodeCheckpoint(buf: Buffer, file = '<buffer>'): { header: CheckpointHeader; tensors: Map<string, { shape: number[]; values: Float32Array }> } {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(MAGIC)) throw new CheckpointError(file, 'not a dino-stream checkpoint (bad magic bytes)');
  if (buf.length < 16 + HASH_BYTES) throw new CheckpointError(file, `truncated: only ${buf.length} bytes`);
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) throw new CheckpointError(file, `format version ${version} is not supported (expected ${VERSION})`);
  const headerBytes = buf.readUInt32LE(12);
  const headerEnd = 16 + headerBytes;
  if (headerEnd > buf.length - HASH_BYTES) throw new CheckpointError(file, 'truncated inside the header');
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.subarray(16, headerEnd).toString('utf8')) as CheckpointHeader;
  } catch {
    throw new CheckpointError(file, 'corrupt header (not valid JSON)');
  }
  const payloadStart = headerEnd + ((4 - (headerEnd % 4)) % 4);
  const floats = header.tensors.reduce((n, t) => n + t.size, 0);
  const expected = payloadStart + floats * 4 + HASH_BYTES;
  if (buf.length !== expected) {
    throw new CheckpointError(file, `truncated or padded: ${buf.length} bytes, the header describes ${expected}`);
  }
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  const hash = createHash('sha256').update(body).digest();
  if (!hash.equals(buf.subarray(buf.length - HASH_BYTES))) throw new CheckpointError(file, 'checksum mismatch: the file is corrupt');
  // copy into an aligned buffer of our own (the Buffer may be a slice of a shared pool)
  const payload = new Float32Array(floats);
  new Uint8Array(payload.buffer).set(buf.subarray(payloadStart, payloadStart + floats * 4));
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const t of header.tensors) tensors.set(t.name, { shape: t.shape, values: payload.subarray(t.offset, t.offset + t.size) });
  return { header, tensors };
}

