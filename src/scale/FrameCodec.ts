import type { Frame } from '../../streams/Frame';

/**
 * A frame as a broker message (little-endian):
 *   0   4  "DSFR"            4   1  version = 1        5  1  reserved
 *   6   2  L = stream id bytes (UTF-8)                 8  2  width       10  2  height
 *   12  4  reserved          16  8  index (float64)    24  8  t, ms since the epoch (float64)
 *   32  L  stream id, zero-padded to a multiple of 4, then width*height*3 bytes of RGB
 */
const MAGIC = [0x44, 0x53, 0x46, 0x52];
const VERSION = 1;
const HEAD = 32;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export class FrameCodecError extends Error {
  override name = 'FrameCodecError';
}

export function encodeFrame(f: Frame): Uint8Array {
  const id = enc.encode(f.streamId);
  if (id.length > 0xffff) throw new FrameCodecError('stream id longer than 65535 bytes');
  if (f.width > 0xffff || f.height > 0xffff) throw new FrameCodecError(`frame of ${f.width}x${f.height} is larger than 65535 pixels a side`);
  if (f.rgb.length !== f.width * f.height * 3) {
    throw new FrameCodecError(`frame of stream "${f.streamId}": ${f.rgb.length} RGB bytes for ${f.width}x${f.height}`);
  }
  const head = HEAD + id.length + ((4 - (id.length % 4)) % 4);
  const out = new Uint8Array(head + f.rgb.length);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint8(4, VERSION);
  dv.setUint16(6, id.length, true);
  dv.setUint16(8, f.width, true);
  dv.setUint16(10, f.height, true);
  dv.setFloat64(16, f.index, true);
  dv.setFloat64(24, f.t, true);
  out.set(id, HEAD);
  out.set(f.rgb, head);
  return out;
}

/** The frame in `bytes`; a FrameCodecError naming what is wrong for anything malformed. The pixels are copied. */
export function decodeFrame(bytes: Uint8Array): Frame {
  if (bytes.length < HEAD || !MAGIC.every((b, i) => bytes[i] === b)) throw new FrameCodecError('not a frame message (bad magic or too short)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(4);
  if (version !== VERSION) throw new FrameCodecError(`frame message version ${version}, this build reads ${VERSION}`);
  const idLen = dv.getUint16(6, true);
  const width = dv.getUint16(8, true);
  const height = dv.getUint16(10, true);
  const head = HEAD + idLen + ((4 - (idLen % 4)) % 4);
  const want = head + width * height * 3;
  if (width === 0 || height === 0 || bytes.length !== want) {
    throw new FrameCodecError(`frame message of ${bytes.length} bytes, its header (${width}x${height}, id ${idLen} bytes) says ${want}`);
  }
  let streamId: string;
  try {
    streamId = dec.decode(bytes.subarray(HEAD, HEAD + idLen));
  } catch {
    throw new FrameCodecError('frame message: the stream id is not UTF-8');
  }
  const index = dv.getFloat64(16, true);
  const t = dv.getFloat64(24, true);
  if (!Number.isSafeInteger(index) || index < 0 || !Number.isFinite(t)) throw new FrameCodecError(`frame message: index ${index} or time ${t} is not valid`);
  return { streamId, index, t, width, height, rgb: new Uint8Array(bytes.subarray(head)) };
}
