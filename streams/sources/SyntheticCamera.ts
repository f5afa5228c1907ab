import { asyncScheduler, BehaviorSubject, map, Observable, SchedulerLike, share, tap, timer } from 'rxjs';
import { Frame } from '../Frame';
import { Random } from '../../src/util/Random';

export interface SyntheticCameraOptions {
  streamId: string;
  width: number;
  height: number;
  fps?: number;
  seed?: number;
  /** Scene shown first (default 0). */
  scene?: number;
  /** Move on to the next of the four scenes every this many seconds of frames (default: never), a drift to detect. */
  sceneEverySec?: number | null;
  /** For tests on virtual time. */
  scheduler?: SchedulerLike;
}

type Texture = 'checker' | 'stripes' | 'blobs' | 'rings';
type ShapeKind = 'disc' | 'square' | 'triangle' | 'cross';

interface Shape {
  kind: ShapeKind;
  r: number;
  x0: number;
  y0: number;
  vx: number;
  vy: number;
  rgb: [number, number, number];
}

interface Scene {
  background: Uint8Array; // width*height*3, tiled and panned
  panX: number; // pixels per frame
  panY: number;
  shapes: Shape[];
  noise: number; // amplitude in grey levels
}

const TEXTURES: Texture[] = ['checker', 'stripes', 'blobs', 'rings'];
const SHAPES: ShapeKind[] = ['disc', 'square', 'triangle', 'cross'];
const NOISE_SLACK = 4096;

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return Math.round(255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [f(5), f(3), f(1)];
}

/** Folds an unbounded coordinate into [0, span] like a ball bouncing between walls. */
function bounce(p: number, span: number): number {
  if (span <= 0) return 0;
  const m = ((p % (2 * span)) + 2 * span) % (2 * span);
  return m <= span ? m : 2 * span - m;
}

/**
 * A procedurally generated moving scene: a panning texture, a few coloured shapes bouncing around, sensor noise.
 * Frame content is a pure function of (seed, scene, frame index), so tests can rely on it. setScene(k) swaps
 * palette, texture, shape kind, count and noise level: a distribution shift a DINO teacher notices.
 * Cost per frame: one wrapped copy of the background, the shapes' bounding boxes, one add per byte for noise
 * (the noise pattern is precomputed and read at a per-frame offset).
 */
export class SyntheticCamera {
  readonly streamId: string;
  readonly frames$: Observable<Frame>;
  private readonly sceneSubject: BehaviorSubject<number>;
  /** The scene number, replayed to new subscribers; emits on every setScene. */
  readonly scene$: Observable<number>;
  private readonly scenes = new Map<number, Scene>();
  private readonly noiseTable: Int8Array;
  private readonly w: number;
  private readonly h: number;
  private readonly seed: number;

