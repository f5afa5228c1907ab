/**
 * The agent scaled out over a real broker (Debian's nats-server on 127.0.0.1): 1 ingest with two file cameras,
 * 2 embed workers, 1 trainer (with the detect shard), 1 gateway, each its own `dino-stream run --nats` process.
 * Needs `npm run build` (npm test runs it first).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import WebSocket from 'ws';
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
  /** Every message the embed workers put on EMBEDDED: which worker, with which teacher, when it was seen. */
  const embedded: { by: string; step: number; at: number }[] = [];
  const workerNames = ['embed-a', 'embed-b'];

  const start = (roles: string, extra: string[] = [], instance = `${roles.replace(/,/g, '_')}-${procs.length}`) => {
    const p = new AgentProcess(['--config', configFile, '--role', roles, '--instance', instance, ...extra]);
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
        // frames never overflow their stream nor go stale here, so every one must be embedded; a dead worker's frames come back in 2 s
        nats: { url: broker.url, framesPerStream: 10000, maxFrameAgeSec: 600, ackWaitSec: 2, heartbeatSec: 1 },
      }),
    );
    gateway = start('gateway', ['--port', String(gatewayPort)]);
    trainer = start('train,detect');
    workers = workerNames.map((name) => start('embed', [], name));
    await Promise.all([gateway, trainer, ...workers].map(ready));
    embeddings = new ReconnectingSubscriber(`ws://127.0.0.1:${gatewayPort}/embeddings?streams=*&format=json`);
    events = new ReconnectingSubscriber(`ws://127.0.0.1:${gatewayPort}/events?types=novelty,drift,camera`);
    await until(() => embeddings.connections > 0 && events.connections > 0, 'the ws clients to connect');
    // every frame that enters FRAMES, as the broker receives it, and every embedding a worker publishes
    nc = await connect({ servers: broker.url });
    nc.subscribe('embedded.>', {
      callback: (_e, m) => {
        embedded.push({ by: m.headers?.get('Dino-Embedded-By') ?? '?', step: Number(m.headers?.get('Dino-Teacher-Step')), at: Date.now() });
      },
    });
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

  test('the trainer publishes new teachers; both workers use each within the stated time and their embeddings carry it', async () => {
    const [, stepText] = await trainer.waitFor(/^train: published teacher teacher-([1-9]\d*)$/, 90_000);
    const step = Number(stepText);
    const loaded = await Promise.all(workers.map((w) => w.waitFor(new RegExp(`^embed: teacher of step ${step} in use \\((\\d+) ms after it was published\\)`), 30_000)));
    const ms = loaded.map(([, x]) => Number(x));
    console.log(`teacher ${step}: in use by the workers ${ms.join(' and ')} ms after publication`);
    for (const x of ms) expect(x).toBeLessThan(TEACHER_SWITCH_MS);
    // each worker's own embeddings (on EMBEDDED, before the detect shard) carry the new teacher, and none goes back
    for (const name of workerNames) {
      await until(() => embedded.some((e) => e.by === name && e.step >= step), `an embedding of teacher ${step} from ${name}`, 30_000);
      const steps = embedded.filter((e) => e.by === name).map((e) => e.step);
      expect(steps.every((x, i) => i === 0 || x >= steps[i - 1]!)).toBe(true);
    }
    await until(() => embeddings.of('embedding').some((m) => m['teacherStep'] === step), `an embedding of teacher ${step} at the gateway`, 30_000);
  });

  test('every role reports its health and metrics on its own port', async () => {
    const get = async (p: AgentProcess, what: 'healthz' | 'metrics') => fetch(`http://127.0.0.1:${await portOf(p)}/${what}`);
    type Health = { ok: boolean; broker: boolean; instance: string; roles: Record<string, { ok: boolean; status: string; detail?: Record<string, unknown> }> };
    await until(async () => (await (await get(workers[0]!, 'metrics')).text()).includes('dino_scale_frames_embedded_total '), 'a worker to have embedded', 30_000);
    for (const [i, w] of workers.entries()) {
      const r = await get(w, 'healthz');
      expect(r.status).toBe(200);
      const h = (await r.json()) as Health;
      expect(h).toMatchObject({ ok: true, broker: true, instance: workerNames[i], roles: { embed: { ok: true, status: 'embedding' } } });
      expect(h.roles['embed']!.detail!['teacherStep']).toBeGreaterThanOrEqual(1);
      const m = await (await get(w, 'metrics')).text();
      expect(metric(m, 'dino_scale_broker_connected')).toBe(1);
      expect(metric(m, 'dino_scale_teacher_step', 'role="embed"')).toBeGreaterThanOrEqual(1);
    }
    const t = (await (await get(trainer, 'healthz')).json()) as Health;
    expect(t.roles['train']).toMatchObject({ ok: true, status: 'training' });
    expect(trainer.lines.filter((l) => /trainer lock lost/.test(String(l['msg'])))).toEqual([]);
    expect(t.roles['detect']).toMatchObject({ ok: true, status: 'detecting', detail: { shard: '0/1' } });
    const tm = await (await get(trainer, 'metrics')).text();
    expect(metric(tm, 'dino_scale_trainer_lock_held')).toBe(1);
    expect(metric(tm, 'dino_scale_teachers_published_total')).toBeGreaterThanOrEqual(1);
    // the trainer counts the steps it ran: from a fresh start, the step it is at
    const steps = metric(tm, 'dino_scale_train_steps_total');
    expect(steps).toBeGreaterThanOrEqual(1);
    expect(steps).toBe(metric(tm, 'dino_train_step'));
    expect(metric(tm, 'dino_scale_scored_total')).toBeGreaterThan(0);
    // the gateway hears every role's heartbeat
    const g = (await (await get(gateway, 'healthz')).json()) as { roles: { role: string; instance: string; ok: boolean }[] };
    for (const name of workerNames) expect(g.roles).toContainEqual(expect.objectContaining({ role: 'embed', instance: name, ok: true }));
    expect(g.roles.map((r) => r.role)).toEqual(expect.arrayContaining(['gateway', 'train', 'detect']));
  });

  test("the gateway and the roles' own ports apply the agent's Host and Origin rules", async () => {
    const status = (port: number, p: string, host: string) =>
      new Promise<{ status: number; code: string }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: p, headers: { Host: host } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => {
            const json = /json/.test(String(res.headers['content-type']));
            resolve({ status: res.statusCode!, code: json ? String((JSON.parse(body) as { code?: string }).code) : '' });
          });
        });
        req.on('error', reject);
      });
    const upgrade = (port: number, headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/embeddings?streams=*`, { headers });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => undefined);
      });
    // DNS rebinding: a foreign name in Host is refused on every path, a loopback name passes
    for (const p of ['/', '/metrics', '/healthz']) expect(await status(gatewayPort, p, 'evil.example')).toEqual({ status: 421, code: 'misdirected_host' });
    expect((await status(gatewayPort, '/healthz', `localhost:${gatewayPort}`)).status).toBe(200);
    // a page of another site may not open the gateway's websockets; a loopback page and a script (no Origin) may
    expect(await upgrade(gatewayPort, { Origin: 'http://evil.example' })).toBe(403);
    expect(await upgrade(gatewayPort, { Host: 'evil.example' })).toBe(421);
    expect(await upgrade(gatewayPort, { Origin: `http://127.0.0.1:${gatewayPort}` })).toBe(101);
    expect(await upgrade(gatewayPort, {})).toBe(101);
    // a worker's /healthz and /metrics: the same Host rule
    const workerPort = await portOf(workers[1]!);
    for (const p of ['/metrics', '/healthz']) expect(await status(workerPort, p, 'evil.example')).toEqual({ status: 421, code: 'misdirected_host' });
    expect((await status(workerPort, '/metrics', `127.0.0.1:${workerPort}`)).status).toBe(200);
    // roles without a model never choose a tfjs backend: their /metrics answer all the same
    const ingestPort = await portOf(ingest);
    expect((await status(ingestPort, '/metrics', `127.0.0.1:${ingestPort}`)).status).toBe(200);
    expect((await status(gatewayPort, '/metrics', `127.0.0.1:${gatewayPort}`)).status).toBe(200);
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
    const byName = (name: string) => embedded.filter((e) => e.by === name).length;
    console.log(`${frames.size} frames, ${got.length} embeddings, ${byName('embed-a')} + ${byName('embed-b')} embedded by the workers, ${redelivered} frames redelivered to the surviving worker`);
    expect(redelivered).toBeGreaterThan(0); // the dead worker's frames came here
    // the survivor's /metrics counts exactly what it put on EMBEDDED; nothing was stale (maxFrameAgeSec 600 here)
    expect(metric(m, 'dino_scale_frames_embedded_total')).toBe(byName('embed-b'));
    expect(metric(m, 'dino_scale_frames_stale_total')).toBe(0);
    // a frame embedded by both workers is one the dead worker never acknowledged, so one redelivered to the survivor
    expect(byName('embed-a') + byName('embed-b') - frames.size).toBeLessThanOrEqual(redelivered);
    // the detect shard scored each frame once (more only for a message the broker delivered to it again)
    const tm = await (await fetch(`http://127.0.0.1:${await portOf(trainer)}/metrics`)).text();
    const scored = metric(tm, 'dino_scale_scored_total');
    expect(scored).toBeGreaterThanOrEqual(got.length);
    expect(scored).toBeLessThanOrEqual(got.length + (metric(tm, 'dino_scale_redelivered_total', 'role="detect"') || 0));
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

    // the broker goes away: every role says so on /healthz (503) and keeps running; back, they resume
    const survivorPort = await portOf(workers[1]!);
    const workerHealth = async () => {
      const r = await fetch(`http://127.0.0.1:${survivorPort}/healthz`);
      return { status: r.status, body: (await r.json()) as { ok: boolean; broker: boolean } };
    };
    let before = 0;
    await broker.restart(async () => {
      await until(async () => (await workerHealth()).status === 503, 'the worker to report the broker gone', 30_000);
      expect((await workerHealth()).body).toMatchObject({ ok: false, broker: false });
      before = Date.now();
    });
    await until(() => embeddings.messages.some((x) => x.m['type'] === 'embedding' && x.at > before + 500), 'embeddings after the broker restart', 90_000);
    await until(async () => (await workerHealth()).status === 200, 'the worker to report the broker back', 30_000);
    const m = await (await fetch(`http://127.0.0.1:${survivorPort}/metrics`)).text();
    expect(metric(m, 'dino_scale_broker_reconnects_total')).toBeGreaterThanOrEqual(1);
    await until(async () => {
      const h = (await (await fetch(`http://127.0.0.1:${gatewayPort}/healthz`)).json()) as { roles: { role: string }[] };
      return ['ingest', 'embed', 'train', 'detect', 'gateway'].every((r) => h.roles.some((x) => x.role === r));
    }, 'every role in the gateway health report after the restart', 30_000);
  });
});
