import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { sincosPosEmbed } from '../../src/model/sincosPosEmbed';
import { VisionTransformer } from '../../src/model/VisionTransformer';
import { modelSize } from '../../src/model/modelSizes';
import { Trainer } from '../../src/train/Trainer';
import { recipe } from '../../src/train/recipes';
import { trainerOptionsSchema } from '../../src/train/TrainerCheckpointSchema';
import { applyOverrides } from '../../src/eval/evalTrainer';

const row = (t: Float32Array, n: number, D: number) => Array.from(t.subarray(n * D, (n + 1) * D));

describe('sincosPosEmbed (MoCo v3 / MAE 2-D sine-cosine table)', () => {
  test('a zero CLS row, then sin/cos of the column and of the row per token, at frequencies 1/10000^(i/(D/4))', () => {
    const t = sincosPosEmbed(2, 8); // q = 2 frequencies: 1 and 0.01
    expect(row(t, 0, 8)).toEqual(new Array(8).fill(0));
    const w = [1, 0.01];
    // token 1 + r*g + c; patch (r 1, c 0) is token 3
    const want = (r: number, c: number) => [...w.map((o) => Math.sin(c * o)), ...w.map((o) => Math.cos(c * o)), ...w.map((o) => Math.sin(r * o)), ...w.map((o) => Math.cos(r * o))];
    for (const [n, r, c] of [[1, 0, 0], [2, 0, 1], [3, 1, 0], [4, 1, 1]] as const) {
      row(t, n, 8).forEach((v, i) => expect(v).toBeCloseTo(want(r, c)[i]!, 6));
    }
  });

  test('the dot product of two tokens depends only on their offset, so attention can read relative position', () => {
    const g = 6, D = 32, t = sincosPosEmbed(g, D);
    const dot = (r1: number, c1: number, r2: number, c2: number) => {
      const a = row(t, 1 + r1 * g + c1, D), b = row(t, 1 + r2 * g + c2, D);
      return a.reduce((s, x, i) => s + x * b[i]!, 0);
    };
    expect(dot(0, 0, 2, 1)).toBeCloseTo(dot(3, 4, 5, 5), 4);
    expect(dot(1, 1, 1, 1)).toBeCloseTo(D / 2, 4); // sin^2 + cos^2 per frequency, two of them per frequency
    expect(dot(0, 0, 0, 1)).toBeGreaterThan(dot(0, 0, 0, 3)); // nearer tokens are more alike
  });

  test('refuses an embedding width that is not a multiple of 4, saying why', () => {
    expect(() => sincosPosEmbed(4, 18)).toThrow(/embedDim divisible by 4.*got 18/);
  });
});

describe('a ViT with posEmbed sincos', () => {
  beforeAll(() => useBackend('cpu'));

  test('holds the fixed table, and a training step moves the other weights but not it (student and teacher)', () => {
    const before = tf.memory().numTensors;
    const model = modelSize('micro');
    model.vit.posEmbed = 'sincos';
    const vit = new VisionTransformer(model.vit, 0);
    const g = model.vit.imgSize / model.vit.patchSize;
    expect(Array.from(vit.posEmbed.dataSync())).toEqual(Array.from(sincosPosEmbed(g, model.vit.embedDim)));
    expect(vit.posEmbed.trainable).toBe(false);
    vit.dispose();

    const t = new Trainer({ ...recipe('stream', { model, batchSize: 2, horizonSteps: 20 }), warmupSteps: 0, freezeLastLayerSteps: 0 });
    const get = (n: string) => t.student.namedParameters().find(([k]) => k === n)![1].dataSync().slice();
    const pos0 = get('backbone.pos_embed'), cls0 = get('backbone.cls_token');
    const c = model.crops;
    const crops = [c.globalSize, c.globalSize, ...Array(c.nLocal).fill(c.localSize)].map((s: number, i) => tf.randomNormal([2, s, s, 3], 0, 1, 'float32', i) as tf.Tensor4D);
    t.trainStep(crops);
    tf.dispose(crops);
    expect(Array.from(get('backbone.pos_embed'))).toEqual(Array.from(pos0));
    expect(Array.from(get('backbone.cls_token'))).not.toEqual(Array.from(cls0));
    // the official EMA runs over every parameter; of two equal tables it can only round
    const teacherPos = t.teacher.namedParameters().find(([k]) => k === 'backbone.pos_embed')![1].dataSync();
    teacherPos.forEach((v, i) => expect(Math.abs(v - pos0[i]!)).toBeLessThan(1e-6));
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('--set model.vit.posEmbed=sincos is accepted though presets leave it out; another word or a checkpoint header naming one is refused', () => {
    const base = recipe('stream', { model: modelSize('micro'), batchSize: 2, horizonSteps: 20 });
    expect(applyOverrides(base, { 'model.vit.posEmbed': 'sincos' }).model.vit.posEmbed).toBe('sincos');
    expect(base.model.vit.posEmbed).toBeUndefined();
    expect(() => applyOverrides(base, { 'model.vit.posEmbed': 'sin' })).toThrow(/expected one of learned, sincos, got "sin"/);
    const header = (posEmbed: unknown) => trainerOptionsSchema.safeParse({ ...base, model: { ...base.model, vit: { ...base.model.vit, posEmbed } } }).success;
    expect(header('sincos')).toBe(true);
    expect(header('rope')).toBe(false);
  });
});
