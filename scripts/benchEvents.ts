/**
 * `npm run bench:events [-- --mqtt mqtt://127.0.0.1:1883] [--dir DIR]`: what an event costs on its way out.
 *  - The event store: encoding a novelty snapshot (JPEG) and writing it and the event's JSON atomically (temp file,
 *    fsync, rename, fsync of the directory), at the default frame size and larger; the event is published after it.
 *  - A webhook: from notify() to the receiver (a local HTTP server on 127.0.0.1) holding the signed POST.
 *  - MQTT (with --mqtt, a broker on this machine): from notify() to a subscriber receiving the event.
 * Medians and 95th percentiles after warm-up; the event store on `--dir` (default: the OS temp dir).
 */
import * as fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import mqtt from 'mqtt';
import type { Frame } from '../streams/Frame';
import { EventStore } from '../src/events/EventStore';
import { MqttNotifier } from '../src/notify/MqttNotifier';
import { WebhookNotifier } from '../src/notify/WebhookNotifier';
import { silentLogger } from '../src/util/Logger';
import { arg, median, table } from './benchCommon';

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const row = (name: string, xs: number[]) => [name, xs.length, median(xs).toFixed(2), quantile(xs, 0.95).toFixed(2)];

/** A frame with a picture in it (gradients and noise: JPEG sizes like a camera's, not a flat fill's). */
function frame(size: number, i: number): Frame {
  const rgb = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 3;
      rgb[o] = (x * 255) / size;
      rgb[o + 1] = (y * 255) / size;
      rgb[o + 2] = ((x ^ y ^ i) * 37 + Math.random() * 40) & 255;
    }
  }
  return { streamId: 'bench', t: Date.now(), index: i, width: size, height: size, rgb };
}

const event = (i: number) => ({ type: 'novelty', streamId: 'bench', t: Date.now(), id: `bench-${i}`, frameIndex: i, score: 0.4, calibrated: 0.999, threshold: 0.995 });

async function store(dir: string): Promise<(string | number)[][]> {
  const rows: (string | number)[][] = [];
  for (const size of [64, 256]) {
    const s = new EventStore({ dir: fs.mkdtempSync(path.join(dir, 'dino-bench-events-')), maxCount: 100, maxBytes: 1 << 30, maxAgeDays: 1, log: silentLogger });
    await s.open();
    const frames = Array.from({ length: 20 }, (_, i) => frame(size, i));
    for (let i = 0; i < 20; i++) await s.record(event(i), { snapshot: frames[i % 20]! }); // warm-up (sharp, the file system)
    const ms: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await s.record(event(i), { snapshot: frames[i % 20]! });
      ms.push(performance.now() - t0);
    }
    rows.push(row(`event store: snapshot ${size}x${size} JPEG + JSON, atomic (${(s.size.bytes / s.size.count / 1024).toFixed(1)} KiB/event)`, ms));
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
  return rows;
}

/** notify() then wait for the receiver to record an arrival, 220 times; the latencies after 20 of warm-up. */
async function deliveries(notify: (i: number) => void, arrivals: number[]): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < 220; i++) {
    const before = arrivals.length;
    const t0 = performance.now();
    notify(i);
    while (arrivals.length === before) await new Promise((r) => setImmediate(r));
    if (i >= 20) ms.push(arrivals[arrivals.length - 1]! - t0);
  }
  return ms;
}

async function webhook(): Promise<(string | number)[][]> {
  const received: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(performance.now());
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const n = new WebhookNotifier([{ url, secret: 'bench-secret-0123456789', types: ['novelty'], timeoutMs: 5000, maxAttempts: 1, queueSize: 10 }], { log: silentLogger });
  const ms = await deliveries((i) => n.notify(event(i)), received);
  await n.stop();
  server.close();
  return [row('webhook: notify -> local receiver has the signed POST', ms)];
}

async function broker(url: string): Promise<(string | number)[][]> {
  const sub = await mqtt.connectAsync(url);
  const arrivals: number[] = [];
  sub.on('message', () => arrivals.push(performance.now()));
  await sub.subscribeAsync('dino-stream/bench/event', { qos: 1 });
  const n = new MqttNotifier({ url, log: silentLogger });
  n.start();
  while (!n.connected) await new Promise((r) => setTimeout(r, 10));
  const ms = await deliveries((i) => n.notify(event(i)), arrivals);
  await n.stop();
  await sub.endAsync();
  return [row(`MQTT: notify -> subscriber has the event (QoS 1, ${url})`, ms)];
}

async function main(): Promise<void> {
  const rows = [...(await store(arg('dir', os.tmpdir()))), ...(await webhook())];
  const url = arg('mqtt', '');
  if (url) rows.push(...(await broker(url)));
  else console.log('(MQTT skipped: pass --mqtt mqtt://127.0.0.1:<port> of a broker on this machine)');
  console.log(table(['what', 'n', 'median ms', 'p95 ms'], rows));
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
