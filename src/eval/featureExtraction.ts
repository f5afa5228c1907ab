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

/** Images through `f` in batches (inside tf.tidy, on the normalised tensor), read back as one array per image. */
export async function perImage(images: readonly Uint8Array[], size: number, batch: number, f: (x: tf.Tensor4D) => tf.Tensor): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < images.length; i += batch) {
    const chunk = images.slice(i, i + batch);
    const y = tf.tidy(() => f(imagesToTensor(chunk, size)));
    try {
      const flat = (await y.data()) as Float32Array;
      const per = flat.length / chunk.length;
      for (let b = 0; b < chunk.length; b++) out.push(flat.slice(b * per, (b + 1) * per));
    } finally {
      y.dispose();
    }
  }
  return out;
}

/** L2-normalised features of a backbone (the CLS unless another readout is asked for) for every image, in batches. */
export async function backboneFeatures(
  backbone: VisionTransformer,
  images: readonly Uint8Array[],
  size: number,
  { batch = 256, readout = 'cls' }: { batch?: number; readout?: Readout } = {},
): Promise<Float32Array[]> {
  const embedder = new Embedder(backbone);
  return perImage(images, size, batch, (x) => embedder.embed(x, { readout }).normalized);
}

/** The raw-pixel baseline: the normalised pixels themselves as the feature vector. */
export async function pixelFeatures(images: readonly Uint8Array[], size: number): Promise<Float32Array[]> {
  return perImage(images, size, 1024, (x) => x);
}
