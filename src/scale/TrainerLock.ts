import { Kvm, type KV } from '@nats-io/kv';
import { Observable } from 'rxjs';
import type { Logger } from '../util/Logger';
import type { BrokerConnection } from './BrokerConnection';
import { TOPOLOGY } from './Topology';

/**
 * One trainer at a time: a KV key in a bucket whose entries expire `ttlSec` after their last write. The holder
 * renews it every third of that; a trainer that dies (or loses the broker for longer) lets it expire and another
 * takes it. Creating the key fails while it exists, and renewing names the revision it last wrote, so two
 * processes can never both believe they hold it for longer than one renewal period.
 */
export class TrainerLock {
  private releasing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly kv: KV,
    private readonly ttlSec: number,
    private readonly holder: string,
    private readonly log: Logger,
  ) {}

  static async open(conn: BrokerConnection, ttlSec: number, holder: string, log: Logger): Promise<TrainerLock> {
    const kv = await new Kvm(conn.js).create(TOPOLOGY.lockBucket, { history: 1, ttl: ttlSec * 1000 });
    return new TrainerLock(kv, ttlSec, holder, log);
  }

  /** Resolves once a lock given up by unsubscribing is released. */
  released(): Promise<void> {
    return this.releasing;
  }

  /** Who holds the lock now (null: nobody). */
  async holderNow(): Promise<string | null> {
    const e = await this.kv.get(TOPOLOGY.lockKey).catch(() => null);
    return e && e.operation === 'PUT' ? e.string() : null;
  }

  /**
   * true once this process holds the lock, false when it lost it (it keeps trying to take it back); unsubscribing
   * releases it, so a standby trainer takes over at once rather than after the TTL.
   */
  held$(): Observable<boolean> {
    return new Observable<boolean>((subscriber) => {
      let revision: number | null = null;
      let stopped = false;
      let announced: string | null = null;
      const tick = async () => {
        if (revision === null) {
          try {
            revision = await this.kv.create(TOPOLOGY.lockKey, this.holder);
            subscriber.next(true);
          } catch {
            const other = await this.holderNow();
            if (other !== announced) this.log.info({}, `trainer lock held by ${other ?? 'nobody (expiring)'}; standing by`);
            announced = other;
          }
          return;
        }
        try {
          revision = await this.kv.update(TOPOLOGY.lockKey, this.holder, revision);
        } catch (e) {
          // a renewal late by more than the TTL (a stalled process) finds the key expired: if nobody took it
          // meanwhile, this process still is the only trainer and simply takes it again
          try {
            revision = await this.kv.create(TOPOLOGY.lockKey, this.holder);
            this.log.warn({ err: (e as Error).message }, 'trainer lock renewed late (this process stalled for longer than nats.lockTtlSec); nobody had taken it');
          } catch {
            revision = null;
            this.log.warn({ err: (e as Error).message, holder: await this.holderNow() }, 'trainer lock lost; training pauses until it is taken again');
            subscriber.next(false);
          }
        }
      };
      let running = Promise.resolve();
      const timer = setInterval(() => {
        running = running.then(() => (stopped ? undefined : tick()));
      }, (this.ttlSec * 1000) / 3);
      running = running.then(tick);
      return () => {
        stopped = true;
        clearInterval(timer);
        this.releasing = running.then(async () => {
          if (revision !== null) await this.kv.delete(TOPOLOGY.lockKey, { previousSeq: revision }).catch(() => undefined);
        });
      };
    });
  }
}
