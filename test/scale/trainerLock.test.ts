/**
 * One trainer at a time, through a KV key with a TTL on Debian's nats-server (127.0.0.1, temporary store): a second
 * trainer stands by while the first holds the lock, takes it at once when the first lets go, and after the TTL when
 * the first dies without letting go.
 */
import { Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { natsSchema } from '../../config/natsSchema';
import { BrokerConnection } from '../../src/scale/BrokerConnection';
import { TrainerLock } from '../../src/scale/TrainerLock';
import { silentLogger } from '../../src/util/Logger';
import { NatsServer } from '../helpers/natsServer';
import { requireTool } from '../helpers/requireTool';
import { until } from './scaleClient';

jest.setTimeout(60_000);

const TTL_SEC = 2;

requireTool('nats-server')('TrainerLock: one trainer at a time', () => {
  let broker: NatsServer;
  const conns: BrokerConnection[] = [];
  const subs: Subscription[] = [];
  const open = async () => {
    const c = await BrokerConnection.open(natsSchema.parse({ url: broker.url }), 'lock test', new Registry(), silentLogger);
    conns.push(c);
    return c;
  };
  /** A trainer's view of the lock: every held/lost it was told, with the time. */
  const follow = (lock: TrainerLock) => {
    const seen: { held: boolean; at: number }[] = [];
    const sub = lock.held$().subscribe((held) => seen.push({ held, at: Date.now() }));
    subs.push(sub);
    return { seen, sub, holds: () => seen.length > 0 && seen[seen.length - 1]!.held };
  };

  beforeAll(async () => {
    broker = await NatsServer.start();
  });
  afterAll(async () => {
    for (const s of subs) s.unsubscribe();
    for (const c of conns) await c.close().catch(() => undefined);
    await broker.dispose();
  });

  test('the second stands by while the first holds it, and takes it at once when the first lets go', async () => {
    const a = await TrainerLock.open(await open(), TTL_SEC, 'trainer-a', silentLogger);
    const b = await TrainerLock.open(await open(), TTL_SEC, 'trainer-b', silentLogger);
    const fa = follow(a);
    await until(fa.holds, 'a to hold the lock', 10_000);
    const fb = follow(b);
    // three renewal periods: a keeps it, b is never told it holds it
    await new Promise((r) => setTimeout(r, 3 * (TTL_SEC * 1000) / 3));
    expect(fb.seen).toEqual([]);
    expect(fa.seen.map((s) => s.held)).toEqual([true]);
    expect(await b.holderNow()).toBe('trainer-a');

    const letGo = Date.now();
    fa.sub.unsubscribe();
    await a.released();
    await until(fb.holds, 'b to take the lock', 10_000);
    // at its next attempt (every third of the TTL), not after the TTL
    expect(fb.seen[0]!.at - letGo).toBeLessThan((TTL_SEC * 1000) / 3 + 1000);
    expect(await a.holderNow()).toBe('trainer-b');
  });

  test('a holder that stalls past the TTL with nobody waiting keeps the lock (it takes the lapsed key again)', async () => {
    for (const s of subs.splice(0)) s.unsubscribe();
    const e = await TrainerLock.open(await open(), TTL_SEC, 'trainer-e', silentLogger);
    await until(async () => (await e.holderNow()) === null, 'the previous holder to let go', 10_000);
    const fe = follow(e);
    await until(fe.holds, 'e to hold the lock', 10_000);
    // the whole process stalls (a long synchronous computation): no renewal for 1.5 TTLs, the key expires
    const t0 = Date.now();
    while (Date.now() - t0 < 1.5 * TTL_SEC * 1000) {
      /* busy */
    }
    await until(async () => (await e.holderNow()) === 'trainer-e', 'e to hold the key again', 10_000);
    await new Promise((r) => setTimeout(r, TTL_SEC * 1000));
    expect(fe.seen.map((x) => x.held)).toEqual([true]);
    expect(await e.holderNow()).toBe('trainer-e');
    fe.sub.unsubscribe();
    await e.released();
  });

  test('a holder that dies without letting go loses the lock after the TTL, and the other takes it', async () => {
    const holderConn = await open();
    const c = await TrainerLock.open(holderConn, TTL_SEC, 'trainer-c', silentLogger);
    const d = await TrainerLock.open(await open(), TTL_SEC, 'trainer-d', silentLogger);
    // the lock from the previous test is released first
    for (const s of subs.splice(0)) s.unsubscribe();
    await until(async () => (await c.holderNow()) === null, 'the previous holder to let go', 10_000);
    const fc = follow(c);
    await until(fc.holds, 'c to hold the lock', 10_000);
    const fd = follow(d);
    // c's process "dies": its connection goes, nothing is released
    const died = Date.now();
    await holderConn.nc.close();
    await until(fd.holds, 'd to take the lock', 15_000);
    const waited = fd.seen[0]!.at - died;
    expect(waited).toBeGreaterThan(TTL_SEC * 1000 - 1000);
    expect(waited).toBeLessThan(TTL_SEC * 1000 + 4000);
    expect(await d.holderNow()).toBe('trainer-d');
  });
});
