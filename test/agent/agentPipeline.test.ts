/**
 * The agent's data path as `dino-stream run` builds it (src/agent/agentPipeline.ts), with the real operators,
 * replay buffer, teacher copy (micro model) and detectors, and a fake trainer in place of the worker: a paced
 * camera, a source that floods past its configured rate, and a client pushing faster than its declared fps.
 */
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { interval, map, mergeMap, range, Subject, type Subscription } from 'rxjs';
import { configSchema } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { CameraState } from '../../streams/CameraState';
import { SyntheticCamera } from '../../streams/sources/SyntheticCamera';
import { selectBackend } from '../../src/backend';
import { modelSize } from '../../src/model/modelSizes';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import type { StepResult } from '../../src/train/Trainer';
import type { TeacherSnapshot } from '../../src/train/TrainerService';
import type { TrainerHandle } from '../../src/train/WorkerTrainer';
import { agentPipeline, createSinks } from '../../src/agent/agentPipeline';
import { fixedSources } from '../../src/agent/buildSources';
import { EmbeddingService } from '../../src/agent/EmbeddingService';
import { StreamDetectors } from '../../src/agent/StreamDetectors';
import { AgentMetrics } from '../../src/agent/AgentMetrics';
import { StreamRates } from '../../src/agent/StreamRates';
import type { AgentEvent, AttentionMessage, EmbeddingMessage, StatsMessage, ThumbnailMessage } from '../../src/types/messages';
import { silentLogger } from '../../src/util/Logger';
import { sleep } from '../streams/waitFor';

const SIZE = 16;
const model = modelSize('micro');

/** The teacher backbone's weights of a fresh micro ViT, as the trainer worker would snapshot them at `step`. */
function snapshotAt(step: number, seed: number): TeacherSnapshot {
  const vit = new VisionTransformer(model.vit, seed);
  const params = vit.namedParameters().map(([name, v]) => ({ name, shape: v.shape.slice(), values: v.dataSync() as Float32Array }));
  vit.dispose();
  return { step, params };
}

