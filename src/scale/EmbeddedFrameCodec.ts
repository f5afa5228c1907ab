import type { Frame } from '../../streams/Frame';
import type { EmbeddingMessage } from '../types/messages';
import { decodeBinary, encodeBinary } from '../protocol/EmbeddingCodec';
import { decodeFrame, encodeFrame, FrameCodecError } from './FrameCodec';

/** An embed worker's output: the teacher embedding (with its raw CLS) and the frame behind it, for the detectors. */
export interface EmbeddedFrame {
  embedding: EmbeddingMessage;
  frame: Frame;
}

/** uint32 LE length of the embedding's wire bytes (EmbeddingCodec binary, raw included), those bytes, the frame (FrameCodec). */
export function encodeEmbeddedFrame(e: EmbeddedFrame): Uint8Array {
  const emb = encodeBinary(e.embedding, { raw: true });
  const frame = encodeFrame(e.frame);
  const out = new Uint8Array(4 + emb.length + frame.length);
  new DataView(out.buffer).setUint32(0, emb.length, true);
  out.set(emb, 4);
  out.set(frame, 4 + emb.length);
  return out;
}

export function decodeEmbeddedFrame(bytes: Uint8Array): EmbeddedFrame {
  if (bytes.length < 4) throw new FrameCodecError('embedded-frame message shorter than 4 bytes');
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + n > bytes.length) throw new FrameCodecError(`embedded-frame message of ${bytes.length} bytes names an embedding of ${n}`);
  let embedding: EmbeddingMessage;
  try {
    embedding = decodeBinary(bytes.subarray(4, 4 + n));
  } catch (e) {
    throw new FrameCodecError(`embedded-frame message: ${(e as Error).message}`);
  }
  const frame = decodeFrame(bytes.subarray(4 + n));
  if (frame.streamId !== embedding.streamId || frame.index !== embedding.frameIndex) {
    throw new FrameCodecError(`embedded-frame message: embedding of ${embedding.streamId}#${embedding.frameIndex} with frame ${frame.streamId}#${frame.index}`);
  }
  return { embedding, frame };
}
