/**
 * Runs the jobs of many clients `concurrency` at a time, with a bounded queue per client (drop-oldest). When a slot
 * frees, the next job comes from the client with the lowest rank (ties: the one served least recently; never one
 * whose previous job still runs, so each client's jobs finish in order), so
 * clients cannot take turns from each other by sending more, and a client ranked worse (for ingest: one whose
 * messages keep failing) waits while better ones have work.
 */
export class FairScheduler<C> {
  private readonly queues = new Map<C, { jobs: { run: () => Promise<void>; bytes: number }[]; bytes: number; servedAt: number; busy: boolean }>();
  private running = 0;
  private runningLow = 0;
  private turn = 0;

  /**
   * Clients ranked at or above `lowRank` share concurrency - 1 slots: one slot stays free for the better ones, so
   * their jobs never wait behind a full house of bad ones.
   */
  constructor(
    readonly concurrency: number,
    private readonly rank: (client: C) => number,
    private readonly lowRank = Infinity,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('FairScheduler: concurrency must be an integer >= 1');
  }

  /** Jobs waiting, all clients together. */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.jobs.length;
    return n;
  }

  /**
   * Queues a job weighing `bytes`; while this client has more than `limit.jobs` jobs or `limit.bytes` bytes waiting,
   * its oldest waiting job is dropped (onDrop is told each time).
   */
  enqueue(client: C, run: () => Promise<void>, bytes: number, limit: { jobs: number; bytes: number }, onDrop?: () => void): void {
    let q = this.queues.get(client);
    if (!q) this.queues.set(client, (q = { jobs: [], bytes: 0, servedAt: -1, busy: false }));
    q.jobs.push({ run, bytes });
    q.bytes += bytes;
    while (q.jobs.length > 1 && (q.jobs.length > limit.jobs || q.bytes > limit.bytes)) {
      q.bytes -= q.jobs.shift()!.bytes;
      onDrop?.();
    }
    this.kick();
  }

  /** Forgets a client and its waiting jobs (a job already running finishes). Call it when the client leaves. */
  cancel(client: C): void {
    this.queues.delete(client);
  }

  private kick(): void {
    while (this.running < this.concurrency) {
      let best: C | undefined;
      let bestRank = Infinity;
      let bestServed = Infinity;
      const lowAllowed = this.runningLow < Math.max(1, this.concurrency - 1);
      for (const [c, q] of this.queues) {
        if (q.jobs.length === 0 || q.busy) continue; // one job per client at a time: its results stay in order
        const r = this.rank(c);
        if (r >= this.lowRank && !lowAllowed) continue;
        if (r < bestRank || (r === bestRank && q.servedAt < bestServed)) {
          best = c;
          bestRank = r;
          bestServed = q.servedAt;
        }
      }
      if (best === undefined) return;
      const q = this.queues.get(best)!;
      const job = q.jobs.shift()!;
      q.bytes -= job.bytes;
      q.servedAt = this.turn++;
      q.busy = true;
      const low = bestRank >= this.lowRank;
      if (low) this.runningLow++;
      this.running++;
      void job
        .run()
        .catch(() => undefined)
        .finally(() => {
          q.busy = false;
          if (low) this.runningLow--;
          this.running--;
          this.kick();
        });
    }
  }
}
