import { defer, filter, MonoTypeOperatorFunction } from 'rxjs';

/**
 * Keeps every n-th item per key (the 1st, the (n+1)-th, ...): a deterministic way to de-correlate consecutive
 * video frames without looking at the clock (unlike throttleFps, it does not depend on arrival times).
 */
export function sampleEvery<T extends { streamId: string }>(n: number, key: (v: T) => string = (v) => v.streamId): MonoTypeOperatorFunction<T> {
  if (!Number.isInteger(n) || n < 1) throw new Error('sampleEvery: n must be an integer >= 1');
  return (source) =>
    defer(() => {
      const seen = new Map<string, number>();
      return source.pipe(
        filter((v) => {
          const k = key(v);
          const i = seen.get(k) ?? 0;
          seen.set(k, i + 1);
          return i % n === 0;
        }),
      );
    });
}
