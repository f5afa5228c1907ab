import { Observable, type ObservableInput, type OperatorFunction, from } from 'rxjs';

/**
 * Runs `work` on batches of the source's items, one batch at a time: an item that arrives while no batch runs
 * starts one at once (alone); items that arrive during a batch wait, and the next batch takes up to `maxBatch` of
 * them, oldest first. Every item is worked on exactly once and in arrival order; nothing is dropped (bound the
 * source, e.g. by a consumer's pending limit). Completes when the source has and every waiting item was worked on.
 */
export function batchWhileBusy<T, R>(maxBatch: number, work: (batch: T[]) => ObservableInput<R>): OperatorFunction<T, R> {
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`batchWhileBusy: maxBatch must be a positive integer, got ${maxBatch}`);
  return (source) =>
    new Observable<R>((subscriber) => {
      const waiting: T[] = [];
      let busy = false;
      let sourceDone = false;
      let current: { unsubscribe(): void } | null = null;

      const next = (): void => {
        if (busy) return;
        if (waiting.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        busy = true;
        const batch = waiting.splice(0, maxBatch);
        current = from(work(batch)).subscribe({
          next: (r) => subscriber.next(r),
          error: (e) => subscriber.error(e),
          complete: () => {
            busy = false;
            current = null;
            next();
          },
        });
      };

      const input = source.subscribe({
        next: (item) => {
          waiting.push(item);
          next();
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          next();
        },
      });
      return () => {
        input.unsubscribe();
        current?.unsubscribe();
      };
    });
}
