import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { checkpointHeaderSchema, firstIssue, tensorTableProblem, type CheckpointHeader } from './CheckpointHeader';

export type { CheckpointHeader } from './CheckpointHeader';

/**
 * Checkpoint file format (little-endian):
 *   "DINOCKPT" | u32 version | u32 headerBytes | header JSON | float32 payload | sha256(everything before it)
 * The header lists every tensor (name, shape, offset in floats) plus the run's metadata. Reading checks the hash
 * before anything the file says is believed, then the header against a schema and the tensor table against the
 * bytes present: a truncated, corrupted or hostile file fails with a CheckpointError and never makes the reader
 * allocate more than the file holds. Values are plain float32, so a checkpoint written on one backend loads on
 * any other.
 */
const MAGIC = Buffer.from('DINOCKPT', 'ascii');
const VERSION = 1;
const HASH_BYTES = 32;
const FIXED_BYTES = 16;

/** Every way a checkpoint file can be unusable: unreadable, corrupt, inconsistent, or of another model. */
export class CheckpointError extends Error {
  constructor(readonly file: string, message: string) {
    super(`checkpoint ${file}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/**
 * A sound checkpoint of another model than the one asked for. Not a damaged file: resuming refuses to start
 * rather than fall back to an older file or overwrite the run.
 */
export class CheckpointMismatchError extends CheckpointError {
  constructor(file: string, message: string) {
    super(file, message);
    this.name = 'CheckpointMismatchError';
  }
}

export interface DecodedCheckpoint {
  header: CheckpointHeader;
  tensors: Map<string, { shape: number[]; values: Float32Array }>;
}

/** Serialise tensors + metadata into one buffer (reads tensor values asynchronously). */
export async function encodeCheckpoint(
  step: number,
  tensors: Map<string, tf.Tensor>,
  meta: Record<string, unknown>,
  runId?: string,
): Promise<Buffer> {
  const entries: CheckpointHeader['tensors'] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const values = (await t.data()) as Float32Array;
    // a diverged state is not worth keeping: the previous checkpoints stay the newest
    if (!values.every(Number.isFinite)) throw new Error(`tensor "${name}" holds NaN or infinite values: checkpoint not written`);
    entries.push({ name, shape: t.shape.slice(), offset, size: values.length });
    chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    offset += values.length;
  }
  const header: CheckpointHeader = { version: VERSION, step, createdAt: new Date().toISOString(), ...(runId ? { runId } : {}), meta, tensors: entries };
  const headerBuf = Buffer.from(JSON.stringify(header), 'utf8');
  const fixed = Buffer.alloc(FIXED_BYTES);
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
export function decodeCheckpoint(buf: Buffer, file = '<buffer>'): DecodedCheckpoint {
  const fail = (msg: string) => new CheckpointError(file, msg);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw fail('not a dino-stream checkpoint (bad magic bytes)');
  if (buf.length < FIXED_BYTES + HASH_BYTES) throw fail(`truncated: only ${buf.length} bytes`);
  const body = buf.subarray(0, buf.length - HASH_BYTES);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(body.length))) {
    throw fail('checksum mismatch: the file is truncated or corrupt');
  }
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) throw fail(`format version ${version} is not supported (expected ${VERSION})`);
  const headerEnd = FIXED_BYTES + buf.readUInt32LE(12);
  if (headerEnd > body.length) throw fail('the header is longer than the file');
  let json: unknown;
  try {
    json = JSON.parse(buf.subarray(FIXED_BYTES, headerEnd).toString('utf8'));
  } catch {
    throw fail('corrupt header (not valid JSON)');
  }
  const parsed = checkpointHeaderSchema.safeParse(json);
  if (!parsed.success) throw fail(`invalid header: ${firstIssue(parsed.error)}`);
  const header = parsed.data;
  if (header.version !== version) throw fail(`the header says version ${header.version}, the file ${version}`);
  const payloadStart = headerEnd + ((4 - (headerEnd % 4)) % 4);
  const payloadBytes = body.length - payloadStart;
  if (payloadBytes < 0 || payloadBytes % 4 !== 0) throw fail(`the payload is ${payloadBytes} bytes, not whole float32 values`);
  const problem = tensorTableProblem(header.tensors, payloadBytes / 4);
  if (problem) throw fail(problem);
  // copy into an aligned buffer of our own (the Buffer may be a slice of a shared pool)
  const payload = new Float32Array(payloadBytes / 4);
  new Uint8Array(payload.buffer).set(body.subarray(payloadStart));
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const t of header.tensors) tensors.set(t.name, { shape: t.shape, values: payload.subarray(t.offset, t.offset + t.size) });
  return { header, tensors };
}
