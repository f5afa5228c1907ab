import { DTYPE_BYTES, TensorData, numel, type WeightDtype } from './TensorData';

/**
 * A .safetensors file by its specification: an unsigned 64-bit little-endian header length N, N bytes of JSON
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}), then the byte buffer the
 * offsets index (relative to its start). Every offset and length is checked against the file, the tensors must tile
 * the buffer without gaps or overlaps (as the format requires), and only F32, F16, BF16 and F64 are read.
 */
export function readSafetensors(buf: Uint8Array): Map<string, TensorData> {
  if (buf.length < 8) throw new Error('not a safetensors file: shorter than its 8-byte header length');
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(buf.length - 8)) throw new Error(`not a safetensors file: header length ${n} exceeds the file (${buf.length} bytes)`);
  const start = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, start)));
  } catch {
    throw new Error('not a safetensors file: its header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('safetensors header is not a JSON object');
  const data = buf.subarray(start);
  const spans: [number, number, string][] = [];
  const out = new Map<string, TensorData>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (why: string) => new Error(`safetensors tensor "${name}": ${why}`);
    if (typeof e !== 'object' || e === null) throw bad('entry is not an object');
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) throw bad(`dtype ${JSON.stringify(e.dtype)} is not read (F32, F16, BF16, F64)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad('shape is not a list of sizes');
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) throw bad('data_offsets is not [begin, end]');
    const [begin, end] = offs as [number, number];
    if (begin > end || end > data.length) throw bad(`bytes ${begin}-${end} lie outside the file's ${data.length}-byte buffer`);
    const dtype = e.dtype as WeightDtype;
    const expected = numel(shape as number[]) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) throw bad(`shape [${shape.join(', ')}] ${dtype} needs ${expected} bytes, its offsets span ${end - begin}`);
    spans.push([begin, end, name]);
    out.set(name, new TensorData(dtype, shape as number[], data.subarray(begin, end)));
  }
  spans.sort((a, b) => a[0] - b[0]);
  let at = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== at) throw new Error(`safetensors tensor "${name}" starts at byte ${begin} of the buffer, expected ${at} (a gap or an overlap)`);
    at = end;
  }
  if (at !== data.length) throw new Error(`safetensors buffer has ${data.length - at} bytes after its last tensor`);
  return out;
}
