/**
 * The agent scaled out over a real broker (Debian's nats-server on 127.0.0.1): 1 ingest with two file cameras,
 * 2 embed workers, 1 trainer (with the detect shard), 1 gateway, each its own `dino-stream run --nats` process.
 * Needs `npm run build` (npm test runs it first).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { AgentProcess } from '../agent/agentProcess';
import { freePort } from '../helpers/freePort';
import { NatsServer } from '../helpers/natsServer';
import { requireTool } from '../helpers/requireTool';
import { sharedData } from '../helpers/sharedData';
import { metric, ReconnectingSubscriber, until } from './scaleClient';

jest.setTimeout(300_000);

/** Stated bound: a teacher published by the trainer is in use by every worker within this (measured values are logged). */
const TEACHER_SWITCH_MS = 10_000;

requireTool('nats-server', 'ffmpeg')('scaled-out agent over NATS JetStream (separate processes)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-scale-'));
  const configFile = path.join(dir, 'config.json');
  let broker: NatsServer;
  let gatewayPort: number;
  const procs: AgentProcess[] = [];
  let gateway: AgentProcess;
  let workers: AgentProcess[] = [];
  let trainer: AgentProcess;
  let ingest: AgentProcess;
  let embeddings: ReconnectingSubscriber;
  let events: ReconnectingSubscriber;
  let nc: NatsConnection;
  const framesSeen: string[] = [];

  const start = (roles: string, extra: string[] = []) => {
    const p = new AgentProcess(['--config', configFile, '--role', roles, '--instance', `${roles.replace(/,/g, '_')}-${procs.length}`, ...extra]);
    procs.push(p);
    return p;
  };
  const ready = (p: AgentProcess) => p.waitFor(/^(health|dashboard) http:\/\/127\.0\.0\.1:(\d+)\//, 90_000);
  const portOf = async (p: AgentProcess) => Number((await ready(p))[2]);
  const key = (m: Record<string, unknown>) => `${String(m['streamId'])}#${String(m['frameIndex'])}`;

  beforeAll(async () => {
    broker = await NatsServer.start();
    gatewayPort = await freePort();
    const video = (name: string) => sharedData(`video/${name}`);
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        model: { size: 'micro' },
        train: { batchSize: 8, bufferSize: 256 },
        sources: [
          { kind: 'file', id: 'tree', path: video('tree_h264.mp4'), fps: 5, loop: false },
          { kind: 'file', id: 'campus', path: video('vtest_h264.mp4'), fps: 5, loop: false },
        ],
        embed: { teacherRefreshSec: 2, attentionEverySec: 1, thumbnailFps: 1 },
        detect: { noveltyBank: 64, noveltyThreshold: 0.9, driftWindow: 20, driftRecentWindow: 10, driftTestEvery: 2 },
        server: { port: 0 },
        checkpoint: { dir: path.join(dir, 'ckpt'), resume: false },
        log: { statusEverySec: 0 },
        // frames never overflow their stream here, so every one must be embedded; a dead worker's frames come back in 2 s
        nats: { url: broker.url, framesPerStream: 10000, ackWaitSec: 2, lockTtlSec: 3, heartbeatSec: 1 },
      }),
    );
    gateway = start('gateway', ['--port', String(gatewayPort)]);
    trainer = start('train,detect');
    workers = [start('embed'), start('embed')];
    await Promise.all([gateway, trainer, ...workers].map(ready));
    embeddings = new ReconnectingSubscriber(`ws://127.0.0.1:${gatewayPort}/embeddings?streams=*&format=json`);
    events = new ReconnectingSubscriber(`ws://127.0.0.1:${gatewayPort}/events?types=novelty,drift,camera`);
    await until(() => embeddings.connections > 0 && events.connections > 0, 'the ws clients to connect');
    // every frame that enters FRAMES, as the broker receives it
    nc = await connect({ servers: broker.url });
    nc.subscribe('frames.>', {
      callback: (_e, m) => {
        framesSeen.push(m.headers?.get('Nats-Msg-Id') ?? '?');
      },
    });
    ingest = start('ingest');
    await ready(ingest);
  });

  afterAll(async () => {
    embeddings?.close();
    events?.close();
    for (const p of procs) p.kill();
    await Promise.all(procs.map((p) => p.exited));
    await nc?.close();
    await broker?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the trainer publishes new teachers; both workers use each within the stated time and the embeddings carry it', async () => {
    const [, stepText] = await trainer.waitFor(/^train: published teacher teacher-([1-9]\d*)$/, 90_000);
    const step = Number(stepText);
    const loaded = await Promise.all(workers.map((w) => w.waitFor(new RegExp(`^embed: teacher of step ${step} in use \\((\\d+) ms after it was published\\)`), 30_000)));
    const ms = loaded.map(([, x]) => Number(x));
    console.log(`teacher ${step}: in use by the workers ${ms.join(' and ')} ms after publication`);
    for (const x of ms) expect(x).toBeLessThan(TEACHER_SWITCH_MS);
    await until(() => embeddings.of('embedding').some((m) => m['teacherStep'] === step), `an embedding of teacher ${step} at the gateway`, 30_000);
  });

  test('novelty or drift events of the detect shard reach a ws client of the gateway', async () => {
    await until(() => events.of('novelty').length + events.of('drift').length > 0, 'a novelty or drift event', 60_000);
    const e = [...events.of('novelty'), ...events.of('drift')][0]!;
    expect(['tree', 'campus']).toContain(e['streamId']);
    expect(typeof e['teacherStep']).toBe('number');
    if (e['type'] === 'novelty') expect(e['calibrated'] as number).toBeGreaterThanOrEqual(0.9);
  });

  test('every frame that enters FRAMES reaches a ws subscriber as exactly one embedding, with a worker killed -9 mid-stream', async () => {
    await until(() => embeddings.of('embedding').length >= 30, '30 embeddings before the kill', 60_000);
    const survivor = workers[1]!;
    const survivorPort = await portOf(survivor);
    // frozen first, so that the broker hands it frames it will never acknowledge, then killed
    workers[0]!.signal('SIGSTOP');
    await new Promise((r) => setTimeout(r, 1500));
    workers[0]!.kill();
    const atKill = embeddings.of('embedding').length;
    await until(() => embeddings.of('embedding').length >= atKill + 30, '30 more embeddings after the kill', 60_000);
    ingest.signal('SIGTERM');
    expect(await ingest.exited).toBe(0);
    const frames = new Set(framesSeen);
    expect(frames.size).toBe(framesSeen.length); // the ingest published each frame once
    await until(() => embeddings.of('embedding').length >= frames.size, `${frames.size} embeddings (one per frame)`, 90_000);
    await new Promise((r) => setTimeout(r, 3000)); // anything late (a duplicate) would arrive now
    const got = embeddings.of('embedding').map(key);
    expect(got.length).toBe(new Set(got).size); // none twice
    const expected = framesSeen.map((id) => {
      const [stream, , index] = id.split(':');
      return `${stream}#${index}`;
    });
    expect(new Set(got)).toEqual(new Set(expected)); // none lost
    expect(got.length).toBeGreaterThan(60);
    const m = await (await fetch(`http://127.0.0.1:${survivorPort}/metrics`)).text();
    const redelivered = metric(m, 'dino_scale_redelivered_total', 'role="embed"');
    console.log(`${frames.size} frames, ${got.length} embeddings, ${redelivered} frames redelivered to the surviving worker`);
    expect(redelivered).toBeGreaterThan(0); // the dead worker's frames came here
  });

  test('the gateway restarts and its subscribers resume; every role rides out a broker restart', async () => {
    ingest = start('ingest'); // a second run of the cameras (new frame ids)
    await ready(ingest);
    await until(() => embeddings.messages.some((x) => x.m['type'] === 'embedding' && x.at > Date.now() - 1000), 'embeddings of the new run');

    gateway.signal('SIGTERM');
    expect(await gateway.exited).toBe(0);
    const connectionsBefore = embeddings.connections;
    gateway = start('gateway', ['--port', String(gatewayPort)]);
    await ready(gateway);
    await until(() => embeddings.messages.some((x) => x.m['type'] === 'embedding' && x.connection > connectionsBefore), 'embeddings after the gateway restart', 60_000);

    const before = Date.now();
    await broker.restart(1000);
    await until(() => embeddings.messages.some((x) => x.m['type'] === 'embedding' && x.at > before + 1000), 'embeddings after the broker restart', 90_000);
    const m = await (await fetch(`http://127.0.0.1:${await portOf(workers[1]!)}/metrics`)).text();
    expect(metric(m, 'dino_scale_broker_reconnects_total')).toBeGreaterThanOrEqual(1);
    const health = (await (await fetch(`http://127.0.0.1:${gatewayPort}/healthz`)).json()) as { roles: { role: string }[] };
    await until(async () => {
      const h = (await (await fetch(`http://127.0.0.1:${gatewayPort}/healthz`)).json()) as { roles: { role: string }[] };
      return ['ingest', 'embed', 'train', 'detect', 'gateway'].every((r) => h.roles.some((x) => x.role === r));
    }, 'every role in the gateway health report', 30_000);
    expect(health.roles.length).toBeGreaterThan(0);
  });
});
