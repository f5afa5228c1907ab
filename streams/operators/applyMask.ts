import { map, MonoTypeOperatorFunction, defer, identity } from 'rxjs';
import type { Frame } from '../Frame';
import { blankFrame, maskBitmap, type Polygon } from '../Mask';

/**
 * Blanks the masked regions of every frame (a clock overlay, a tree in the wind), right after the source, so that
 * training, embedding and detection never see them. The bitmap is computed once per frame size; frames are copied,
 * never changed in place. No polygons: frames pass through untouched.
 */
export function applyMask<T extends Frame>(polygons: readonly Polygon[], fill = 0): MonoTypeOperatorFunction<T> {
  if (polygons.length === 0) return identity;
  return (source) =>
    defer(() => {
      const bitmaps = new Map<string, Uint8Array>();
      return source.pipe(
        map((f) => {
          const key = `${f.width}x${f.height}`;
          let bitmap = bitmaps.get(key);
          if (!bitmap) bitmaps.set(key, (bitmap = maskBitmap(polygons, f.width, f.height)));
          return blankFrame(f, bitmap, fill) as T;
        }),
      );
    });
}
