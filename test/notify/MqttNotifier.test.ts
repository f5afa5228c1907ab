import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../src/util/Logger';
import { MqttNotifier } from '../../src/notify/MqttNotifier';
import { requireTool } from '../helpers/requireTool';
import { freePort, MosquittoBroker } from '../fixtures/mosquittoBroker';
import { waitFor } from '../streams/waitFor';

const PASSWORD = 'pw-Zq83-never-logged';

function recordingLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines, text: () => JSON.stringify(lines) };
}

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

/** A subscriber to everything, as Home Assistant or a phone app would be. */
async function watcher(url: string, reconnectMs = 100): Promise<{ client: MqttClient; seen: Seen[]; on: (topic: string) => Seen[] }> {
  const seen: Seen[] = [];
  const client = mqtt.connect(url, { username: 'viewer', password: 'viewer-pw', reconnectPeriod: reconnectMs });
  client.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), retain: packet.retain, at: Date.now() }));
  client.on('error', () => undefined);
  await new Promise<void>((r) => client.once('connect', () => r()));
  await client.subscribeAsync(['dino-stream/#', 'homeassistant/#'], { qos: 1 });
  return { client, seen, on: (topic) => seen.filter((s) => s.topic === topic) };
}

const novelty = (streamId: string, id: string) => ({
  type: 'novelty',
  streamId,
  t: 1765102530123,
  id,
  score: 0.41,
  calibrated: 0.998,
  threshold: 0.995,
  snapshot: `/api/events/${id}/snapshot.jpg`,
});

