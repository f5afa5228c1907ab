/**
 * --init as a user runs it: the trainer's student and teacher start as the file's (a full DINO checkpoint gives each
 * its own), `eval knn --init` reports the file's weights as its untrained row, a preset of the wrong shape exits 2
 * naming the one that fits, and `run --init --no-train` embeds a pushed frame exactly as the file's teacher does.
 * Needs `npm run build` (npm test runs it first).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import WebSocket from 'ws';
import { useBackend } from '../helpers/backend';
import { TrainerService } from '../../src/train/TrainerService';
import { EmbeddingService } from '../../src/agent/EmbeddingService';
import { trainerOptionsFor } from '../../src/train/trainerOptionsFor';
import { readPretrained } from '../../src/pretrained/PretrainedWeights';
import { AgentProcess, CLI } from '../agent/agentProcess';
import { maxAbsDiff } from './fixtureImages';

jest.setTimeout(180_000);
const ROOT = path.resolve(__dirname, '../..');
const FULL = path.join(ROOT, 'test/fixtures/pretrained/dino_full_checkpoint_micro.pth');

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 150_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('starting from pretrained weights (--init)', () => {
  let tmp: string;
  beforeAll(async () => {
    await useBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'init-'));
    // two classes of flat colours, four images each
    for (const [cls, rgb] of [['red', [220, 30, 30]], ['blue', [30, 30, 220]]] as const) {
      for (const split of ['train', 'test']) {
        for (let i = 0; i < 4; i++) {
          const px = Buffer.alloc(16 * 16 * 3);
          for (let j = 0; j < px.length; j++) px[j] = Math.min(255, rgb[j % 3]! + 7 * i + (j % 11));
          const file = path.join(tmp, 'data', split, cls, `${i}.png`);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          await sharp(px, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(file);
        }
      }
    }
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the trainer starts with student = the file\'s student and teacher = its teacher, heads included', async () => {
    const before = tf.memory().numTensors;
    const { options } = trainerOptionsFor('micro', 'finetune', { batchSize: 4, horizonSteps: 100 }, FULL);
    expect(options.model.head.outDim).toBe(64); // the file's head, not the recipe's
    const logs: string[] = [];
    const { service } = await TrainerService.create({ trainer: options, backend: { backend: 'cpu' }, init: FULL }, (m: string) => logs.push(m));
    expect(logs.join('\n')).toMatch(/initialised from dino_full_checkpoint_micro\.pth: DINO pth, ViT patch 4, dim 16, depth 2, position grid 4; with its DINO head \(64 prototypes\), student and teacher/);
    const w = readPretrained(FULL);
    const t = service.frameTrainer.trainer;
    for (const [module, which] of [[t.student, w.student], [t.teacher, w.teacher]] as const) {
      // the mask token (masked-patch objective only) is in no weights file: it keeps its zeros
      const params = module.namedParameters().filter(([n]) => !n.endsWith('mask_token'));
      expect(params.length).toBe(which.size);
      for (const [name, v] of params) expect(Array.from(v.dataSync())).toEqual(Array.from(which.get(name)!.read()));
    }
    service.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('eval knn --init: the untrained row is the file\'s weights; the wrong preset exits 2 naming the right one', () => {
    const json = path.join(tmp, 'knn.json');
    const ok = cli(['eval', 'knn', '--data', path.join(tmp, 'data'), '--model', 'micro', '--recipe', 'finetune', '--init', FULL, '--steps', '2', '--batch', '4', '--buffer', '8', '--backend', 'cpu', '--json', json]);
    expect(ok.stderr).toMatch(/initialised from dino_full_checkpoint_micro\.pth/);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/\| init weights \(dino_full_checkpoint_micro\.pth\) \| [\d.]+ \|/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as { init: string; random_init: { top1: number }; steps: number };
    expect(report.init).toBe(FULL);
    expect(report.steps).toBe(2);
    expect(Number.isFinite(report.random_init.top1)).toBe(true);

    const wrong = cli(['eval', 'knn', '--data', path.join(tmp, 'data'), '--model', 'small', '--init', FULL, '--steps', '1', '--batch', '4']);
    expect(wrong.stderr).toMatch(/^dino-stream eval: --init .*dino_full_checkpoint_micro\.pth: the file is a ViT with embedDim 16 \(model small: 96\), depth 2 \(model small: 4\); use --model micro$/m);
    expect(wrong.code).toBe(2);
  });

  test('run --init --no-train embeds a pushed frame as the file\'s teacher does', async () => {
    const agent = new AgentProcess(['--port', '0', '--model', 'micro', '--init', FULL, '--no-train', '--no-resume', '--checkpoint-dir', path.join(tmp, 'ckpt'), '--source', 'ws:cam']);
    try {
      const [, port] = await agent.waitFor(/dashboard http:\/\/127\.0\.0\.1:(\d+)\//);
      await agent.waitFor(/initialised from dino_full_checkpoint_micro\.pth/);
      const frame = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 37 + (i >> 7)) % 256);
      const sub = new WebSocket(`ws://127.0.0.1:${port}/embeddings?streams=cam&format=json&raw=1`);
      await new Promise((r) => sub.once('open', r));
      const got = new Promise<number[]>((resolve) =>
        sub.on('message', (d, bin) => {
          const m = JSON.parse(d.toString()) as { type: string; raw?: number[] };
          if (!bin && m.type === 'embedding' && m.raw) resolve(m.raw);
        }),
      );
      const push = new WebSocket(`ws://127.0.0.1:${port}/ingest/cam`);
      await new Promise((r) => push.once('open', r));
      const header = Buffer.alloc(8);
      header.write('RGB0', 0, 'ascii');
      header.writeUInt16LE(64, 4);
      header.writeUInt16LE(64, 6);
      push.send(Buffer.concat([header, frame]));
      const raw = await got;
      sub.close();
      push.close();

      const w = readPretrained(FULL);
      const { options } = trainerOptionsFor('micro', 'stream', { batchSize: 4, horizonSteps: 100 }, FULL);
      const service = new EmbeddingService(options.model);
      const params = [...w.teacher].filter(([n]) => n.startsWith('backbone.')).map(([name, t]) => ({ name, shape: t.shape, values: t.read() }));
      service.load({ step: 0, params });
      const expected = await service.embed([{ streamId: 'cam', t: 0, index: 0, width: 64, height: 64, rgb: frame }]);
      service.dispose();
      expect(raw).toHaveLength(16);
      expect(maxAbsDiff(raw, expected.raw[0]!)).toBeLessThan(1e-3);
    } finally {
      agent.signal('SIGTERM');
      await agent.exited;
    }
  });
});
