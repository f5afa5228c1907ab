import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { Frame } from '../../streams/Frame';
import { sharedData } from '../helpers/sharedData';

export const BACKENDS = ['cpu', 'wasm'] as const;

export async function useBackend(name: string): Promise<void> {
  await tf.setBackend(name);
  await tf.ready();
}

/** Runs fn and fails if it leaves tensors behind. */
export async function noLeak<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

const CIFAR = sharedData('cifar10/test');

/** The first `n` CIFAR-10 test images (32x32), one per class in turn, as frames. */
export async function cifarFrames(n: number): Promise<Frame[]> {
  const classes = fs.readdirSync(CIFAR).sort();
  const frames: Frame[] = [];
  for (let i = 0; i < n; i++) {
    const dir = path.join(CIFAR, classes[i % classes.length]!);
    const file = fs.readdirSync(dir).sort()[Math.floor(i / classes.length)]!;
    const { data, info } = await sharp(path.join(dir, file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    frames.push({ streamId: 'cifar', t: i, index: i, width: info.width, height: info.height, rgb: new Uint8Array(data) });
  }
  return frames;
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Values of a slice of `t`, without leaving the slice behind. */
export async function sliceData(t: tf.Tensor, begin: number[], size: number[]): Promise<Float32Array> {
  const s = tf.slice(t, begin, size);
  const d = (await s.data()) as Float32Array;
  s.dispose();
  return d;
}

/** Values of `t`, then disposes it (for results of calls under test). */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}
