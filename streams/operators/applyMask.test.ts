import { of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Frame } from '../Frame';
import { maskBitmap } from '../Mask';
import { applyMask } from './applyMask';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

/** A 4x2 frame whose pixel i has the value 10 * (i + 1) in every channel. */
function frame(streamId: string, index: number): Frame {
  const rgb = new Uint8Array(4 * 2 * 3);
  for (let i = 0; i < 8; i++) rgb.fill(10 * (i + 1), i * 3, i * 3 + 3);
  return { streamId, index, t: index * 100, width: 4, height: 2, rgb };
}

/** The same frame with the left half (columns 0 and 1 of both rows) blanked. */
function leftBlanked(streamId: string, index: number): Frame {
  const f = frame(streamId, index);
  const rgb = new Uint8Array(f.rgb);
  for (const i of [0, 1, 4, 5]) rgb.fill(0, i * 3, i * 3 + 3);
  return { ...f, rgb };
}

const LEFT_HALF = [[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]] as const;

describe('applyMask', () => {
  it('blanks the masked pixels of every frame, keeps the timing and leaves the source frames as they were', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const v = { a: frame('cam', 0), b: frame('cam', 1), c: frame('cam', 2) };
      const src = cold('a 99ms b 99ms c|', v);
      const out = { a: leftBlanked('cam', 0), b: leftBlanked('cam', 1), c: leftBlanked('cam', 2) };
      expectObservable(src.pipe(applyMask(LEFT_HALF))).toBe('a 99ms b 99ms c|', out);
    });
    const f = frame('cam', 0);
    newScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a|', { a: f }).pipe(applyMask(LEFT_HALF))).toBe('a|', { a: leftBlanked('cam', 0) });
    });
    expect(f).toEqual(frame('cam', 0));
  });

  it('takes each stream its own mask when given a function (streams pushed through one ingest)', () => {
    const masks: Record<string, readonly (readonly [number, number])[][]> = { cam: LEFT_HALF as never, other: [] };
    const b = frame('other', 1);
    newScheduler().run(({ cold, expectObservable }) => {
      const src = cold('a 9ms b|', { a: frame('cam', 0), b });
      expectObservable(src.pipe(applyMask((id) => masks[id] ?? []))).toBe('a 9ms b|', { a: leftBlanked('cam', 0), b });
    });
  });

  it('passes frames through untouched (the same objects) when there is no polygon', () => {
    const a = frame('cam', 0);
    newScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a 5ms a|', { a }).pipe(applyMask([]))).toBe('a 5ms a|', { a });
    });
    const seen: Frame[] = [];
    of(a).pipe(applyMask([])).subscribe((x) => seen.push(x));
    expect(seen[0]).toBe(a);
  });
});

describe('maskBitmap', () => {
  it('covers the pixels whose centres are inside, in normalised coordinates at any frame size', () => {
    expect(Array.from(maskBitmap(LEFT_HALF, 4, 2))).toEqual([1, 1, 0, 0, 1, 1, 0, 0]);
    expect(maskBitmap([[[0, 0], [1, 0], [1, 1], [0, 1]]], 7, 5).every((v) => v === 1)).toBe(true);
    // a triangle over the top-left half of an 8x8 frame: pixel (col, row) is inside when col + row < 7 (centres below the diagonal)
    const tri = maskBitmap([[[0, 0], [1, 0], [0, 1]]], 8, 8);
    for (let row = 0; row < 8; row++) for (let col = 0; col < 8; col++) expect([col, row, tri[row * 8 + col]]).toEqual([col, row, col + row < 7 ? 1 : 0]);
  });

  it('covers about the polygon area at a large size, unions polygons, and refuses a polygon of two points', () => {
    const big = maskBitmap([[[0.1, 0.1], [0.6, 0.2], [0.3, 0.7]]], 400, 400);
    const area = 0.5 * Math.abs(0.1 * (0.2 - 0.7) + 0.6 * (0.7 - 0.1) + 0.3 * (0.1 - 0.2)); // shoelace: 0.135
    expect(big.reduce((s, v) => s + v, 0) / (400 * 400)).toBeCloseTo(area, 2);
    const two = maskBitmap([[[0, 0], [0.25, 0], [0.25, 1], [0, 1]], [[0.75, 0], [1, 0], [1, 1], [0.75, 1]]], 4, 1);
    expect(Array.from(two)).toEqual([1, 0, 0, 1]);
    expect(() => maskBitmap([[[0, 0], [1, 1]]], 4, 4)).toThrow(/at least 3 points, got 2/);
  });
});
