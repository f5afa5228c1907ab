/**
 * The event store's and the notifiers' counters on /metrics, read by value after known events: a real EventStore
 * (a write that fails when its directory is gone), real webhooks (a receiver that accepts, a port nobody listens
 * on) and MQTT against a real mosquitto.
 */
import * as fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import { configSchema } from '../../config/schema';
import { Notifications } from '../../src/agent/Notifications';
import { PublisherMetrics } from '../../src/agent/PublisherMetrics';
import { EventStore } from '../../src/events/EventStore';
import type { AgentEvent } from '../../src/types/messages';
import { silentLogger } from '../../src/util/Logger';
import type { Frame } from '../../streams/Frame';
import { freePort } from '../helpers/freePort';
import { requireTool } from '../helpers/requireTool';
import { MosquittoBroker } from '../fixtures/mosquittoBroker';
import { waitFor } from '../streams/waitFor';

jest.setTimeout(30_000);

const T0 = Date.UTC(2026, 11, 7, 10, 15, 30, 123);
const frame = (index: number): Frame => ({ streamId: 'door', t: T0 + index, index, width: 16, height: 16, rgb: new Uint8Array(16 * 16 * 3).fill(40 * index) });
const novelty = (i: number) => ({ type: 'novelty' as const, streamId: 'door', t: T0 + i, score: 0.4, calibrated: 0.999, threshold: 0.995 });

/** The value of one series in the registry's exposition text (NaN when absent). */
async function value(registry: Registry, series: string): Promise<number> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? NaN : Number(line.slice(series.length + 1));
}

function notifications(notify: unknown): Notifications {
  return new Notifications(configSchema.parse({ notify }).notify, 'http://127.0.0.1:8080/', silentLogger);
}

describe('PublisherMetrics', () => {
  test('event store: stored, failed (its directory gone), pruned by retention, and what it keeps', async () => {
    const registry = new Registry();
    const metrics = new PublisherMetrics(registry);
    expect(await value(registry, 'dino_event_store_writes_total{result="stored"}')).toBeNaN(); // no store: no series
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-pubmetrics-'));
    const store = new EventStore({ dir, maxCount: 2, maxBytes: 1 << 30, maxAgeDays: 30, log: silentLogger });
    await store.open();
    metrics.watchStore(store);
    for (let i = 1; i <= 3; i++) expect((await store.record(novelty(i), { snapshot: frame(i) })).snapshotError).toBeUndefined();
    const onDisk = fs.readdirSync(dir).reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
    fs.rmSync(dir, { recursive: true });
    fs.writeFileSync(dir, 'not a directory'); // every write now fails (ENOTDIR), also as root
    expect((await store.record(novelty(4), { snapshot: frame(4) })).snapshotError).toMatch(/^not stored: /);

    expect(await value(registry, 'dino_event_store_writes_total{result="stored"}')).toBe(3);
    expect(await value(registry, 'dino_event_store_writes_total{result="failed"}')).toBe(1);
    expect(await value(registry, 'dino_event_store_pruned_total')).toBe(1); // maxCount 2: the first of three went
    expect(await value(registry, 'dino_event_store_events')).toBe(3); // two on disk, the failed one in memory
    expect(await value(registry, 'dino_event_store_bytes')).toBe(onDisk);
    fs.rmSync(dir);
  });

  test('webhooks: one event delivered to a receiver that accepts, given up on a port nobody listens on', async () => {
    const got: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => (got.push(body), res.writeHead(204).end()));
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const dead = await freePort();
    const registry = new Registry();
    const metrics = new PublisherMetrics(registry);
    const n = notifications({
      webhooks: [
        { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, types: ['novelty'] },
        { url: `http://127.0.0.1:${dead}/gone`, types: ['novelty'], maxAttempts: 1 },
        { url: `http://127.0.0.1:${dead}/drift-only`, types: ['drift'] }, // not for this event
      ],
    });
    metrics.watchNotifiers(n);
    const events = new Subject<AgentEvent>();
    n.start(events, ['door']);
    expect(await value(registry, 'dino_notifications_total{channel="webhook",result="sent"}')).toBe(0);
    events.next({ ...novelty(1), id: '20261207T101530124Z-abcdef' } as AgentEvent);
    await waitFor(() => got.length === 1, 10_000, 'the event at the receiver');
    const failed = () => value(registry, 'dino_notifications_total{channel="webhook",result="failed"}');
    const t0 = Date.now();
    while ((await failed()) !== 1 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(await value(registry, 'dino_notifications_total{channel="webhook",result="sent"}')).toBe(1);
    expect(await failed()).toBe(1);
    expect(await value(registry, 'dino_notifications_total{channel="webhook",result="dropped"}')).toBe(0);
    expect(await value(registry, 'dino_notifications_total{channel="mqtt",result="sent"}')).toBeNaN(); // not configured
    await n.stop();
    receiver.close();
  });
});

requireTool('mosquitto')('PublisherMetrics with MQTT', () => {
  const broker = new MosquittoBroker();
  afterAll(() => broker.stop());

  test('MQTT: every message the broker acknowledged is counted sent (online, then the event and the novelty pulse)', async () => {
    await broker.start();
    const registry = new Registry();
    const metrics = new PublisherMetrics(registry);
    const n = notifications({ mqtt: { url: broker.url } });
    metrics.watchNotifiers(n);
    const events = new Subject<AgentEvent>();
    n.start(events, ['door']);
    await waitFor(() => n.mqtt!.connected && n.mqtt!.published === 1, 10_000, 'connected and online published');
    events.next({ ...novelty(1), id: '20261207T101530124Z-abcdef' } as AgentEvent);
    await waitFor(() => n.mqtt!.published === 3, 10_000, 'door/event and door/novelty acknowledged');
    expect(await value(registry, 'dino_notifications_total{channel="mqtt",result="sent"}')).toBe(3);
    expect(await value(registry, 'dino_notifications_total{channel="mqtt",result="failed"}')).toBe(0);
    expect(await value(registry, 'dino_notifications_total{channel="mqtt",result="dropped"}')).toBe(0);
    expect(await value(registry, 'dino_notifications_total{channel="webhook",result="sent"}')).toBeNaN();
    await n.stop();
  });
});
