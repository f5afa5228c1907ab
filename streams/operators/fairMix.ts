import { asyncScheduler, MonoTypeOperatorFunction, Observable, SchedulerLike, Subscription } from 'rxjs';
import { DropCounter } from '../DropCounter';

export interface FairMixOptions<T> {
  /** One round every periodMs: each stream with something queued emits one item. */
  periodMs: number;
  /** Items queued per stream between rounds (default 1 = always the freshest); overflow drops the oldest. */
  capacityPerStream?: number;
  counter?: DropCounter;
  key?: (v: T) => string;
  scheduler?: SchedulerLike;
  /** Keys to forget (streams the agent dropped): their queue and what waits in it go. */
  forget$?: Observable<string>;
}

/**
 * Fair mixing of merged streams: a 30 fps camera and a 1 fps phone merged naively give 30:1; through fairMix every
 * stream gets at most one item per round, so all streams with data get equal shares and none can starve the others.
 * The stream that leads each round rotates. Rounds run only while something is queued (no idle timer); the first
 * round starts periodMs after an item arrives at an idle mixer. Completes when the source has completed and the
 * queues are empty.
 */
export function fairMix<T extends { streamId: string }>(opts: FairMixOptions<T>): MonoTypeOperatorFunction<T> {
  if (!(opts.periodMs > 0)) throw new Error('fairMix: periodMs must be > 0');
  const cap = opts.capacityPerStream ?? 1;
  if (!Number.isInteger(cap) || cap < 1) throw new Error('fairMix: capacityPerStream must be an integer >= 1');
  const key = opts.key ?? ((v: T) => v.streamId);
  const scheduler = opts.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<T>((subscriber) => {
      const queues = new Map<string, T[]>(); // insertion order = order streams first appeared
      let lead = 0;
      let round: Subscription | undefined;
      let sourceDone = false;
      const queued = () => [...queues.values()].some((q) => q.length > 0);

      const runRound = () => {
        round = undefined;
        const keys = [...queues.keys()];
        const n = keys.length;
        for (let i = 0; i < n && !subscriber.closed; i++) {
          const q = queues.get(keys[(lead + i) % n]!)!;
          if (q.length > 0) subscriber.next(q.shift()!);
        }
        lead = n > 0 ? (lead + 1) % n : 0;
        if (queued()) round = scheduler.schedule(runRound, opts.periodMs);
        else if (sourceDone) subscriber.complete();
      };

      const forgetting = opts.forget$?.subscribe((k) => queues.delete(k));
      const sub = source.subscribe({
        next: (v) => {
          const k = key(v);
          let q = queues.get(k);
          if (!q) queues.set(k, (q = []));
          q.push(v);
          if (q.length > cap) {
            q.shift();
            opts.counter?.record(k);
          }
          if (!round) round = scheduler.schedule(runRound, opts.periodMs);
        },
        error: (e) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (!round && !queued()) subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        forgetting?.unsubscribe();
        round?.unsubscribe();
      };
    });
}
