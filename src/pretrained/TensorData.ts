/** Element types a weight file may store; every one is read as float32. */
export type WeightDtype = 'F32' | 'F16' | 'BF16' | 'F64';

export const DTYPE_BYTES: Record<WeightDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/**
 * One tensor of a weight file, not yet decoded: its element type, shape and a contiguous row-major slice of the
 * file's bytes. `read()` decodes it to float32 (the file's buffer stays untouched).
 */
export class TensorData {
  constructor(
    readonly dtype: WeightDtype,
    readonly shape: number[],
    private readonly bytes: Uint8Array,
  ) {
    const n = numel(shape);
    if (bytes.length !== n * DTYPE_BYTES[dtype]) {
      throw new Error(`tensor of shape [${shape}] ${dtype} needs ${n * DTYPE_BYTES[dtype]} bytes, has ${bytes.length}`);
    }
  }

  get size(): number {
    return numel(this.shape);
  }

  read(): Float32Array {
    return decode(this.dtype, this.bytes, this.size);
  }
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Little-endian bytes of `n` elements -> float32 (half and bfloat16 widened exactly; float64 rounded). */
export function decode(dtype: WeightDtype, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes.subarray(0, n * 4));
  } else if (dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
  } else if (dtype === 'BF16') {
    // bfloat16 is the high half of a float32
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