/** A trainer that takes 60 ms a step and records what it was given; its teacher moves to step 7 after the first step. */
class FakeTrainer implements TrainerHandle {
  readonly ready = { info: { name: 'wasm' } as TrainerHandle['ready']['info'], step: 0 };
  active = 0;
  maxActive = 0;
  batches: Frame[][] = [];
  async step(frames: Frame[]): Promise<StepResult> {
    this.maxActive = Math.max(this.maxActive, ++this.active);
    this.batches.push(frames);
    await sleep(60);
    this.active--;
    const step = this.batches.length - 1;
    const lnOutDim = Math.log(model.head.outDim);
    return {
      step, loss: 5, koleo: 0, koleoWeight: 0, ibot: 0, maskedTokens: 0, lr: 1e-3, weightDecay: 0.04, momentum: 0.99, teacherTemp: 0.04, teacherEntropy: 4,
      embeddingStd: 0.2, lossOverLnK: 5 / lnOutDim, lnOutDim, healthyStd: 1 / Math.sqrt(model.vit.embedDim), ms: 60,
    };
  }
  snapshot(): Promise<TeacherSnapshot> {
    return Promise.resolve(snapshotAt(this.batches.length > 0 ? 7 : 0, 1));
  }
  checkpoint(): Promise<string | null> {
    return Promise.resolve(null);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}


describe('agentPipeline', () => {
  beforeAll(async () => {
    await selectBackend({ backend: 'wasm', log: () => undefined });
  });

  test('sources -> per-stream rate -> {fair mix -> training loop, embedding rounds -> detectors, thumbnails} -> hub', async () => {
    const cfg = configSchema.parse({
      // fifo never turns a frame away, so every frame counted as dropped was dropped by the fair mix
      train: { frameSize: SIZE, batchSize: 4, bufferSize: 32, bufferPolicy: 'fifo', updatesPerFrame: 0.5 },
      sources: [
        { kind: 'synthetic', id: 'cam', fps: 10, seed: 1 },
        { kind: 'file', id: 'flood', path: 'flood.mp4', fps: 10 }, // configured at 10 fps, delivers 250 (a file read faster than real time)
        { kind: 'ws', id: 'phone', fps: 20 },
      ],
      embed: { fps: 10, teacherRefreshSec: 0.5, attentionEverySec: 0.5, thumbnailFps: 4 },
    });
    const teacher = new EmbeddingService(model);
    teacher.load(snapshotAt(0, 1));
    const trainer = new FakeTrainer();
    const states = new Subject<CameraState>();
    const frame = (streamId: string, index: number): Frame => ({ streamId, t: Date.now(), index, width: SIZE, height: SIZE, rgb: new Uint8Array(SIZE * SIZE * 3).fill((index * 37) & 255) });
    const paced = [
      { id: 'cam', kind: 'synthetic' as const, frames$: new SyntheticCamera({ streamId: 'cam', width: SIZE, height: SIZE, fps: 10, seed: 1 }).frames$ },
      // bursts of 5 frames every 20 ms: whatever the timers do, 3 of each burst find the stream's queue full
      { id: 'flood', kind: 'file' as const, frames$: interval(20).pipe(mergeMap((i) => range(5 * i, 5)), map((i) => frame('flood', i))), state$: states },
    ];
    const pushed$ = new Subject<Frame>();
    const sinks = createSinks();
    const got = { embeddings: [] as EmbeddingMessage[], events: [] as AgentEvent[], stats: [] as StatsMessage[], thumbnails: [] as ThumbnailMessage[], attention: [] as AttentionMessage[] };
    const subs: Subscription[] = Object.entries(sinks).map(([k, s]) => (s as Subject<unknown>).subscribe((m) => (got[k as keyof typeof got] as unknown[]).push(m)));

    // the model is never used by two rounds (or a round and a refresh) at once
    let inFlight = 0;
    let maxInFlight = 0;
    const realEmbed = teacher.embed.bind(teacher);
    jest.spyOn(teacher, 'embed').mockImplementation(async (frames, opts) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await realEmbed(frames, opts);
      } finally {
        inFlight--;
      }
    });

    const rates = new StreamRates();
    const tensorsBefore = tf.memory().numTensors;
    const run = agentPipeline({
      config: cfg,
      sources: fixedSources(paced, 10, new Map([['phone', 20]])),
      pushed$,
      events: null,
      trainer,
      teacher,
      detectors: new StreamDetectors(cfg.detect),
      probe: null,
      sinks,
      metrics: new AgentMetrics(new Registry()),
      rates,
      log: silentLogger,
    }).subscribe();
    let phoneIndex = 0;
    const phone = setInterval(() => {
      for (let i = 0; i < 5; i++) pushed$.next(frame('phone', phoneIndex++)); // far faster than 20 fps
    }, 10);
    states.next({ streamId: 'flood', state: 'live', t: Date.now(), detail: 'first frame' });
    const t0 = Date.now();
    await sleep(3000);
    const seconds = (Date.now() - t0) / 1000;
    run.unsubscribe();
    clearInterval(phone);
    const counts = { embeddings: got.embeddings.length, steps: trainer.batches.length };
    await sleep(300);
    await teacher.exclusive(async () => undefined);

    // nothing runs after unsubscribing
    expect(got.embeddings.length).toBe(counts.embeddings);
    expect(trainer.batches.length).toBe(counts.steps);
    // per-stream rate: the phone's frames are throttled to its declared 20 fps before they are counted as received
    const received = rates.summary();
    expect(phoneIndex).toBeGreaterThan(60 * seconds);
    expect(received.phone!.frames).toBeLessThanOrEqual(20 * seconds + 2);
    expect(received.phone!.frames).toBeGreaterThan(8 * seconds);
    // fair mix: one frame per stream per round, at most two queued; a burst drops its own oldest frames (counted)
    // and the camera, within its rate, loses nothing
    const last = got.stats[got.stats.length - 1]!;
    expect(received.flood!.frames).toBeGreaterThan(50 * seconds);
    expect(last.streams.flood!.dropped).toBeGreaterThanOrEqual(0.5 * received.flood!.frames);
    expect(last.streams.cam!.dropped).toBe(0);
    // the training loop: one step at a time, on batches of the buffer's frames, reported as stats
    expect(trainer.maxActive).toBe(1);
    expect(counts.steps).toBeGreaterThan(10);
    expect(trainer.batches.every((b) => b.length === 4 && b.every((f) => f.width === SIZE))).toBe(true);
    expect(new Set(trainer.batches.flat().map((f) => f.streamId))).toEqual(new Set(['cam', 'flood', 'phone']));
    expect(got.stats.map((s) => s.step)).toEqual(got.stats.map((_, i) => i + 1));
    expect(last.bufferSize).toBe(32);
    // embedding rounds: every stream's newest frame, each frame once, never two rounds on the model at once
    expect(maxInFlight).toBe(1);
    for (const id of ['cam', 'flood', 'phone']) {
      const mine = got.embeddings.filter((e) => e.streamId === id);
      expect(mine.length).toBeGreaterThan(5);
      expect(new Set(mine.map((e) => e.frameIndex)).size).toBe(mine.length);
      expect(mine.every((e) => e.dim === model.vit.embedDim && Math.abs(Math.hypot(...e.embedding) - 1) < 1e-4)).toBe(true);
    }
    // the teacher copy follows the trainer's snapshots: later embeddings carry the new teacher step
    expect(got.embeddings[0]!.teacherStep).toBe(0);
    expect(got.embeddings[got.embeddings.length - 1]!.teacherStep).toBe(7);
    // attention maps (one stream per round, in turn) and thumbnails of every stream
    expect(got.attention.length).toBeGreaterThan(1);
    expect(got.attention[0]!.maps.length).toBe(model.vit.numHeads * (model.crops.globalSize / model.vit.patchSize) ** 2);
    expect(new Set(got.thumbnails.map((m) => m.streamId))).toEqual(new Set(['cam', 'flood', 'phone']));
    // camera states become events
    expect(got.events).toContainEqual({ type: 'camera', streamId: 'flood', t: expect.any(Number), state: 'live', detail: 'first frame' });
    expect(received.flood!.state).toBe('live');
    expect(tf.memory().numTensors).toBe(tensorsBefore);

    subs.forEach((s) => s.unsubscribe());
    teacher.dispose();
  });

