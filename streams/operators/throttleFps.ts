import { asyncScheduler, filter, finalize, MonoTypeOperatorFunction, Observable, SchedulerLike, defer } from 'rxjs';

export interface ThrottleFpsOptions<T> {
  /** Rate-limit each key separately (default: the frame's streamId). */
  key?: (v: T) => string;
  scheduler?: SchedulerLike;
  /** Keys to forget (streams the agent dropped): their pacing state goes, so memory follows the live keys. */
  forget$?: Observable<string>;
}

/**
 * At most `fps` items per second per key, dropping the rest; `fps` may depend on the key (a rate per stream). Paced by a due time that advances by one period
 * per item passed (not "period since the last one"), so a 15 fps camera throttled to 10 fps really yields 10,
 * not 7.5; after an idle gap at most one extra item slips through.
 */
export function throttleFps<T extends { streamId: string }>(fps: number | ((key: string) => number), opts: ThrottleFpsOptions<T> = {}): MonoTypeOperatorFunction<T> {
  const fpsOf = typeof fps === 'number' ? () => fps : fps;
  if (typeof fps === 'number' && !(fps > 0)) throw new Error('throttleFps: fps must be > 0');
  const periodOf = (k: string) => {
    const f = fpsOf(k);
    if (!(f > 0)) throw new Error(`throttleFps: fps of ${k} must be > 0, got ${f}`);
    return 1000 / f;
  };
  const key = opts.key ?? ((v: T) => v.streamId);
  const scheduler = opts.scheduler ?? asyncScheduler;
  return (source) =>
    defer(() => {
      const due = new Map<string, number>(); // per subscription
      const forgetting = opts.forget$?.subscribe((k) => due.delete(k));
      return source.pipe(
        finalize(() => forgetting?.unsubscribe()),
        filter((v) => {
          const k = key(v);
          const now = scheduler.now();
          const period = periodOf(k);
          const d = due.get(k);
          if (d !== undefined && now < d) return false;
          due.set(k, (d === undefined ? now : Math.max(d, now - period)) + period);
          return true;
        }),
      );
    });
}
