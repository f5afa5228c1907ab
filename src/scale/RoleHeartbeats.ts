import { Kvm, type KV } from '@nats-io/kv';
import { catchError, EMPTY, exhaustMap, from, ignoreElements, interval, merge, Observable, startWith, tap } from 'rxjs';
import type { RoleName } from '../../config/natsSchema';
import type { Logger } from '../util/Logger';
import type { BrokerConnection } from './BrokerConnection';
import type { RoleHealth, RoleStatus } from './RoleContext';
import type { ScaleMetrics } from './ScaleMetrics';
import { TOPOLOGY } from './Topology';

export interface RoleBeat extends RoleStatus {
  role: RoleName;
  instance: string;
  t: number;
}

/**
 * Every role's health, through the broker: each process writes its roles' statuses to the KV bucket dino-roles
 * every heartbeat (entries expire after three), and the gateway reads them all, so its /healthz and /metrics show
 * the whole deployment (a role missing for three heartbeats is reported gone).
 */
export class RoleHeartbeats {
  private readonly seen = new Map<string, RoleBeat>();

  private constructor(
    private readonly kv: KV,
    private readonly everyMs: number,
    private readonly log: Logger,
  ) {}

  static async open(conn: BrokerConnection, heartbeatSec: number, log: Logger): Promise<RoleHeartbeats> {
    const kv = await new Kvm(conn.js).create(TOPOLOGY.rolesBucket, { history: 1, ttl: 3 * heartbeatSec * 1000 });
    return new RoleHeartbeats(kv, heartbeatSec * 1000, log);
  }

  /** Writes this process's roles' statuses now and every heartbeat (a failed write waits for the next). */
  beat$(roles: readonly RoleName[], instance: string, health: RoleHealth): Observable<never> {
    return interval(this.everyMs).pipe(
      startWith(0),
      exhaustMap(() =>
        from(
          Promise.all(
            roles.map((role) => {
              const s = health.get(role) ?? { ok: false, status: 'starting' };
              const beat: RoleBeat = { ...s, role, instance, t: Date.now() };
              return this.kv.put(`${role}.${instance}`, JSON.stringify(beat));
            }),
          ),
        ).pipe(catchError(() => EMPTY)),
      ),
      ignoreElements(),
    );
  }

  /** Follows every process's heartbeats into dino_scale_role_up{role,instance}. */
  watch$(metrics: ScaleMetrics): Observable<never> {
    const entries$ = new Observable<RoleBeat>((subscriber) => {
      let stop: (() => void) | null = null;
      void this.kv
        .watch({ key: '>' })
        .then(async (iter) => {
          stop = () => iter.stop();
          for await (const e of iter) {
            if (e.operation !== 'PUT') continue;
            try {
              subscriber.next(JSON.parse(e.string()) as RoleBeat);
            } catch {
              this.log.debug({ key: e.key }, 'heartbeat not JSON');
            }
          }
          subscriber.complete();
        })
        .catch((err: unknown) => subscriber.error(err));
      return () => stop?.();
    });
    const expire$ = interval(this.everyMs).pipe(
      tap(() => {
        for (const [k, b] of this.seen) {
          if (Date.now() - b.t > 3 * this.everyMs) {
            this.seen.delete(k);
            metrics.rolesUp.remove({ role: b.role, instance: b.instance });
          }
        }
      }),
    );
    return merge(
      entries$.pipe(
        tap((b) => {
          this.seen.set(`${b.role}.${b.instance}`, b);
          metrics.rolesUp.set({ role: b.role, instance: b.instance }, b.ok ? 1 : 0);
        }),
      ),
      expire$,
    ).pipe(ignoreElements());
  }

  /** The roles heard from within three heartbeats. */
  roles(): RoleBeat[] {
    return [...this.seen.values()].filter((b) => Date.now() - b.t <= 3 * this.everyMs);
  }
}
