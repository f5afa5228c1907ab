import { z } from 'zod';
import type { TeacherSnapshot } from '../train/TrainerService';

/**
 * A teacher snapshot as one object in the Object Store (little-endian):
 *   "DSTC", uint8 version = 1, 3 reserved bytes, uint32 J, J bytes of JSON {step, model, params: [{name, shape}]},
 *   zero padding to a multiple of 4, then every parameter's float32 values back to back, in the header's order.
 * The JSON is validated with zod and every size against the bytes present before anything is read.
 */
const MAGIC = [0x44, 0x53, 0x54, 0x43];
const VERSION = 1;

const headerSchema = z
  .object({
    step: z.number().int().min(0),
    /** The model preset the teacher belongs to: a worker of another preset refuses it by name. */
    model: z.string().min(1),
    params: z.array(z.object({ name: z.string().min(1), shape: z.array(z.number().int().min(0)).max(8) }).strict()).min(1),
  })
  .strict();

export class TeacherBlobError extends Error {
  override name = 'TeacherBlobError';
}

export interface TeacherBlob extends TeacherSnapshot {
  model: string;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function encodeTeacher(snapshot: TeacherSnapshot, model: string): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ step: snapshot.step, model, params: snapshot.params.map((p) => ({ name: p.name, shape: p.shape })) }),
  );
  const head = 12 + header.length + ((4 - (header.length % 4)) % 4);
  const floats = snapshot.params.reduce((n, p) => n + p.values.length, 0);
  const out = new Uint8Array(head + 4 * floats);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint8(4, VERSION);
  dv.setUint32(8, header.length, true);
  out.set(header, 12);
  let at = head;
  for (const p of snapshot.params) {
    if (p.values.length !== size(p.shape)) throw new TeacherBlobError(`parameter ${p.name}: ${p.values.length} values for shape [${p.shape}]`);
    new Float32Array(out.buffer, at, p.values.length).set(p.values);
    at += 4 * p.values.length;
  }
  return out;
}

/** The snapshot in `bytes`; a TeacherBlobError naming the problem for anything malformed or truncated. */
export function decodeTeacher(bytes: Uint8Array): TeacherBlob {
  if (bytes.length < 12 || !MAGIC.every((b, i) => bytes[i] === b)) throw new TeacherBlobError('not a teacher object (bad magic or too short)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint8(4) !== VERSION) throw new TeacherBlobError(`teacher object version ${dv.getUint8(4)}, this build reads ${VERSION}`);
  const j = dv.getUint32(8, true);
  if (12 + j > bytes.length) throw new TeacherBlobError(`teacher object of ${bytes.length} bytes names a ${j}-byte header`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + j)));
  } catch (e) {
    throw new TeacherBlobError(`teacher object header is not JSON: ${(e as Error).message}`);
  }
  const h = headerSchema.safeParse(parsed);
  if (!h.success) throw new TeacherBlobError(`teacher object header: ${h.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const head = 12 + j + ((4 - (j % 4)) % 4);
  const floats = h.data.params.reduce((n, p) => n + size(p.shape), 0);
  if (bytes.length !== head + 4 * floats) {
    throw new TeacherBlobError(`teacher object of ${bytes.length} bytes, its header's parameters need ${head + 4 * floats}`);
  }
  // copied out: the Float32Arrays must be aligned and must not keep the message buffer alive
  const data = new Uint8Array(bytes.subarray(head));
  const all = new Float32Array(data.buffer, data.byteOffset, floats);
  let at = 0;
  const params = h.data.params.map((p) => {
    const n = size(p.shape);
    const values = all.subarray(at, at + n);
    at += n;
    return { name: p.name, shape: p.shape, values };
  });
  return { step: h.data.step, model: h.data.model, params };
}
