/**
 * Stream ids in least-recently-used order, bounded: a Map keeps insertion order, and touching an id re-inserts it
 * at the end, so the first key is always the least recently used.
 */
export class StreamLru {
  private readonly order = new Map<string, true>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('StreamLru: capacity must be an integer >= 1');
  }

  get size(): number {
    return this.order.size;
  }

  get full(): boolean {
    return this.order.size >= this.capacity;
  }

  has(id: string): boolean {
    return this.order.has(id);
  }

  /** Marks `id` as used now (adding it when new; the caller makes room first: see victim). */
  touch(id: string): void {
    this.order.delete(id);
    this.order.set(id, true);
  }

  delete(id: string): boolean {
    return this.order.delete(id);
  }

  /** The least recently used id that may be evicted, or undefined when none may. */
  victim(evictable: (id: string) => boolean = () => true): string | undefined {
    for (const id of this.order.keys()) if (evictable(id)) return id;
    return undefined;
  }

  /** Oldest first. */
  ids(): string[] {
    return [...this.order.keys()];
  }
}