requireTool('mosquitto')('MqttNotifier against a real mosquitto on 127.0.0.1', () => {
  const broker = new MosquittoBroker({ dino: PASSWORD, viewer: 'viewer-pw' });
  beforeAll(() => broker.start());
  afterAll(() => broker.stop());

  test('online as retained availability, events with absolute snapshot URLs, camera state, Home Assistant discovery; the password is never logged', async () => {
    const w = await watcher(broker.url);
    const { log, text } = recordingLogger();
    const n = new MqttNotifier({ url: broker.url, username: 'dino', password: PASSWORD, homeAssistant: true, publicUrl: 'http://127.0.0.1:8080/', log });
    n.start();
    await waitFor(() => w.on('dino-stream/available').some((s) => s.payload === 'online'), 5000, 'online');

    n.notify({ type: 'camera', streamId: 'door', t: 1, state: 'live' });
    await waitFor(() => w.on('dino-stream/door/state').length > 0, 5000, 'camera state');
    expect(w.on('dino-stream/door/state')[0]).toMatchObject({ payload: 'live' });

    const sentAt = Date.now();
    n.notify(novelty('door', '20261207T101530123Z-a1b2c3'));
    await waitFor(() => w.on('dino-stream/door/event').length > 0, 5000, 'event');
    const ev = w.on('dino-stream/door/event')[0]!;
    const latencyMs = ev.at - sentAt;
    expect(JSON.parse(ev.payload)).toEqual({
      ...novelty('door', '20261207T101530123Z-a1b2c3'),
      snapshot_url: 'http://127.0.0.1:8080/api/events/20261207T101530123Z-a1b2c3/snapshot.jpg',
    });
    await waitFor(() => w.on('dino-stream/door/novelty').length > 0, 5000, 'novelty pulse');
    expect(w.on('dino-stream/door/novelty')[0]!.payload).toBe('ON');

    await waitFor(() => w.seen.filter((s) => s.topic.startsWith('homeassistant/')).length === 2, 5000, 'discovery');
    const sensor = JSON.parse(w.on('homeassistant/binary_sensor/dino_stream/door_novelty/config')[0]!.payload);
    expect(sensor).toMatchObject({ state_topic: 'dino-stream/door/novelty', availability_topic: 'dino-stream/available', unique_id: 'dino_stream_door_novelty', off_delay: 30 });
    expect(JSON.parse(w.on('homeassistant/sensor/dino_stream/door_camera/config')[0]!.payload).state_topic).toBe('dino-stream/door/state');

    // a subscriber that comes later gets the retained availability and state at once
    const late = await watcher(broker.url);
    await waitFor(() => late.on('dino-stream/door/state').length > 0 && late.on('dino-stream/available').length > 0, 5000, 'retained');
    expect([late.on('dino-stream/available')[0]!.payload, late.on('dino-stream/door/state')[0]!.retain]).toEqual(['online', true]);

    await n.stop();
    await waitFor(() => w.on('dino-stream/available').some((s) => s.payload === 'offline'), 5000, 'offline on stop');
    expect(text()).not.toContain(PASSWORD);
    console.log(`mqtt: notify -> subscriber ${latencyMs} ms`);
    expect(latencyMs).toBeLessThan(1000);
    await late.client.endAsync(true);
    await w.client.endAsync(true);
  });

  test('the last will says offline when the connection dies; the notifier comes back online by itself', async () => {
    const w = await watcher(broker.url);
    const n = new MqttNotifier({ url: broker.url, username: 'dino', password: PASSWORD, reconnectMs: 200, log: recordingLogger().log });
    n.start();
    await waitFor(() => n.connected, 5000, 'connected');
    const before = w.on('dino-stream/available').length;
    (n as unknown as { client: MqttClient }).client.stream.destroy(); // no DISCONNECT packet: the broker sends the will
    await waitFor(() => w.on('dino-stream/available').slice(before).some((s) => s.payload === 'offline'), 5000, 'will');
    await waitFor(() => w.on('dino-stream/available').slice(before).some((s) => s.payload === 'online'), 5000, 'online again');
    await n.stop();
    await w.client.endAsync(true);
  });

  test('a broker that goes away: logged once, notify() keeps working, queued events are sent when it is back', async () => {
    const w = await watcher(broker.url, 50);
    const { log, lines } = recordingLogger();
    const n = new MqttNotifier({ url: broker.url, username: 'dino', password: PASSWORD, reconnectMs: 1000, log });
    n.start();
    await waitFor(() => n.connected, 5000, 'connected');
    await broker.stop();
    await waitFor(() => !n.connected, 5000, 'disconnect noticed');
    for (let i = 0; i < 3; i++) n.notify(novelty('yard', `20261207T10153${i}000Z-00000${i}`));
    await new Promise((r) => setTimeout(r, 2500)); // a few reconnect attempts against nothing
    const down = lines.filter((l) => l.level === 'warn' || l.level === 'error');
    expect(down[0]!.msg).toMatch(/^mqtt: connection to mqtt:\/\/127\.0\.0\.1:\d+ lost; reconnecting, events are queued \(up to 1000\)$/);
    expect(down.filter((l) => /ECONNREFUSED/.test(l.msg ?? '')).length).toBe(1); // once per outage, not per attempt

    await broker.start();
    await waitFor(() => w.on('dino-stream/yard/event').length === 3, 10_000, 'the 3 queued events');
    expect(w.on('dino-stream/yard/event').map((s) => JSON.parse(s.payload).id)).toEqual(['20261207T101530000Z-000000', '20261207T101531000Z-000001', '20261207T101532000Z-000002']);
    expect(lines.some((l) => /^mqtt: connected to .* again after \d+\.\d s; 6 queued messages sent$/.test(l.msg ?? ''))).toBe(true);
    await n.stop();
    await w.client.endAsync(true);
  });

  test('a broker that is not there at start: a clear error, no throw, a bounded queue with counted drops', async () => {
    const port = await freePort();
    const { log, lines } = recordingLogger();
    const n = new MqttNotifier({ url: `mqtt://127.0.0.1:${port}`, username: 'dino', password: PASSWORD, queueSize: 2, reconnectMs: 500, log });
    n.start();
    for (let i = 0; i < 5; i++) n.notify(novelty('cam', `20261207T10153${i}000Z-00000${i}`));
    await waitFor(() => lines.some((l) => l.level === 'error'), 5000, 'an error line');
    expect(lines.find((l) => l.level === 'error')!.msg).toBe(`mqtt: mqtt://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}; retrying every 0.5 s, events are queued`);
    // 5 events + 5 novelty pulses into a queue of 2
    expect(n.dropped).toBe(8);
    expect(JSON.stringify(lines)).not.toContain(PASSWORD);
    await n.stop();
  });
});
