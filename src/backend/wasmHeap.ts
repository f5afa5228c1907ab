/**
 * Direct access to tensors living in the tfjs-backend-wasm heap: native kernels get one Float32Array over the
 * whole wasm memory plus byte offsets, and write outputs in place (no copies).
 */
import type * as tf from '@tensorflow/tfjs';

/** The parts of BackendWasm (tfjs-backend-wasm 4.22) these kernels rely on. */
export interface WasmBackendLike {
  wasm: { HEAPU8: Uint8Array; wasmMemory?: WebAssembly.Memory };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

let lastBuffer: ArrayBufferLike | null = null;
let lastView: Float32Array | null = null;

/**
 * A Float32Array over the current wasm memory. Call it after every makeOutput of a kernel: allocation may grow
 * the memory, which replaces the ArrayBuffer. The threaded build's memory is a SharedArrayBuffer and its
 * HEAPU8 view can be stale when another thread grew it, so the Memory object is preferred when exposed.
 */
export function heapF32(backend: WasmBackendLike): Float32Array {
  const buffer = backend.wasm.wasmMemory?.buffer ?? backend.wasm.HEAPU8.buffer;
  if (buffer !== lastBuffer || lastView === null) {
    lastBuffer = buffer;
    lastView = new Float32Array(buffer);
  }
  return lastView;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function offsetOf(backend: WasmBackendLike, t: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data == null || data.memoryOffset == null) throw new Error('tensor is not in the wasm heap');
  return data.memoryOffset;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