  test('forget$ drops a pushed stream everywhere; streams opened by clients are embedded apart, at most openStreamsPerRound a round', async () => {
    const cfg = configSchema.parse({
      train: { frameSize: SIZE, batchSize: 4, bufferSize: 24, bufferPolicy: 'fifo', updatesPerFrame: 0.5 },
      sources: [{ kind: 'synthetic', id: 'cam', fps: 10, seed: 1 }],
      embed: { fps: 10, teacherRefreshSec: 60, attentionEverySec: 0, thumbnailFps: 0, openStreamsPerRound: 2 },
    });
    const teacher = new EmbeddingService(model);
    teacher.load(snapshotAt(0, 1));
    const rounds: string[][] = [];
    const realEmbed = teacher.embed.bind(teacher);
    jest.spyOn(teacher, 'embed').mockImplementation(async (frames, opts) => {
      rounds.push(frames.map((f) => f.streamId));
      return realEmbed(frames, opts);
    });
    const sinks = createSinks();
    const stats: StatsMessage[] = [];
    const embedded: string[] = [];
    sinks.stats.subscribe((m) => stats.push(m));
    sinks.embeddings.subscribe((m) => embedded.push(m.streamId));
    const registry = new Registry();
    const metrics = new AgentMetrics(registry);
    sinks.stats.subscribe((m) => metrics.onStats(m));
    const detectors = new StreamDetectors(cfg.detect);
    const rates = new StreamRates();
    const pushed$ = new Subject<Frame>();
    const forget$ = new Subject<string>();
    const cam = { id: 'cam', kind: 'synthetic' as const, frames$: new SyntheticCamera({ streamId: 'cam', width: SIZE, height: SIZE, fps: 10, seed: 1 }).frames$ };
    const run = agentPipeline({
      config: cfg,
      sources: fixedSources([cam], 10),
      pushed$,
      isOpenStream: (id) => id !== 'cam',
      forget$,
      events: null,
      trainer: new FakeTrainer(),
      teacher,
      detectors,
      probe: null,
      sinks,
      metrics,
      rates,
      log: silentLogger,
    }).subscribe();
    const open = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    let live = [...open];
    let k = 0;
    const push = setInterval(() => {
      for (const id of live) pushed$.next({ streamId: id, t: Date.now(), index: k, width: SIZE, height: SIZE, rgb: new Uint8Array(SIZE * SIZE * 3).fill((k * 13) & 255) });
      k++;
    }, 100);
    await sleep(2500);
    const before = { detectors: detectors.streamIds().sort(), stats: Object.keys(stats[stats.length - 1]!.streams).sort() };
    live = live.filter((id) => id !== 'o1');
    forget$.next('o1');
    const forgotAt = embedded.length;
    await sleep(1500);
    run.unsubscribe();
    clearInterval(push);
    await teacher.exclusive(async () => undefined);

    // the configured camera's rounds hold only its frame; the open streams' rounds at most two of six, each in turn
    expect(rounds.filter((r) => r.includes('cam')).length).toBeGreaterThan(10);
    for (const r of rounds) expect(r.includes('cam') ? r : r.slice(0, 2)).toEqual(r.includes('cam') ? ['cam'] : r);
    for (const id of open.slice(1)) expect(embedded.filter((e) => e === id).length).toBeGreaterThan(2);
    expect(before.detectors).toEqual(['cam', ...open]);
    expect(before.stats).toEqual(['cam', ...open]);
    // after forget$: no state, series or embedding of o1 anywhere
    const last = stats[stats.length - 1]!;
    expect(Object.keys(last.streams).sort()).toEqual(['cam', ...open.slice(1)]);
    expect(Object.keys(rates.summary())).not.toContain('o1');
    expect(detectors.streamIds()).not.toContain('o1');
    expect(last.streams['o2']!.buffered).toBeGreaterThan(0);
    expect(Object.values(last.streams).reduce((a, s) => a + (s.buffered ?? 0), 0)).toBe(24); // o1's slots went to the others
    expect(await registry.metrics()).not.toMatch(/stream="o1"/);
    expect(embedded.slice(forgotAt + 2)).not.toContain('o1');
    teacher.dispose();
  });
});
