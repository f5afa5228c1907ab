/**
 * The live k-NN probe with the agent's own pieces: a micro-model EmbeddingService (the main-thread teacher copy)
 * whose exclusive() serialises the probe's batches with the embedding rounds of the agent's pipeline on a live stream.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import { selectBackend } from '../../src/backend';
import { modelSize } from '../../src/model/modelSizes';
import { EmbeddingService } from '../../src/agent/EmbeddingService';
import { agentPipeline, createSinks } from '../../src/agent/agentPipeline';
import { fixedSources } from '../../src/agent/buildSources';
import { StreamRates } from '../../src/agent/StreamRates';
import { StreamDetectors } from '../../src/agent/StreamDetectors';
import { AgentMetrics } from '../../src/agent/AgentMetrics';
import { KnnClassifier } from '../../src/probe/KnnClassifier';
import { LiveProbe } from '../../src/probe/LiveProbe';
import { ImageFolderError } from '../../src/probe/ImageFolder';
import { silentLogger } from '../../src/util/Logger';
import type { Frame } from '../../streams/Frame';
import { configSchema } from '../../config/schema';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10');
const PER_CLASS = 4;
const BATCH = 7;

const framesOf = (images: Uint8Array[], size: number, streamId = 'probe'): Frame[] =>
  images.map((rgb, index) => ({ streamId, t: Date.now(), index, width: size, height: size, rgb }));

describe('LiveProbe', () => {
  let service: EmbeddingService;
  let probe: LiveProbe;

  beforeAll(async () => {
    await selectBackend({ backend: 'wasm', log: () => undefined });
    service = new EmbeddingService(modelSize('micro'));
    service.teacherStep = 0; // the random-init copy stands in for a loaded teacher
    probe = await LiveProbe.load({ dir: CIFAR, perClass: PER_CLASS, size: 16, batch: BATCH });
  });
  afterAll(() => service.dispose());

  test("top-1 equals a direct KnnClassifier computation on the same features; batches interleave with the pipeline's rounds, one at a time", async () => {
    expect(probe.train.images).toHaveLength(10 * PER_CLASS);
    expect(probe.test.images).toHaveLength(10 * PER_CLASS);
    expect(probe.imageSize).toBe(16);
    // a pushed stream at up to 120 fps, embedded up to 60 times a second
    const cfg = configSchema.parse({ sources: [{ kind: 'ws', id: 'cam', fps: 120 }], embed: { fps: 60, attentionEverySec: 0, thumbnailFps: 0 } });
    const sinks = createSinks();
    const embeddings = sinks.embeddings;
    const pushed$ = new Subject<Frame>();
    const pipeline = agentPipeline({
      config: cfg,
      sources: fixedSources([], 0, new Map([['cam', 120]])),
      pushed$,
      events: null,
      trainer: null,
      teacher: service,
      detectors: new StreamDetectors(cfg.detect),
      probe: null,
      sinks,
      metrics: new AgentMetrics(new Registry()),
      rates: new StreamRates(),
      log: silentLogger,
    }).subscribe();

    // Count overlapping inference calls on the shared model.
    let inFlight = 0;
    let maxInFlight = 0;
    const realEmbed = service.embed.bind(service);
    const spy = jest.spyOn(service, 'embed').mockImplementation(async (frames, opts) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await realEmbed(frames, opts);
      } finally {
        inFlight--;
      }
    });
    const batches: Float32Array[][] = [];
    const embed = (images: Uint8Array[]) =>
      service.exclusive(async () => {
        const out = (await service.embed(framesOf(images, 16))).normalized;
        batches.push(out);
        return out;
      });

    // A live camera ticking meanwhile, and a spinner that only runs when the event loop is free.
    const live = framesOf(probe.test.images.slice(0, 8), 16, 'cam');
    let liveEmbedded = 0;
    embeddings.subscribe(() => liveEmbedded++);
    let spins = 0;
    let done = false;
    const spin = () => {
      spins++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    let n = 0;
    const ticker = setInterval(() => {
      pushed$.next({ ...live[n % live.length]!, index: n, t: Date.now() });
      n++;
    }, 1);

    const before = tf.memory().numTensors;
    const r = await probe.evaluate(embed, () => service.teacherStep);
    done = true;
    clearInterval(ticker);
    pipeline.unsubscribe();
    await service.exclusive(async () => undefined); // let a round in flight finish
    expect(tf.memory().numTensors).toBe(before);
    spy.mockRestore();

    expect(r).not.toBeNull();
    const nImages = 20 * PER_CLASS;
    expect(batches.map((b) => b.length)).toEqual(Array.from({ length: Math.ceil(nImages / BATCH) }, (_, i) => Math.min(BATCH, nImages - i * BATCH)));
    const features = batches.flat();
    const nTrain = probe.train.images.length;
    const direct = await new KnnClassifier(features.slice(0, nTrain), probe.train.labels, 10).evaluate(features.slice(nTrain), probe.test.labels);
    expect(r!.top1).toBe(100 * direct.top1);
    expect(r!.top1).toBeGreaterThanOrEqual(0);
    expect(r!.top1).toBeLessThanOrEqual(100);
    expect(r!.n).toBe(probe.test.images.length);
    expect(r!.teacherStep).toBe(0);

    // The features are the teacher's: the same as one unbatched pass over the probe images.
    const whole = (await service.embed(framesOf([...probe.train.images, ...probe.test.images], 16))).normalized;
    whole.forEach((w, i) => w.forEach((v, j) => expect(features[i]![j]!).toBeCloseTo(v, 4)));

    expect(maxInFlight).toBe(1);
    expect(liveEmbedded).toBeGreaterThan(0); // live rounds ran between probe batches
    expect(spins).toBeGreaterThanOrEqual(batches.length - 1); // the event loop was free between batches
    console.log(`live probe (micro, random init, ${PER_CLASS}/class): top-1 ${r!.top1.toFixed(1)} % in ${r!.ms} ms; ${liveEmbedded} live embeddings interleaved`);
  });

  test('a teacher refresh in the middle voids the round; a bad folder is an ImageFolderError', async () => {
    let v = 0;
    const embed = async (images: Uint8Array[]) => {
      v++; // the teacher moves after every batch
      return (await service.embed(framesOf(images, 16))).normalized;
    };
    const before = tf.memory().numTensors;
    expect(await probe.evaluate(embed, () => v)).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    await expect(LiveProbe.load({ dir: path.join(CIFAR, 'train'), perClass: 1, size: 16 })).rejects.toBeInstanceOf(ImageFolderError);
  });
});
