/**
 * The real agent process with what camera users ask for: events stored with their pictures before they are
 * published, MQTT (a real mosquitto) and a signed webhook, a source added at run time, a mask, and the faults
 * that must not stop it (a bad source spec, an unreachable webhook, a broker that goes away), then a restart that
 * keeps the sources and the events. Needs `npm run build`.
 */
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt from 'mqtt';
import sharp from 'sharp';
import WebSocket from 'ws';
import { AgentProcess } from './agentProcess';
import { requireTool } from '../helpers/requireTool';
import { freePort, MosquittoBroker } from '../fixtures/mosquittoBroker';
import { waitFor } from '../streams/waitFor';

jest.setTimeout(240_000);

const TOKEN = 'e2e-camera-token-0123';
const SECRET = 'webhook-secret-0123456789';
const MQTT_PASSWORD = 'mqtt-pw-never-logged-42';

/** Every JSON message of a websocket, kept. */
function listen(url: string): { msgs: Record<string, unknown>[]; ws: WebSocket } {
  const msgs: Record<string, unknown>[] = [];
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${TOKEN}` } });
  ws.on('message', (d, binary) => {
    if (!binary) msgs.push(JSON.parse(d.toString()) as Record<string, unknown>);
  });
  ws.on('error', () => undefined);
  return { msgs, ws };
}

requireTool('mosquitto')('dino-stream run with events, notifications, run-time sources and masks', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-camera-e2e-'));
  const broker = new MosquittoBroker({ dino: MQTT_PASSWORD, viewer: 'viewer-pw' });
  const hooks: { body: string; headers: IncomingMessage['headers'] }[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hooks.push({ body, headers: req.headers });
      res.writeHead(200).end();
    });
  });
  let agent: AgentProcess | null = null;
  let watcher: mqtt.MqttClient | undefined;
  afterAll(async () => {
    agent?.kill();
    await watcher?.endAsync(true);
    await broker.stop();
    receiver.close();
  });

  test('events with pictures reach ws, MQTT and the webhook; sources change at run time; faults are reported and survived; a restart keeps sources and events', async () => {
    await broker.start();
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const deadPort = await freePort();
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        model: { size: 'micro' },
        train: { frameSize: 32 },
        sources: [{ kind: 'synthetic', id: 'yard', fps: 20, sceneEverySec: 4, mask: [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]] }],
        embed: { fps: 10, thumbnailFps: 4 },
        // small windows so that the scene changes of the synthetic camera raise drift events within seconds
        detect: { driftWindow: 20, driftRecentWindow: 5, driftTestEvery: 1, driftMargin: 0, driftMinStatistic: 0, driftAlpha: 0.05, driftPermutations: 40 },
        checkpoint: { dir: path.join(dir, 'ckpt') },
        events: { dir: path.join(dir, 'events') },
        state: { sourcesFile: path.join(dir, 'state', 'sources.json') },
        notify: {
          mqtt: { url: broker.url, username: 'dino', password: MQTT_PASSWORD, homeAssistant: true },
          webhooks: [
            { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret: SECRET, types: ['drift', 'novelty'] },
            { url: `http://127.0.0.1:${deadPort}/gone`, types: ['drift'], maxAttempts: 2 },
          ],
        },
      }),
    );
    watcher = mqtt.connect(broker.url, { username: 'viewer', password: 'viewer-pw', reconnectPeriod: 100 });
    const seen: { topic: string; payload: string }[] = [];
    watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    watcher.on('error', () => undefined);
    await new Promise<void>((r) => watcher!.once('connect', () => r()));
    await watcher.subscribeAsync(['dino-stream/#', 'homeassistant/#']);

    agent = new AgentProcess(['--config', config, '--port', '0'], { DINO_TOKEN: TOKEN });
    const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    const http = `http://127.0.0.1:${port}`;
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const events = listen(`ws://127.0.0.1:${port}/events?types=drift,novelty`);
    const ui = listen(`ws://127.0.0.1:${port}/ui`);

    // a drift event: published with an id and pictures that are already on disk
    const isDetection = (m: Record<string, unknown>) => m['type'] === 'drift' || m['type'] === 'novelty';
    await waitFor(() => events.msgs.some(isDetection), 120_000, 'a drift or novelty event');
    const ev = events.msgs.find(isDetection) as Record<string, string>;
    expect(ev['id']).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    expect(ev['snapshot']).toBe(`/api/events/${ev['id']}/snapshot.jpg`);
    const pic = await fetch(`${http}${ev['snapshot']}`, { headers: auth }); // at once: written before publishing
    expect([pic.status, pic.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    const meta = await sharp(Buffer.from(await pic.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([32, 32]);
    if (ev['type'] === 'drift') expect((await fetch(`${http}${ev['before']}`, { headers: auth })).status).toBe(200);
    const listed = (await (await fetch(`${http}/api/events?stream=yard`, { headers: auth })).json()) as { events: { id: string }[] };
    expect(listed.events.map((e) => e.id)).toContain(ev['id']);

    // the same event on MQTT (with the absolute snapshot URL) and at the webhook (signed)
    await waitFor(() => seen.some((s) => s.topic === 'dino-stream/yard/event' && JSON.parse(s.payload).id === ev['id']), 10_000, 'the event on MQTT');
    const onMqtt = JSON.parse(seen.find((s) => s.topic === 'dino-stream/yard/event' && JSON.parse(s.payload).id === ev['id'])!.payload);
    expect(onMqtt.snapshot_url).toBe(`${http}/api/events/${ev['id']}/snapshot.jpg`);
    expect(seen.some((s) => s.topic === 'dino-stream/available' && s.payload === 'online')).toBe(true);
    expect(seen.some((s) => s.topic === 'homeassistant/binary_sensor/dino_stream/yard_novelty/config')).toBe(true);
    await waitFor(() => hooks.some((h) => JSON.parse(h.body).id === ev['id']), 10_000, 'the event at the webhook');
    const hook = hooks.find((h) => JSON.parse(h.body).id === ev['id'])!;
    expect(hook.headers['x-dino-signature-256']).toBe(`sha256=${createHmac('sha256', SECRET).update(hook.body).digest('hex')}`);

    // the mask: the top-left quarter of every frame is black in the thumbnails
    await waitFor(() => ui.msgs.some((m) => m['type'] === 'thumbnail'), 10_000, 'a thumbnail');
    const thumb = ui.msgs.find((m) => m['type'] === 'thumbnail')!;
    const { data, info } = await sharp(Buffer.from(thumb['jpeg'] as string, 'base64')).raw().toBuffer({ resolveWithObject: true });
    let masked = 0;
    let rest = 0;
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const v = data[(y * info.width + x) * info.channels]! + data[(y * info.width + x) * info.channels + 1]! + data[(y * info.width + x) * info.channels + 2]!;
        if (x < info.width / 2 - 2 && y < info.height / 2 - 2) masked = Math.max(masked, v);
        else if (x > info.width / 2 + 2 || y > info.height / 2 + 2) rest = Math.max(rest, v);
      }
    }
    expect(masked).toBeLessThan(30); // JPEG ringing at most
    expect(rest).toBeGreaterThan(100);

    // sources at run time: a bad spec is refused naming the field; a good one starts at once
    const json = { ...auth, 'Content-Type': 'application/json' };
    const bad = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify({ kind: 'url', id: 'door' }) });
    expect([bad.status, ((await bad.json()) as { problems: string[] }).problems]).toEqual([400, ['url: Invalid input: expected string, received undefined']]);
    const added = await fetch(`${http}/api/sources`, { method: 'POST', headers: json, body: JSON.stringify({ kind: 'synthetic', id: 'porch', fps: 10, seed: 5 }) });
    expect(added.status).toBe(201);
    const emb = listen(`ws://127.0.0.1:${port}/embeddings?streams=porch&format=json`);
    await waitFor(() => emb.msgs.some((m) => m['type'] === 'embedding'), 30_000, 'embeddings of the added source');

    // the dead webhook and a broker that goes away: reported, and the agent carries on
    await agent.waitFor(/webhook http:\/\/127\.0\.0\.1:\d+ \(notify\.webhooks\[1\]\): drift event not delivered: ECONNREFUSED/, 60_000);
    // the publishers' counters on /metrics (events keep coming: lower bounds, by value)
    const metric = (text: string, series: string) => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);
    const scraped = await (await fetch(`${http}/metrics`, { headers: auth })).text();
    expect(metric(scraped, 'dino_event_store_writes_total{result="stored"}')).toBeGreaterThanOrEqual(1);
    expect(metric(scraped, 'dino_event_store_writes_total{result="failed"}')).toBe(0);
    expect(metric(scraped, 'dino_event_store_events')).toBeGreaterThanOrEqual(1);
    expect(metric(scraped, 'dino_notifications_total{channel="webhook",result="sent"}')).toBeGreaterThanOrEqual(1);
    expect(metric(scraped, 'dino_notifications_total{channel="webhook",result="failed"}')).toBeGreaterThanOrEqual(1);
    expect(metric(scraped, 'dino_notifications_total{channel="mqtt",result="sent"}')).toBeGreaterThanOrEqual(3); // online, the event, its novelty or state
    await broker.stop();
    await agent.waitFor(/mqtt: connection to mqtt:\/\/127\.0\.0\.1:\d+ lost; reconnecting/, 10_000);
    const n = emb.msgs.length;
    await waitFor(() => emb.msgs.length > n + 5, 10_000, 'embeddings while the broker is away');
    const onlineBefore = seen.filter((s) => s.topic === 'dino-stream/available' && s.payload === 'online').length;
    await broker.start();
    await agent.waitFor(/mqtt: connected to mqtt:\/\/127\.0\.0\.1:\d+ again after/, 30_000);
    await waitFor(() => seen.filter((s) => s.topic === 'dino-stream/available' && s.payload === 'online').length > onlineBefore, 10_000, 'online again');
    expect(agent.raw.join('\n')).not.toContain(MQTT_PASSWORD);

    // a restart: the added source and the stored events are still there
    for (const c of [events, ui, emb]) c.ws.close();
    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
    await waitFor(() => seen.some((s) => s.topic === 'dino-stream/available' && s.payload === 'offline'), 5000, 'offline after the stop');
    agent = new AgentProcess(['--config', config, '--port', '0'], { DINO_TOKEN: TOKEN });
    const [, port2] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
    await agent.waitFor(/sources: 1 configured, 1 added at run time, 0 removed at run time/);
    const http2 = `http://127.0.0.1:${port2}`;
    const sources = (await (await fetch(`${http2}/api/sources`, { headers: auth })).json()) as { sources: { id: string; origin: string }[] };
    expect(sources.sources.map((s) => [s.id, s.origin])).toEqual([['yard', 'config'], ['porch', 'runtime']]);
    const again = (await (await fetch(`${http2}/api/events`, { headers: auth })).json()) as { events: { id: string }[] };
    expect(again.events.map((e) => e.id)).toContain(ev['id']);
    expect((await fetch(`${http2}/api/events/${ev['id']}/snapshot.jpg`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${http2}/api/sources/porch`, { method: 'DELETE', headers: auth })).status).toBe(204);
    agent.signal('SIGTERM');
    expect(await agent.exited).toBe(0);
  });
});
