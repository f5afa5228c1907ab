import { Frame } from '../../streams/Frame';
import { ReplayBuffer, ReplayPolicy } from '../../streams/ReplayBuffer';
import { thumbnailFeature, dot } from '../../streams/thumbnailFeature';
import { Random } from '../../src/util/Random';

const S = 32;

/** A random blocky picture (8x8 blocks of 4x4 px): distinct pictures have near-orthogonal thumbnails. */
function picture(rng: Random): Uint8Array {
  const rgb = new Uint8Array(S * S * 3);
  const blocks = Array.from({ length: 64 }, () => rng.int(256));
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const v = blocks[(y >> 2) * 8 + (x >> 2)]!;
    rgb.set([v, (v * 3) & 255, 255 - v], (y * S + x) * 3);
  }
  return rgb;
}

function jitter(base: Uint8Array, rng: Random, amp = 3): Uint8Array {
  return base.map((v) => Math.max(0, Math.min(255, v + rng.int(2 * amp + 1) - amp)));
}

/** k jittered copies made once: tests cycle through them instead of jittering every frame (jest runs slow loops). */
function variants(base: Uint8Array, rng: Random, amp: number, k = 8): () => Uint8Array {
  const vs = Array.from({ length: k }, () => jitter(base, rng, amp));
  let i = 0;
  return () => vs[i++ % k]!;
}

const frame = (streamId: string, index: number, rgb: Uint8Array): Frame => ({ streamId, t: index, index, width: S, height: S, rgb });
const flat = (streamId: string, index: number) => frame(streamId, index, new Uint8Array(S * S * 3));

