import { Frame } from './Frame';
import { Random } from '../src/util/Random';
import { oldestSlot, reservoirSlot } from '../src/util/eviction';
import { dot, thumbnailFeature } from './thumbnailFeature';
import type { ReplayPolicy } from '../src/types/ReplayPolicy';

export { REPLAY_POLICIES, type ReplayPolicy } from '../src/types/ReplayPolicy';

/** Unit-length descriptor; similarity = dot product. Swap in teacher embeddings later via setFeature(). */
export type FeatureFn = (frame: Frame) => Float32Array;

export interface ReplayBufferOptions {
  capacity: number;
  policy?: ReplayPolicy;
  /** When given, add() throws on a frame of another size (a batch must be one size). */
  width?: number;
  height?: number;
  /** min-redundancy only. Default: 8x8 grey thumbnail, zero-mean, unit length. */
  feature?: FeatureFn;
  /** reservoir only: the random choices. */
  rng?: Random;
}

export interface StreamBufferStats {
  seen: number;
  added: number;
  /** Offered but not admitted (reservoir coin, or the newcomer was the most redundant). */
  rejected: number;
  evicted: number;
  /** Evicted before ever being drawn into a batch. */
  evictedUnused: number;
  inBuffer: number;
}

export interface AddResult {
  added: boolean;
  evicted?: Frame;
}

interface Item {
  frame: Frame;
  feat: Float32Array | undefined;
  /** Similarity to the most similar other item, and which slot that is (min-redundancy). */
  nnSim: number;
  nnSlot: number;
  uses: number;
  seq: number;
}

/**
 * Bounded store of recent frames to draw training batches from. Fair across streams: with S streams present each
 * may hold floor(capacity / S); a stream below its share takes its slot from the stream holding most, a stream at
 * its share only competes against its own frames. So no camera can take the whole buffer, and a new camera gets
 * room at once.
 */
export class ReplayBuffer {
  readonly capacity: number;
  readonly policy: ReplayPolicy;
  private readonly items: Item[] = [];
  private readonly stats = new Map<string, StreamBufferStats>();
  private feature: FeatureFn;
  private readonly rng: Random;
  private seq = 0;

