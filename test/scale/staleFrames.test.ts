/**
 * An embed worker skips the frames that waited in FRAMES longer than nats.maxFrameAgeSec (acknowledged, counted,
 * never embedded) and embeds the fresh ones: one process with the embed and train roles (training off: the trainer
 * publishes its initial teacher once) on Debian's nats-server on 127.0.0.1.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { resolveConfig } from '../../config/loadConfig';
import { selectBackend } from '../../src/backend';
import { decodeEmbeddedFrame } from '../../src/scale/EmbeddedFrameCodec';
import { encodeFrame } from '../../src/scale/FrameCodec';
import { ScaleNode } from '../../src/scale/ScaleNode';
import { ensureTopology, TOPOLOGY } from '../../src/scale/Topology';
import { NatsServer } from '../helpers/natsServer';
import { requireTool } from '../helpers/requireTool';
import { until } from './scaleClient';

jest.setTimeout(120_000);

requireTool('nats-server')('embed worker: frames older than nats.maxFrameAgeSec are skipped, counted and acknowledged', () => {
  let broker: NatsServer;
  let nc: NatsConnection;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-stale-'));

  beforeAll(async () => {
    broker = await NatsServer.start();
    nc = await connect({ servers: broker.url });
  });

  afterAll(async () => {
    await nc?.close();
    await broker?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('6 frames queued before the first teacher are stale (1 s limit); the 4 sent after are embedded, each once', async () => {
    const config = resolveConfig([
      {
        source: 'test',
        values: {
          model: { size: 'micro' },
          train: { enabled: false },
          server: { host: '127.0.0.1', port: 0 },
          checkpoint: { dir: path.join(dir, 'ckpt'), resume: false },
          log: { statusEverySec: 0, level: 'silent' },
          nats: { url: broker.url, roles: ['embed', 'train'], instance: 'stale-test', maxFrameAgeSec: 1, ackWaitSec: 0.5, heartbeatSec: 1 },
        },
        origins: {},
      },
    ]);
    const size = config.train.frameSize;
    const js = jetstream(nc);
    await ensureTopology(await jetstreamManager(nc), config.nats);
    const publish = (index: number) =>
      js.publish(
        TOPOLOGY.frames.subject('cam'),
        encodeFrame({ streamId: 'cam', t: Date.now(), index, width: size, height: size, rgb: new Uint8Array(size * size * 3).fill(index * 20) }),
        { msgID: `cam:test:${index}` },
      );
    const embedded: number[] = [];
    nc.subscribe(TOPOLOGY.embedded.all, { callback: (_e, m) => void embedded.push(decodeEmbeddedFrame(m.data).frame.index) });

    for (let i = 0; i < 6; i++) await publish(i);
    await new Promise((r) => setTimeout(r, 1500)); // older than maxFrameAgeSec before any worker can take them

    const b = config.backend;
    await selectBackend({ backend: b.name, threads: b.threads || undefined, native: b.native, precision: b.precision, log: () => undefined }); // as the node does
    const tensorsBefore = tf.memory().numTensors;
    const node = new ScaleNode(config);
    const counter = async (name: string) => (await node.registry.getSingleMetric(name)!.get()).values.reduce((a, v) => a + v.value, 0);
    try {
      await node.start();
      await until(async () => (await counter('dino_scale_frames_stale_total')) === 6, 'the 6 queued frames to be skipped as stale', 60_000);
      expect(await counter('dino_scale_frames_embedded_total')).toBe(0);

      for (let i = 6; i < 10; i++) await publish(i);
      await until(async () => (await counter('dino_scale_frames_embedded_total')) === 4, 'the 4 fresh frames to be embedded', 60_000);
      await new Promise((r) => setTimeout(r, 1000)); // a stale frame not acknowledged would come back after ackWaitSec
      expect(await counter('dino_scale_frames_stale_total')).toBe(6);
      expect(await counter('dino_scale_frames_embedded_total')).toBe(4);
      expect(await counter('dino_scale_redelivered_total')).toBe(0);
      expect(embedded.sort((a, b) => a - b)).toEqual([6, 7, 8, 9]);
      // nothing left for the workers: every frame, stale or embedded, was acknowledged
      const info = await (await jetstreamManager(nc)).consumers.info(TOPOLOGY.frames.stream, TOPOLOGY.embedConsumer);
      expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0]);
    } finally {
      await node.stop();
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
