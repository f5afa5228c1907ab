import * as tf from '@tensorflow/tfjs';
import type { VisionTransformer } from '../model/VisionTransformer';
import { Embedder, type Readout } from '../model/Embedder';
import { Normalize } from '../views/Normalize';

/** RGB images (size x size x 3 bytes each) -> normalised tensor [n, size, size, 3], as the model sees frames. */
export function imagesToTensor(images: readonly Uint8Array[], size: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = images.length;
    const data = new Uint8Array(n * size * size * 3);
    images.forEach((im, i) => data.set(im, i * size * size * 3));
    const x = tf.div(tf.tensor4d(data, [n, size, size, 3], 'int32').toFloat(), 255);
    return new Normalize().apply(x) as tf.Tensor4D;
  });
}

/** L2-normalised features of a backbone (the CLS unless another readout is asked for) for every image, in batches. */
export async function backboneFeatures(
  backbone: VisionTransformer,
  images: readonly Uint8Array[],
  size: number,
  { batch = 256, readout = 'cls' }: { batch?: number; readout?: Readout } = {},
): Promise<Float32Array[]> {
  const embedder = new Embedder(backbone);
  const out: Float32Array[] = [];
  for (let i = 0; i < images.length; i += batch) {
    const x = imagesToTensor(images.slice(i, i + batch), size);
    try {
      out.push(...(await embedder.embedToArrays(x, { readout })).normalized);
    } finally {
      x.dispose();
    }
  }
  return out;
}

/** The raw-pixel baseline: the normalised pixels themselves as the feature vector. */
export async function pixelFeatures(images: readonly Uint8Array[], size: number): Promise<Float32Array[]> {
  const per = size * size * 3;
  const out: Float32Array[] = [];
  for (let i = 0; i < images.length; i += 1024) {
    const x = imagesToTensor(images.slice(i, i + 1024), size);
    let v: Float32Array;
    try {
      v = (await x.data()) as Float32Array;
    } finally {
      x.dispose();
    }
    for (let j = 0; j * per < v.length; j++) out.push(v.slice(j * per, (j + 1) * per));
  }
  return out;
}
