import { readFileSync } from 'fs';
import { resolve } from 'path';
import sharp from 'sharp';
import type { CameraStateName } from '../../streams/CameraState';
import { FakeHub, stats } from './fakeHub';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10/train');
const STREAMS: [string, string][] = [
  ['cam1', 'cat'],
  ['cam2', 'ship'],
  ['door', 'horse'],
];

/** Deterministic noise in [-1, 1). */
function noise(k: number): number {
  let x = Math.imul(k ^ 0x9e3779b9, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 31 - 1;
}

/**
 * Pushes a plausible, changing agent into a FakeHub: falling loss, thumbnails and attention over real CIFAR-10
 * JPEGs (upscaled so the dashboard has something to show), clustered embeddings per stream, novelty, drift and
 * camera events. Used by the browser test; handy to look at the dashboard by hand too.
 */
export class DashboardFeed {
  private timers: NodeJS.Timeout[] = [];
  private step = 0;
  private frame = 0;
  private jpegs = new Map<string, Buffer[]>();
  readonly dim = 64;

  constructor(readonly hub: FakeHub) {}

  async load(): Promise<void> {
    for (const [id, cls] of STREAMS) {
      const list: Buffer[] = [];
      for (let i = 0; i < 6; i++) {
        const src = readFileSync(resolve(CIFAR, cls, `${String(i).padStart(4, '0')}.jpg`));
        list.push(await sharp(src).resize(128, 128, { kernel: 'lanczos3' }).jpeg({ quality: 85 }).toBuffer());
      }
      this.jpegs.set(id, list);
    }
  }

  start(periodMs = 100): void {
    this.timers.push(setInterval(() => this.tick(), periodMs));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  tick(): void {
    const now = Date.now();
    this.step++;
    const lnK = Math.log(4096);
    const loss = 2 + (lnK - 2) * Math.exp(-this.step / 40) + 0.15 * Math.sin(this.step / 3);
    this.hub.statsS.next({ ...stats(this.step, loss, STREAMS.map(([id]) => id)), t: now });
    STREAMS.forEach(([id], si) => {
      const f = this.frame++;
      // Stream clusters in embedding space: a per-stream centre plus noise, drifting slowly.
      const v = new Float32Array(this.dim);
      for (let j = 0; j < this.dim; j++) v[j] = (j % 3 === si ? 0.6 : 0) + 0.5 * noise(f * 131 + j) + (j === 5 ? Math.sin(this.step / 20) : 0);
      const n = Math.hypot(...v);
      const novelty = Math.min(1, Math.abs(Math.sin(this.step / 15 + si)) * (si === 2 ? 1 : 0.6));
      this.hub.embeddingsS.next({ streamId: id, t: now, frameIndex: f, teacherStep: this.step, dim: this.dim, embedding: v.map((x) => x / n), novelty });
      const jpeg = this.jpegs.get(id)![this.step % 6]!;
      this.hub.thumbnailsS.next({ streamId: id, t: now, frameIndex: f, width: 128, height: 128, jpeg });
      if (this.step % 3 === 0) {
        const grid = 8;
        const heads = 3;
        const maps = new Float32Array(heads * grid * grid);
        for (let h = 0; h < heads; h++) {
          // A blob per head that wanders around the frame.
          const cx = 3.5 + 2.5 * Math.sin(this.step / 7 + h * 2);
          const cy = 3.5 + 2.5 * Math.cos(this.step / 9 + h);
          let sum = 0;
          for (let y = 0; y < grid; y++) for (let x = 0; x < grid; x++) sum += maps[h * 64 + y * grid + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 3);
          for (let k = 0; k < 64; k++) maps[h * 64 + k]! /= sum;
        }
        this.hub.attentionS.next({ streamId: id, t: now, frameIndex: f, teacherStep: this.step, grid, heads, maps, jpeg });
      }
    });
    if (this.step % 25 === 0) {
      this.hub.eventsS.next({ type: 'drift', streamId: 'door', t: now, statistic: 0.08, pValue: 0.002, alpha: 0.01, method: 'mmd', teacherStep: this.step });
    }
    if (this.step % 10 === 0) {
      this.hub.eventsS.next({ type: 'novelty', streamId: 'cam2', t: now, frameIndex: this.frame, score: 0.7, calibrated: 0.97, threshold: 0.95, teacherStep: this.step });
    }
    if (this.step === 5) {
      const state: CameraStateName = 'live';
      for (const [id] of STREAMS) this.hub.eventsS.next({ type: 'camera', streamId: id, t: now, state, detail: 'first frame' });
    }
  }
}
