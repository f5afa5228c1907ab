import { map, MonoTypeOperatorFunction, defer, identity } from 'rxjs';
import type { Frame } from '../Frame';
import { blankFrame, maskBitmap, type Polygon } from '../Mask';

/**
 * Blanks the masked regions of every frame (a clock overlay, a tree in the wind), right after the source, so that
 * training, embedding and detection never see them. `polygons` is one stream's mask, or a function giving each
 * stream's (streams pushed through one ingest). Bitmaps are computed once per mask and frame size; frames are
 * copied, never changed in place; a frame without a mask passes through untouched.
 */
export function applyMask<T extends Frame>(polygons: readonly Polygon[] | ((streamId: string) => readonly Polygon[]), fill = 0): MonoTypeOperatorFunction<T> {
  if (Array.isArray(polygons) && polygons.length === 0) return identity;
  const maskOf = typeof polygons === 'function' ? polygons : () => polygons as readonly Polygon[];
  return (source) =>
    defer(() => {
      const bitmaps = new WeakMap<readonly Polygon[], Map<string, Uint8Array>>();
      return source.pipe(
        map((f) => {
          const mask = maskOf(f.streamId);
          if (mask.length === 0) return f;
          let bySize = bitmaps.get(mask);
          if (!bySize) bitmaps.set(mask, (bySize = new Map()));
          const key = `${f.width}x${f.height}`;
          let bitmap = bySize.get(key);
          if (!bitmap) bySize.set(key, (bitmap = maskBitmap(mask, f.width, f.height)));
          return blankFrame(f, bitmap, fill) as T;
        }),
      );
    });
}
