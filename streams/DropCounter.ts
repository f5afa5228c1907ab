import { BehaviorSubject, Observable } from 'rxjs';

/** Dropped-item counts per key (usually streamId). */
export type DropCounts = Readonly<Record<string, number>>;

/**
 * Counts items dropped by bounded queues, per key, and publishes the counts so dashboards and the training loop
 * can report them. Several operators may share one counter (e.g. a fair mixer and a drop-oldest queue).
 */
export class DropCounter {
  private readonly counts = new Map<string, number>();
  private sum = 0;
  private readonly subject = new BehaviorSubject<DropCounts>({});

  /** Emits a fresh snapshot after every change (synchronously, so marble tests see it at the drop's frame). */
  readonly changes$: Observable<DropCounts> = this.subject.asObservable();

  record(key: string, n = 1): void {
    if (n <= 0) return;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
    this.sum += n;
    this.subject.next(this.snapshot());
  }

  /** Forgets a key's count (the total keeps it: drops happened). */
  remove(key: string): void {
    if (this.counts.delete(key)) this.subject.next(this.snapshot());
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  get total(): number {
    return this.sum;
  }

  snapshot(): DropCounts {
    return Object.fromEntries(this.counts);
  }
}
