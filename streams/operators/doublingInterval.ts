import { asyncScheduler, expand, map, Observable, of, type SchedulerLike, skip, timer } from 'rxjs';

/**
 * Emits 0, 1, 2, ... first after `firstMs`, then after gaps that double up to `maxMs` and stay there: frequent at
 * first, when what it paces changes fastest (a teacher early in training), then settling to its slow rate.
 */
export function doublingInterval(firstMs: number, maxMs: number, scheduler: SchedulerLike = asyncScheduler): Observable<number> {
  if (!(firstMs > 0) || !(maxMs >= firstMs)) throw new Error('doublingInterval: need 0 < firstMs <= maxMs');
  // each value is the gap before the next emission; the seed value (firstMs) is not an emission
  return of(firstMs).pipe(
    expand((gap) => timer(gap, scheduler).pipe(map(() => Math.min(2 * gap, maxMs)))),
    skip(1),
    map((_, i) => i),
  );
}
