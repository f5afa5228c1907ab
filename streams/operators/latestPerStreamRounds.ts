import { EMPTY, exhaustMap, finalize, from, Observable, type ObservableInput, type OperatorFunction } from 'rxjs';

/**
 * Rounds over each stream's newest item, on a clock, one round at a time: at a tick of `clock$` when no round is
 * running, takes every stream's newest item that no earlier round took and runs `round` on them. A tick during a
 * round is skipped (exhaustMap), so a slow consumer never builds a backlog; a skipped tick takes nothing, so an
 * item is never lost to a busy moment, only superseded by a newer item of its own stream. A tick with nothing new
 * starts no round. Completes once the source has completed and the running round (if any) has finished.
 */
export function latestPerStreamRounds<T extends { streamId: string }, R>(
  clock$: Observable<unknown>,
  round: (items: T[]) => ObservableInput<R>,
): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const latest = new Map<string, T>(); // insertion order = order the streams first appeared
      const taken = new Map<string, T>();
      let sourceDone = false;
      let busy = false;

      const takeNew = (): T[] => {
        const items: T[] = [];
        for (const [id, item] of latest) {
          if (taken.get(id) === item) continue;
          taken.set(id, item);
          items.push(item);
        }
        return items;
      };

      const input = source.subscribe({
        next: (item) => latest.set(item.streamId, item),
        error: (e) => subscriber.error(e),
        complete: () => {
          sourceDone = true;
          if (!busy) subscriber.complete();
        },
      });
      const rounds = clock$
        .pipe(
          // exhaustMap calls this only when no round is running: the items are taken at the round's start
          exhaustMap(() => {
            const items = takeNew();
            if (items.length === 0) return EMPTY;
            busy = true;
            return from(round(items)).pipe(
              finalize(() => {
                busy = false;
                if (sourceDone) subscriber.complete();
              }),
            );
          }),
        )
        .subscribe({ next: (r) => subscriber.next(r), error: (e) => subscriber.error(e) });
      return () => {
        input.unsubscribe();
        rounds.unsubscribe();
      };
    });
}
