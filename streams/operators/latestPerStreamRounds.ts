import { EMPTY, exhaustMap, finalize, from, Observable, type ObservableInput, type OperatorFunction } from 'rxjs';

/**
 * Rounds over each stream's newest item, on a clock, one round at a time: at a tick of `clock$` when no round is
 * running, takes every stream's newest item that no earlier round took and runs `round` on them. A tick during a
 * round is skipped (exhaustMap), so a slow consumer never builds a backlog; a skipped tick takes nothing, so an
 * item is never lost to a busy moment, only superseded by a newer item of its own stream. A tick with nothing new
 * starts no round. Completes once the source has completed and the running round (if any) has finished.
 * Options: `forget$` names streams to drop (their newest item leaves, no round takes it); `select` chooses which of
 * the new items a round takes (the others wait for a later round, or are superseded), to bound a round's work; it
 * gets them ordered by stream, least recently taken first, so taking the first few serves every stream in turn.
 */
export interface LatestPerStreamRoundsOptions<T> {
  forget$?: Observable<string>;
  select?: (items: T[]) => T[];
}

export function latestPerStreamRounds<T extends { streamId: string }, R>(
  clock$: Observable<unknown>,
  round: (items: T[]) => ObservableInput<R>,
  opts: LatestPerStreamRoundsOptions<T> = {},
): OperatorFunction<T, R> {
  const { forget$, select } = opts;
  return (source) =>
    new Observable<R>((subscriber) => {
      const latest = new Map<string, T>(); // insertion order = order the streams first appeared
      const taken = new Map<string, T>();
      let sourceDone = false;
      let busy = false;

      const takeNew = (): T[] => {
        const fresh: T[] = [];
        for (const [id, item] of latest) if (!taken.has(id)) fresh.push(item); // never taken: first
        for (const [id, item] of taken) if (latest.get(id) !== item) fresh.push(latest.get(id)!);
        const items = select && fresh.length > 0 ? select(fresh) : fresh;
        for (const item of items) {
          taken.delete(item.streamId); // re-inserted last: taken's order is least recently taken first
          taken.set(item.streamId, item);
        }
        return items;
      };

      const forgetting = forget$?.subscribe((id) => {
        latest.delete(id);
        taken.delete(id);
      });
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
        forgetting?.unsubscribe();
        rounds.unsubscribe();
      };
    });
}
