import type { Random } from './Random';

/**
 * Which held item a newcomer replaces, for the two bounded stores that keep a stream's past (the replay buffer,
 * per stream; the novelty detector's bank). Both pick by these two rules so that they sample alike.
 */

/**
 * Vitter's algorithm R: the `seen`-th item of a stream (counting itself) replaces held item j, drawn uniformly
 * from [0, seen), when j < held; otherwise it is turned away (-1). Every item seen so far then has the same chance,
 * held / seen, to be held.
 */
export function reservoirSlot(rng: Random, seen: number, held: number): number {
  const j = rng.int(seen);
  return j < held ? j : -1;
}

/** FIFO: the index in [0, n) with the smallest sequence number among those `include` accepts (-1: none). */
export function oldestSlot(n: number, seqAt: (i: number) => number, include: (i: number) => boolean = () => true): number {
  let slot = -1;
  for (let i = 0; i < n; i++) if (include(i) && (slot < 0 || seqAt(i) < seqAt(slot))) slot = i;
  return slot;
}