  constructor(private readonly o: ReplayBufferOptions) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new Error('ReplayBuffer: capacity must be an integer >= 1');
    this.capacity = o.capacity;
    this.policy = o.policy ?? 'min-redundancy';
    this.feature = o.feature ?? ((f) => thumbnailFeature(f));
    this.rng = o.rng ?? new Random();
  }

  get size(): number {
    return this.items.length;
  }

  /** Frames in the buffer per stream. */
  countsByStream(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const it of this.items) out[it.frame.streamId] = (out[it.frame.streamId] ?? 0) + 1;
    return out;
  }

  statsByStream(): Record<string, StreamBufferStats> {
    return Object.fromEntries([...this.stats].map(([k, v]) => [k, { ...v }]));
  }

  /** The buffered frames (a copy of the list, in slot order). */
  frames(): Frame[] {
    return this.items.map((it) => it.frame);
  }

  /** Offers a frame; it may be admitted (possibly evicting another) or rejected. */
  add(frame: Frame): AddResult {
    if ((this.o.width !== undefined && frame.width !== this.o.width) || (this.o.height !== undefined && frame.height !== this.o.height)) {
      throw new Error(`ReplayBuffer: frame of ${frame.streamId} is ${frame.width}x${frame.height}, buffer holds ${this.o.width}x${this.o.height}`);
    }
    const sid = frame.streamId;
    const st = this.stat(sid);
    st.seen++;
    const minRed = this.policy === 'min-redundancy';
    const feat = minRed ? this.feature(frame) : undefined;
    const sims = feat ? this.items.map((it) => dot(feat, it.feat!)) : [];

    if (this.items.length < this.capacity) {
      this.insertAt(this.items.length, frame, feat, sims, -1);
      return { added: true };
    }

    const own = st.inBuffer;
    let streams = own === 0 ? 1 : 0;
    for (const v of this.stats.values()) if (v.inBuffer > 0) streams++;
    const quota = Math.max(1, Math.floor(this.capacity / streams));
    let victimStream = sid;
    if (own < quota) {
      // Below its share: take the slot from the stream holding most.
      let max = -1;
      for (const [k, v] of this.stats) {
        if (k !== sid && v.inBuffer > max) {
          max = v.inBuffer;
          victimStream = k;
        }
      }
    }

    let victim: number; // slot to overwrite, or -1 to reject the newcomer
    if (this.policy === 'fifo') {
      victim = oldestSlot(this.items.length, (i) => this.items[i]!.seq, (i) => this.items[i]!.frame.streamId === victimStream);
    } else if (!minRed) {
      const slots = this.slotsOf(victimStream);
      if (victimStream !== sid) {
        victim = slots[this.rng.int(slots.length)]!;
      } else {
        // algorithm R within the stream: the n-th frame is kept with probability own / n
        const j = reservoirSlot(this.rng, st.seen, slots.length);
        victim = j < 0 ? -1 : slots[j]!;
      }
    } else {
      // Most redundant candidate: highest similarity to its nearest neighbour, the newcomer counted as a neighbour.
      let best = -Infinity;
      let bestSeq = Infinity;
      victim = -1;
      if (victimStream === sid) {
        best = sims.length ? Math.max(...sims) : -Infinity;
        bestSeq = this.seq; // the newcomer is the newest: an older item wins ties
      }
      for (let i = 0; i < this.items.length; i++) {
        const it = this.items[i]!;
        if (it.frame.streamId !== victimStream) continue;
        const r = Math.max(it.nnSim, sims[i]!);
        if (r > best || (r === best && it.seq < bestSeq)) {
          best = r;
          bestSeq = it.seq;
          victim = i;
        }
      }
    }

    if (victim < 0) {
      st.rejected++;
      return { added: false };
    }
    const old = this.items[victim]!;
    const ost = this.stat(old.frame.streamId);
    ost.evicted++;
    ost.inBuffer--;
    if (old.uses === 0) ost.evictedUnused++;
    this.insertAt(victim, frame, feat, sims, victim);
    return { added: true, evicted: old.frame };
  }

  /**
   * n frames drawn uniformly, without replacement while n <= size (then the rest with replacement).
   * Empty buffer: empty array.
   */
  sample(n: number, rng: Random = this.rng): Frame[] {
    const size = this.items.length;
    if (size === 0 || n <= 0) return [];
    const idx = Array.from({ length: size }, (_, i) => i);
    const k = Math.min(n, size);
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(size - i);
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
    }
    const picks = idx.slice(0, k);
    for (let i = k; i < n; i++) picks.push(rng.int(size));
    return picks.map((p) => {
      const it = this.items[p]!;
      it.uses++;
      return it.frame;
    });
  }

  /** Replaces the feature function (e.g. teacher embeddings) and recomputes every buffered feature. */
  setFeature(fn: FeatureFn): void {
    this.feature = fn;
    if (this.policy !== 'min-redundancy') return;
    for (const it of this.items) it.feat = fn(it.frame);
    for (let i = 0; i < this.items.length; i++) this.recomputeNeighbour(i);
  }

  clear(): void {
    this.items.length = 0;
    for (const st of this.stats.values()) st.inBuffer = 0;
  }

  /**
   * Forgets a stream: its frames leave the buffer (the others keep their slots' order) and its counters go. The
   * streams left share the capacity again. Returns how many frames were removed.
   */
  remove(streamId: string): number {
    const moved = new Map<number, number>(); // old slot -> new slot of the items that stay
    let n = 0;
    this.items.forEach((it, i) => {
      if (it.frame.streamId !== streamId) moved.set(i, n++);
    });
    const removed = this.items.length - n;
    this.stats.delete(streamId);
    if (removed === 0) return 0;
    const kept = this.items.filter((it) => it.frame.streamId !== streamId);
    this.items.length = 0;
    this.items.push(...kept);
    if (this.policy !== 'min-redundancy') return removed;
    for (let i = 0; i < this.items.length; i++) {
      const it = this.items[i]!;
      const to = moved.get(it.nnSlot);
      if (to === undefined) this.recomputeNeighbour(i); // its nearest neighbour was removed
      else it.nnSlot = to;
    }
    return removed;
  }

  private stat(sid: string): StreamBufferStats {
    let s = this.stats.get(sid);
    if (!s) this.stats.set(sid, (s = { seen: 0, added: 0, rejected: 0, evicted: 0, evictedUnused: 0, inBuffer: 0 }));
    return s;
  }

  private slotsOf(sid: string): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.items.length; i++) if (this.items[i]!.frame.streamId === sid) out.push(i);
    return out;
  }

  /** Puts the frame in `slot` (a new slot at the end, or `replaced`), keeping nearest neighbours up to date. */
  private insertAt(slot: number, frame: Frame, feat: Float32Array | undefined, sims: number[], replaced: number): void {
    const st = this.stat(frame.streamId);
    st.added++;
    st.inBuffer++;
    const item: Item = { frame, feat, nnSim: -Infinity, nnSlot: -1, uses: 0, seq: this.seq++ };
    this.items[slot] = item;
    if (!feat) return;
    for (let j = 0; j < this.items.length; j++) {
      if (j === slot) continue;
      const s = sims[j]!;
      if (s > item.nnSim) {
        item.nnSim = s;
        item.nnSlot = j;
      }
    }
    for (let j = 0; j < this.items.length; j++) {
      if (j === slot) continue;
      const other = this.items[j]!;
      if (replaced >= 0 && other.nnSlot === replaced) this.recomputeNeighbour(j); // lost its neighbour
      else if (sims[j]! > other.nnSim) {
        other.nnSim = sims[j]!;
        other.nnSlot = slot;
      }
    }
  }

  private recomputeNeighbour(i: number): void {
    const it = this.items[i]!;
    it.nnSim = -Infinity;
    it.nnSlot = -1;
    for (let j = 0; j < this.items.length; j++) {
      if (j === i) continue;
      const s = dot(it.feat!, this.items[j]!.feat!);
      if (s > it.nnSim) {
        it.nnSim = s;
        it.nnSlot = j;
      }
    }
  }
}
