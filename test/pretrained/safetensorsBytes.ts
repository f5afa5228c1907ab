/** A .safetensors file from raw tensors (the spec: u64 LE header length, JSON header, the buffer), for tests. */
export function safetensorsBytes(tensors: Record<string, { dtype: string; shape: number[]; data: Uint8Array; offsets?: [number, number] }>): Buffer {
  const header: Record<string, unknown> = {};
  const blobs: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.offsets ?? [at, at + t.data.length] };
    blobs.push(t.data);
    at += t.data.length;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...blobs]);
}
