import * as tf from '@tensorflow/tfjs';
import { type Frame, assertFrame } from '../../streams/Frame';

/**
 * Stacks frames into one float32 batch [B,H,W,3] in [0,1] (value / 255, as torchvision's ToTensor).
 * All frames must have the same size: resizing belongs to the source, so a mismatch is an error here.
 */
export function framesToTensor(frames: readonly Frame[]): tf.Tensor4D {
  if (frames.length === 0) throw new Error('framesToTensor: no frames');
  const first = frames[0]!;
  const { width, height } = first;
  frames.forEach((f, i) => {
    assertFrame(f);
    if (f.width !== width || f.height !== height) {
      throw new Error(
        `framesToTensor: frame ${i} (stream "${f.streamId}", index ${f.index}) is ${f.width}x${f.height}, ` +
          `but frame 0 (stream "${first.streamId}") is ${width}x${height}; all frames of a batch must be the same size`,
      );
    }
  });
  const per = width * height * 3;
  const data = new Float32Array(frames.length * per);
  frames.forEach((f, i) => {
    const rgb = f.rgb;
    const off = i * per;
    for (let j = 0; j < per; j++) data[off + j] = rgb[j]! / 255;
  });
  return tf.tensor4d(data, [frames.length, height, width, 3]);
}
