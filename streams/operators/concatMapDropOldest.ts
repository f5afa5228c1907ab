import { from, Observable, ObservableInput, OperatorFunction, Subscription } from 'rxjs';
import { DropCounter } from '../DropCounter';

export interface DropOldestOptions<T> {
  /** Items waiting while the consumer is busy (0 = drop everything that arrives while busy). */
  capacity: number;
  /** Counts dropped items per key; share one with other stages to report drops per stream. */
  counter?: DropCounter;
  /** Key for counting and for fairness (default: the item's streamId, else 'default'). */
  key?: (v: T) => string;
}

const defaultKey = (v: unknown): string =>
  typeof v === 'object' && v !== null && typeof (v as { streamId?: unknown }).streamId === 'string'
    ? (v as { streamId: string }).streamId
    : 'default';

/**
 * concatMap with a bounded waiting room: `project` (the slow consumer, e.g. an async embedding or decode) runs for
 * one item at a time; items arriving meanwhile wait in a queue of at most `capacity`. When the queue is full the
 * oldest item *of the key holding most queued items* is dropped and counted, so a fast producer never grows
 * memory and a flooding stream only evicts its own frames (with one key this is plain drop-oldest).
 */
export function concatMapDropOldest<T, R>(
  project: (v: T, index: number) => ObservableInput<R>,
  opts: DropOldestOptions<T>,
): OperatorFunction<T, R> {
  const capacity = opts.capacity;
  if (!Number.isInteger(capacity) || capacity < 0) throw new Error('concatMapDropOldest: capacity must be an integer >= 0');
  const key = opts.key ?? defaultKey;
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[] = [];
      let active: Subscription | undefined;
      let outerDone = false;
      let index = 0;

      const dropOne = () => {
        // Victim: oldest item of the key with the most queued items (ties: the key of the oldest item).
        const counts = new Map<string, number>();
        let maxKey = key(queue[0]!);
        for (const v of queue) {
          const k = key(v);
          const c = (counts.get(k) ?? 0) + 1;
          counts.set(k, c);
          if (c > (counts.get(maxKey) ?? 0)) maxKey = k;
        }
        const i = queue.findIndex((v) => key(v) === maxKey);
        const [dropped] = queue.splice(i, 1);
        opts.counter?.record(key(dropped!));
      };

      let draining = false;
      const drain = () => {
        if (draining) return; // re-entered from a synchronous emission: the loop below picks the item up
        draining = true;
        try {
          while (!active && queue.length > 0 && !subscriber.closed) {
            const v = queue.shift()!;
            let sync = true;
            let doneSync = false;
            const sub = from(project(v, index++)).subscribe({
              next: (r) => subscriber.next(r),
              error: (e) => subscriber.error(e),
              complete: () => {
                if (sync) {
                  doneSync = true; // synchronous inner: keep looping instead of recursing
                  return;
                }
                active = undefined;
                drain();
              },
            });
            sync = false;
            if (!doneSync) active = sub;
          }
        } finally {
          draining = false;
        }
        if (!active && queue.length === 0 && outerDone && !subscriber.closed) subscriber.complete();
      };

      const outer = source.subscribe({
        next: (v) => {
          queue.push(v);
          if (active) {
            if (queue.length > capacity) dropOne();
          } else {
            drain();
          }
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          outerDone = true;
          drain();
        },
      });

      return () => {
        outer.unsubscribe();
        active?.unsubscribe();
        queue.length = 0;
      };
    });
}
