/**
 * Fixed, model-free image features for detector tests on real data: average-pooled colour thumbnails,
 * optionally mean-centred (removes overall brightness, which otherwise dominates the cosine), L2-normalised.
 * Stand-ins for teacher embeddings: they tell whether the detector plumbing works on real images, not how
 * good the trained model is.
 */
import { spawn } from 'child_process';
import { resolveFfmpegPath } from '../../streams/sources/ffmpegPath';
import { l2Normalized } from '../../src/detect/vectorMath';

export function thumbnail(rgb: Uint8Array, size: number, cells: number, centre: boolean): Float32Array {
  const f = new Float32Array(cells * cells * 3);
  const b = size / cells;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const cell = (Math.floor(y / b) * cells + Math.floor(x / b)) * 3;
      for (let c = 0; c < 3; c++) f[cell + c]! += rgb[(y * size + x) * 3 + c]! / (255 * b * b);
    }
  }
  if (centre) {
    let m = 0;
    for (const v of f) m += v;
    m /= f.length;
    for (let i = 0; i < f.length; i++) f[i]! -= m;
  }
  return l2Normalized(f);
}

/** Decodes a video to size x size RGB frames at `fps` with ffmpeg (rawvideo on stdout). */
export function decodeFrames(file: string, fps: number, size: number): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const args = ['-v', 'error', '-i', file, '-vf', `fps=${fps},scale=${size}:${size}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
    const ff = spawn(resolveFfmpegPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let err = '';
    ff.stdout.on('data', (c: Buffer) => chunks.push(c));
    ff.stderr.on('data', (c: Buffer) => (err += c.toString()));
    ff.on('error', reject);
    ff.on('close', (code) => {
      if (code !== 0) return reject(new Error(`ffmpeg exited ${code}: ${err}`));
      const all = Buffer.concat(chunks);
      const frame = size * size * 3;
      const frames: Uint8Array[] = [];
      for (let off = 0; off + frame <= all.length; off += frame) frames.push(new Uint8Array(all.subarray(off, off + frame)));
      resolve(frames);
    });
  });
}