describe('ReplayBuffer', () => {
  it.each<ReplayPolicy>(['fifo', 'reservoir', 'min-redundancy'])('%s: never exceeds capacity, counts add up', (policy) => {
    const rng = new Random(1);
    const buf = new ReplayBuffer({ capacity: 25, policy, width: S, height: S, rng: new Random(2) });
    const next = ['a', 'b', 'c'].map(() => variants(picture(rng), rng, 40));
    for (let i = 0; i < 600; i++) {
      const s = rng.int(10) < 7 ? 0 : rng.int(3); // stream a dominates
      buf.add(frame('abc'[s]!, i, next[s]!()));
      expect(buf.size).toBeLessThanOrEqual(25);
    }
    expect(buf.size).toBe(25);
    const st = buf.statsByStream();
    const counts = buf.countsByStream();
    for (const [k, v] of Object.entries(st)) {
      expect(v.inBuffer).toBe(counts[k] ?? 0);
      expect(v.added - v.evicted).toBe(v.inBuffer);
      expect(v.added + v.rejected).toBe(v.seen);
    }
    expect(Object.values(st).reduce((a, v) => a + v.seen, 0)).toBe(600);
  });

  it('reservoir: every frame of a stream has about the same chance to be kept (capacity/n)', () => {
    const n = 500;
    const cap = 50;
    const trials = 400;
    const kept = new Array<number>(n).fill(0);
    const rng = new Random(11);
    for (let t = 0; t < trials; t++) {
      const buf = new ReplayBuffer({ capacity: cap, policy: 'reservoir', rng });
      for (let i = 0; i < n; i++) buf.add(flat('a', i));
      for (const f of buf.frames()) kept[f.index]!++;
    }
    // inclusion per block of 50 consecutive frames: expected 0.1 each (early frames not favoured, late not either)
    for (let b = 0; b < n; b += 50) {
      const p = kept.slice(b, b + 50).reduce((a, v) => a + v, 0) / (50 * trials);
      expect(p).toBeGreaterThan(0.085);
      expect(p).toBeLessThan(0.115);
    }
  });

  it('fifo keeps each stream\'s most recent frames, in a fair share', () => {
    const buf = new ReplayBuffer({ capacity: 10, policy: 'fifo' });
    for (let i = 0; i < 37; i++) expect(buf.add(flat('a', i))).toEqual(i < 10 ? { added: true } : { added: true, evicted: expect.objectContaining({ index: i - 10 }) });
    expect(buf.frames().map((f) => f.index).sort((x, y) => x - y)).toEqual([27, 28, 29, 30, 31, 32, 33, 34, 35, 36]);
    // a second stream takes a's oldest frames until each holds its half
    for (let i = 0; i < 8; i++) buf.add(flat('b', i));
    const byStream = (sid: string) => buf.frames().filter((f) => f.streamId === sid).map((f) => f.index).sort((x, y) => x - y);
    expect(byStream('a')).toEqual([32, 33, 34, 35, 36]);
    expect(byStream('b')).toEqual([3, 4, 5, 6, 7]);
  });

  it('over a stream cycling through a set of images, fifo draws every image about equally often; reservoir does not', () => {
    // 200 images reshuffled each pass, capacity 160, a batch of 8 drawn per 8 new frames: 40 passes' worth
    const draws = (policy: ReplayPolicy) => {
      const rng = new Random(21);
      const buf = new ReplayBuffer({ capacity: 160, policy, rng: new Random(22) });
      const count = new Array<number>(200).fill(0);
      let order: number[] = [];
      let n = 0;
      const push = () => {
        if (!order.length) order = rng.shuffle(Array.from({ length: 200 }, (_, i) => i));
        buf.add(flat('folder', order.pop()!));
        n++;
      };
      while (n < 160) push();
      for (let step = 0; step < 1000; step++) {
        for (const f of buf.sample(8, rng)) count[f.index]!++;
        for (let k = 0; k < 8; k++) push();
      }
      return count.sort((x, y) => x - y);
    };
    const fifo = draws('fifo');
    const reservoir = draws('reservoir');
    // 8000 draws over 200 images: 40 each on average
    expect(fifo[0]).toBeGreaterThan(15);
    expect(fifo[199]).toBeLessThan(65);
    // the reservoir settles on what it holds: some images are hardly drawn, others over twice as often (seeded: 0, 141)
    expect(reservoir[0]).toBeLessThan(5);
    expect(reservoir[199]).toBeGreaterThan(100);
  });

  it('min-redundancy keeps the rare distinct frames among 100 near-identical ones (reservoir does not)', () => {
    const rng = new Random(5);
    const base = picture(rng);
    const stream: Frame[] = [];
    for (let i = 0; i < 100; i++) stream.push(frame('cam', i, jitter(base, rng)));
    const distinct = Array.from({ length: 10 }, (_, k) => frame('cam', 1000 + k, picture(rng)));
    for (const d of distinct) stream.splice(rng.int(stream.length + 1), 0, d);

    // sanity: the feature sees near-duplicates as near-identical and distinct pictures as different
    const sim = dot(thumbnailFeature(stream.find((f) => f.index < 1000)!), thumbnailFeature(frame('cam', 0, jitter(base, rng))));
    expect(sim).toBeGreaterThan(0.99);

    const minRed = new ReplayBuffer({ capacity: 20, policy: 'min-redundancy' });
    const reservoir = new ReplayBuffer({ capacity: 20, policy: 'reservoir', rng: new Random(3) });
    for (const f of stream) {
      minRed.add(f);
      reservoir.add(f);
    }
    const distinctKept = (b: ReplayBuffer) => b.frames().filter((f) => f.index >= 1000).length;
    expect(distinctKept(minRed)).toBe(10);
    expect(minRed.size).toBe(20);
    expect(distinctKept(reservoir)).toBeLessThan(6); // ~20*10/110 expected
  });

  it('is fair across streams: a flooding camera cannot hold the whole buffer, a new camera gets room at once', () => {
    const rng = new Random(8);
    for (const policy of ['fifo', 'reservoir', 'min-redundancy'] as const) {
      const buf = new ReplayBuffer({ capacity: 40, policy, rng: new Random(9) });
      const pic = { a: variants(picture(rng), rng, 30), b: variants(picture(rng), rng, 30), c: variants(picture(rng), rng, 30) };
      for (let i = 0; i < 1000; i++) buf.add(frame('a', i, pic.a()));
      expect(buf.countsByStream()).toEqual({ a: 40 });
      // b's first 5 frames all get in, taken from a
      for (let i = 0; i < 5; i++) expect(buf.add(frame('b', i, pic.b())).added).toBe(true);
      expect(buf.countsByStream()).toEqual({ a: 35, b: 5 });
      // both keep sending (a ten times faster): the split converges to half each
      for (let i = 0; i < 2000; i++) {
        buf.add(frame('a', 1000 + i, pic.a()));
        if (i % 10 === 0) buf.add(frame('b', 5 + i, pic.b()));
      }
      expect(buf.countsByStream()).toEqual({ a: 20, b: 20 });
      // a third camera joins: quota 13 each
      for (let i = 0; i < 30; i++) buf.add(frame('c', i, pic.c()));
      const c = buf.countsByStream();
      expect(c.c).toBe(13);
      expect(c.a! + c.b! + c.c!).toBe(40);
      expect(Math.max(c.a!, c.b!)).toBeLessThanOrEqual(14);
    }
  });

  it.each<ReplayPolicy>(['fifo', 'reservoir', 'min-redundancy'])(
    '%s: remove(stream) takes its frames and counters out; nearest neighbours stay exact; the others get its share back',
    (policy) => {
      const rng = new Random(11);
      const buf = new ReplayBuffer({ capacity: 30, policy, width: S, height: S, rng: new Random(3) });
      const pic = { real: variants(picture(rng), rng, 30), fake: variants(picture(rng), rng, 30), other: variants(picture(rng), rng, 30) };
      for (let i = 0; i < 60; i++) buf.add(frame('real', i, pic.real()));
      for (let i = 0; i < 10; i++) buf.add(frame('fake', i, pic.fake()));
      for (let i = 0; i < 10; i++) buf.add(frame('other', i, pic.other()));
      expect(buf.countsByStream()).toEqual({ real: 10, fake: 10, other: 10 });
      expect(buf.remove('fake')).toBe(10);
      expect(buf.remove('fake')).toBe(0);
      expect(buf.countsByStream()).toEqual({ real: 10, other: 10 });
      expect(Object.keys(buf.statsByStream()).sort()).toEqual(['other', 'real']);
      expect(buf.frames().every((f) => f.streamId !== 'fake')).toBe(true);
      if (policy === 'min-redundancy') {
        // every item's nearest neighbour equals a brute-force search over what is left
        const items = (buf as unknown as { items: { frame: Frame; nnSim: number; nnSlot: number }[] }).items;
        const feats = items.map((it) => thumbnailFeature(it.frame));
        items.forEach((it, i) => {
          let best = -Infinity;
          feats.forEach((f, j) => {
            if (j !== i) best = Math.max(best, dot(feats[i]!, f));
          });
          expect(it.nnSim).toBeCloseTo(best, 6);
          expect(dot(feats[i]!, feats[it.nnSlot]!)).toBeCloseTo(best, 6);
        });
      }
      // the freed slots go to the streams left (new frames are admitted, not evicting each other)
      for (let i = 0; i < 10; i++) buf.add(frame('real', 100 + i, pic.real()));
      expect(buf.countsByStream()).toEqual({ real: 20, other: 10 });
      for (let i = 0; i < 40; i++) buf.add(frame('real', 200 + i, pic.real()));
      expect(buf.countsByStream()).toEqual({ real: 20, other: 10 }); // at its quota a stream competes only with itself
      for (let i = 0; i < 10; i++) buf.add(frame('other', 100 + i, pic.other()));
      expect(buf.countsByStream()).toEqual({ real: 15, other: 15 }); // below it, other takes from the largest
    },
  );

  it('sample: without replacement when possible, seeded, counts uses', () => {
    const buf = new ReplayBuffer({ capacity: 10, policy: 'reservoir', rng: new Random(1) });
    expect(buf.sample(4, new Random(1))).toEqual([]);
    for (let i = 0; i < 10; i++) buf.add(flat('a', i));
    const s1 = buf.sample(6, new Random(42));
    expect(new Set(s1.map((f) => f.index)).size).toBe(6);
    expect(buf.sample(6, new Random(42)).map((f) => f.index)).toEqual(s1.map((f) => f.index));
    const all = buf.sample(15, new Random(7));
    expect(all.length).toBe(15);
    expect(new Set(all.slice(0, 10).map((f) => f.index)).size).toBe(10); // every item once, then repeats
    // evicting frames that were never drawn is reported as such
    const unused = new ReplayBuffer({ capacity: 2, policy: 'reservoir', rng: new Random(1) });
    unused.add(flat('a', 0));
    unused.add(flat('b', 0));
    unused.sample(2);
    unused.add(flat('c', 0)); // evicts a or b, both used
    expect(Object.values(unused.statsByStream()).reduce((a, s) => a + s.evictedUnused, 0)).toBe(0);
  });

  it('rejects frames of another size than configured; setFeature swaps the descriptor', () => {
    const buf = new ReplayBuffer({ capacity: 4, width: S, height: S });
    expect(() => buf.add({ ...flat('a', 0), width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3) })).toThrow(/16x16.*32x32/);
    const rng = new Random(3);
    for (let i = 0; i < 4; i++) buf.add(frame('a', i, picture(rng)));
    // a descriptor that calls frames 0 and 1 identical makes one of them the next eviction
    buf.setFeature((f) => (f.index <= 1 ? Float32Array.of(1, 0) : f.index === 2 ? Float32Array.of(0, 1) : Float32Array.of(-1, 0)));
    const r = buf.add(frame('a', 9, new Uint8Array(S * S * 3)));
    expect(r.added).toBe(true);
    expect([0, 1]).toContain(r.evicted!.index);
  });
});
