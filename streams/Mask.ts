import type { Frame } from './Frame';

/** A polygon in normalised coordinates: [x, y] pairs in [0, 1], x rightwards, y downwards, (0, 0) the top left. */
export type Polygon = ReadonlyArray<readonly [number, number]>;

/**
 * Which pixels of a width x height frame the polygons cover: 1 where a pixel's centre is inside any polygon
 * (even-odd rule within a polygon, union across polygons). Computed once per frame size.
 */
export function maskBitmap(polygons: readonly Polygon[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (const poly of polygons) {
    if (poly.length < 3) throw new Error(`a mask polygon needs at least 3 points, got ${poly.length}`);
    const xs = poly.map((p) => p[0] * width);
    const ys = poly.map((p) => p[1] * height);
    for (let row = 0; row < height; row++) {
      const y = row + 0.5;
      // scanline: crossings of the polygon's edges with this row, sorted; pixels between pairs are inside
      const cross: number[] = [];
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const yi = ys[i]!;
        const yj = ys[j]!;
        if (yi > y !== yj > y) cross.push(xs[i]! + ((y - yi) / (yj - yi)) * (xs[j]! - xs[i]!));
      }
      cross.sort((a, b) => a - b);
      for (let k = 0; k + 1 < cross.length; k += 2) {
        const from = Math.max(0, Math.ceil(cross[k]! - 0.5));
        const to = Math.min(width - 1, Math.ceil(cross[k + 1]! - 0.5) - 1);
        for (let col = from; col <= to; col++) out[row * width + col] = 1;
      }
    }
  }
  return out;
}

/** A copy of the frame with the masked pixels set to `fill` (the source's frame is left as it is). */
export function blankFrame(frame: Frame, bitmap: Uint8Array, fill = 0): Frame {
  const rgb = new Uint8Array(frame.rgb);
  for (let i = 0; i < bitmap.length; i++) if (bitmap[i]) rgb.fill(fill, i * 3, i * 3 + 3);
  return { ...frame, rgb };
}