  constructor(o: SyntheticCameraOptions) {
    if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width <= 0 || o.height <= 0) {
      throw new Error('SyntheticCamera: width/height must be positive integers');
    }
    const fps = o.fps ?? 10;
    if (!(fps > 0)) throw new Error('SyntheticCamera: fps must be > 0');
    this.streamId = o.streamId;
    this.w = o.width;
    this.h = o.height;
    this.seed = (o.seed ?? 0) >>> 0;
    this.sceneSubject = new BehaviorSubject(o.scene ?? 0);
    this.scene$ = this.sceneSubject.asObservable();
    const rng = new Random(this.seed ^ 0x5eed);
    this.noiseTable = new Int8Array(this.w * this.h * 3 + NOISE_SLACK);
    for (let i = 0; i < this.noiseTable.length; i++) this.noiseTable[i] = Math.round(Math.max(-3, Math.min(3, rng.normal())) * 40);
    const period = 1000 / fps;
    const sceneEvery = o.sceneEverySec ? Math.max(1, Math.round((o.sceneEverySec * 1000) / period)) : 0; // in frames
    const scheduler = o.scheduler ?? asyncScheduler;
    this.frames$ = timer(0, period, scheduler).pipe(
      tap((index) => {
        if (sceneEvery && index > 0 && index % sceneEvery === 0) this.setScene((this.scene + 1) % 4);
      }),
      map((index) => ({
        streamId: this.streamId,
        t: scheduler.now(),
        index,
        width: this.w,
        height: this.h,
        rgb: this.render(index, this.sceneSubject.value),
      })),
      share(),
    );
  }

  get scene(): number {
    return this.sceneSubject.value;
  }

  /** Switches the content from the next frame on. */
  setScene(k: number): void {
    if (!Number.isInteger(k) || k < 0) throw new Error('SyntheticCamera: scene must be a non-negative integer');
    if (k !== this.sceneSubject.value) this.sceneSubject.next(k);
  }

  /** The frame with this index in scene k (pure: the same arguments give the same bytes). */
  render(index: number, k = this.scene): Uint8Array {
    const { w, h } = this;
    const sc = this.sceneFor(k);
    const out = new Uint8ClampedArray(w * h * 3);
    // Background, panned with wrap-around: two row-segment copies per row.
    const ox = ((Math.floor(index * sc.panX) % w) + w) % w;
    const oy = ((Math.floor(index * sc.panY) % h) + h) % h;
    const bg = sc.background;
    for (let y = 0; y < h; y++) {
      const src = ((y + oy) % h) * w * 3;
      const dst = y * w * 3;
      out.set(bg.subarray(src + ox * 3, src + w * 3), dst);
      out.set(bg.subarray(src, src + ox * 3), dst + (w - ox) * 3);
    }
    for (const s of sc.shapes) this.drawShape(out, s, index);
    // Noise from the precomputed table at a frame-dependent offset; Uint8ClampedArray clamps for free.
    const off = (index * 7919) % NOISE_SLACK;
    const amp = sc.noise / 40;
    const nt = this.noiseTable;
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + nt[off + i]! * amp;
    return new Uint8Array(out.buffer);
  }

  private drawShape(out: Uint8ClampedArray, s: Shape, index: number): void {
    const { w, h } = this;
    const cx = s.r + bounce(s.x0 + s.vx * index, w - 2 * s.r);
    const cy = s.r + bounce(s.y0 + s.vy * index, h - 2 * s.r);
    const r = s.r;
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(w - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(h - 1, Math.ceil(cy + r));
    const [cr, cg, cb] = s.rgb;
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x <= x1; x++) {
        const dx = x + 0.5 - cx;
        let inside: boolean;
        switch (s.kind) {
          case 'disc':
            inside = dx * dx + dy * dy <= r * r;
            break;
          case 'square':
            inside = Math.abs(dx) <= r * 0.8 && Math.abs(dy) <= r * 0.8;
            break;
          case 'triangle':
            inside = dy <= r * 0.8 && dy >= -r && Math.abs(dx) <= (dy + r) * 0.55;
            break;
          default:
            inside = Math.abs(dx) <= r * 0.3 || Math.abs(dy) <= r * 0.3;
        }
        if (inside) {
          const p = (y * w + x) * 3;
          out[p] = cr;
          out[p + 1] = cg;
          out[p + 2] = cb;
        }
      }
    }
  }

  /** Scene k's parameters, derived from (seed, k) only; built once and kept. */
  private sceneFor(k: number): Scene {
    let sc = this.scenes.get(k);
    if (sc) return sc;
    const rng = new Random((Math.imul(this.seed + 1, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0);
    const { w, h } = this;
    const hue = (k * 0.381966 + rng.next() * 0.1) % 1; // golden-ratio steps: consecutive scenes far apart in hue
    const dark = k % 2 === 1; // alternate bright and dark scenes so even global statistics shift
    const bgA = hsv(hue, 0.6, dark ? 0.25 : 0.85);
    const bgB = hsv((hue + 0.08) % 1, 0.35, dark ? 0.1 : 0.6);
    const texture = TEXTURES[k % TEXTURES.length]!;
    const cell = Math.max(2, Math.round(Math.min(w, h) / (4 + rng.int(5))));
    const angle = rng.next() * Math.PI;
    const blobs = Array.from({ length: 6 }, () => ({ x: rng.next() * w, y: rng.next() * h, r: (0.1 + rng.next() * 0.2) * Math.min(w, h) }));
    const background = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let a: number; // 0..1 mix between bgB and bgA
        switch (texture) {
          case 'checker':
            a = (Math.floor(x / cell) + Math.floor(y / cell)) % 2;
            break;
          case 'stripes':
            a = 0.5 + 0.5 * Math.sin(((x * Math.cos(angle) + y * Math.sin(angle)) / cell) * Math.PI);
            break;
          case 'blobs':
            a = Math.min(1, blobs.reduce((acc, b) => acc + Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r)), 0));
            break;
          default:
            a = 0.5 + 0.5 * Math.cos((Math.hypot(x - w / 2, y - h / 2) / cell) * Math.PI);
        }
        const p = (y * w + x) * 3;
        for (let c = 0; c < 3; c++) background[p + c] = Math.round(bgB[c]! + a * (bgA[c]! - bgB[c]!));
      }
    }
    const kind = SHAPES[(k + Math.floor(k / TEXTURES.length)) % SHAPES.length]!;
    const n = 3 + rng.int(4);
    const shapes: Shape[] = Array.from({ length: n }, () => ({
      kind,
      r: Math.max(2, (0.08 + rng.next() * 0.12) * Math.min(w, h)),
      x0: rng.next() * w,
      y0: rng.next() * h,
      vx: (rng.next() - 0.5) * 0.06 * w,
      vy: (rng.next() - 0.5) * 0.06 * h,
      rgb: hsv((hue + 0.33 + rng.next() * 0.34) % 1, 0.9, dark ? 0.9 : 0.5),
    }));
    sc = {
      background,
      panX: (rng.next() - 0.5) * 0.02 * w,
      panY: (rng.next() - 0.5) * 0.02 * h,
      shapes,
      noise: 4 + rng.int(12),
    };
    this.scenes.set(k, sc);
    return sc;
  }
}
