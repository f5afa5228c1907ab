/**
 * Pretrained weights against PyTorch: test/fixtures/pretrained holds small ViTs saved as the official files are (DINO's
 * torch.save state dict as zip and legacy .pth and as .safetensors; a full DINO training checkpoint; Hugging Face
 * DINOv2 with and without registers as F16 / BF16 .safetensors) and the CLS embeddings PyTorch computed from them
 * (scripts/reference/pretrained_reference.py). Loaded here, our ViT must give the same embeddings to 1e-4, at the
 * position grid the file was trained for and at smaller and larger ones (each layout's own interpolation).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { MultiCropWrapper } from '../../src/model/MultiCropWrapper';
import { modelSize } from '../../src/model/modelSizes';
import { loadWeights, readPretrained, type PretrainedWeights } from '../../src/pretrained/PretrainedWeights';
import { readSafetensors } from '../../src/pretrained/Safetensors';
import { fixtureImages, maxAbsDiff } from './fixtureImages';
import { safetensorsBytes } from './safetensorsBytes';

const DIR = path.join(__dirname, '../fixtures/pretrained');
interface Case { size: number; cls: number[] }
const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as Record<string, { heads: number; cases: Case[] }> & {
  dino_full_checkpoint_micro: { student: Case & { logits: number[] }; teacher: Case & { logits: number[] } };
};

function build(w: PretrainedWeights, heads: number): MultiCropWrapper {
  const micro = modelSize('micro');
  return new MultiCropWrapper({ ...micro, vit: { ...w.arch.vit, numHeads: heads }, head: w.arch.head ?? micro.head });
}

async function cls(model: MultiCropWrapper, size: number): Promise<Float32Array> {
  const x = fixtureImages(2, size);
  try {
    return tf.tidy(() => model.backbone.apply(x).cls.dataSync() as Float32Array);
  } finally {
    x.dispose();
  }
}

describe.each(['cpu', 'wasm'] as const)('pretrained weights on %s: embeddings equal PyTorch', (backend) => {
  beforeAll(() => useBackend(backend));

  test.each([
    ['dino_vit_p8.pth', 'dino_vit_p8', 'dino', 'pth'],
    ['dino_vit_p8_legacy.pth', 'dino_vit_p8', 'dino', 'pth'],
    ['dino_vit_p8.safetensors', 'dino_vit_p8', 'dino', 'safetensors'],
    ['hf_dinov2_reg_p14_f16.safetensors', 'hf_dinov2_reg_p14_f16', 'hf-dinov2', 'safetensors'],
    ['hf_dinov2_p14_bf16.safetensors', 'hf_dinov2_p14_bf16', 'hf-dinov2', 'safetensors'],
  ])('%s: CLS embeddings at every size within 1e-4 of PyTorch', async (file, key, layout, format) => {
    const before = tf.memory().numTensors;
    const w = readPretrained(path.join(DIR, file));
    expect([w.layout, w.format]).toEqual([layout, format]);
    const ref = reference[key]!;
    const model = build(w, ref.heads);
    loadWeights(w, [{ module: model, tensors: 'student' }]);
    for (const c of ref.cases) {
      const ours = await cls(model, c.size);
      expect(ours.length).toBe(c.cls.length);
      expect(maxAbsDiff(ours, c.cls)).toBeLessThan(1e-4);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('blocks in DINOv2 training chunks (blocks.<chunk>.<block>.*) load as the same ViT', async () => {
    const before = tf.memory().numTensors;
    // two blocks in two chunks: chunk 1 holds an Identity and then block 1, so its keys are blocks.1.1.*
    const src = readSafetensors(fs.readFileSync(path.join(DIR, 'dino_vit_p8.safetensors')));
    const chunked = Object.fromEntries([...src].map(([k, t]) => [k.replace(/^blocks\.(\d+)\./, 'blocks.$1.$1.'), { dtype: 'F32', shape: t.shape, data: new Uint8Array(t.read().buffer) }]));
    expect(Object.keys(chunked)).toContain('blocks.1.1.mlp.fc2.bias');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chunked-')), 'chunked.safetensors');
    fs.writeFileSync(file, safetensorsBytes(chunked));
    const w = readPretrained(file);
    expect(w.arch.vit).toMatchObject({ patchSize: 8, depth: 2 });
    const ref = reference['dino_vit_p8']!;
    const model = build(w, ref.heads);
    loadWeights(w, [{ module: model, tensors: 'student' }]);
    for (const c of ref.cases) expect(maxAbsDiff(await cls(model, c.size), c.cls)).toBeLessThan(1e-4);
    model.dispose();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('the DINOv2 files bring LayerScale, registers and Hugging Face interpolation; DINO files bring none', () => {
    const reg = readPretrained(path.join(DIR, 'hf_dinov2_reg_p14_f16.safetensors')).arch.vit;
    expect(reg).toMatchObject({ patchSize: 14, embedDim: 16, depth: 2, mlpRatio: 4, imgSize: 70, numRegisterTokens: 4, posEmbedInterpolation: 'size-antialias' });
    expect(reg.layerScale).toBeDefined();
    expect(readPretrained(path.join(DIR, 'hf_dinov2_p14_bf16.safetensors')).arch.vit.posEmbedInterpolation).toBe('size');
    const dino = readPretrained(path.join(DIR, 'dino_vit_p8.pth'));
    expect(dino.arch.vit).toEqual({ patchSize: 8, embedDim: 16, depth: 2, mlpRatio: 4, imgSize: 32 });
    expect(dino.arch.head).toBeUndefined();
  });

  test('a full DINO checkpoint: the student gets `student` (DDP prefix), the teacher `teacher`, both with their heads', async () => {
    const before = tf.memory().numTensors;
    const w = readPretrained(path.join(DIR, 'dino_full_checkpoint_micro.pth'));
    expect(w.arch.head).toEqual({ hiddenDim: 32, bottleneckDim: 16, outDim: 64, nlayers: 3, normLastLayer: true });
    const ref = reference.dino_full_checkpoint_micro;
    const student = build(w, 2);
    const teacher = build(w, 2);
    loadWeights(w, [
      { module: student, tensors: 'student' },
      { module: teacher, tensors: 'teacher' },
    ]);
    for (const [model, r] of [[student, ref.student], [teacher, ref.teacher]] as const) {
      const x = fixtureImages(2, r.size);
      const out = tf.tidy(() => {
        const o = model.apply([x]);
        return [o.features.dataSync(), o.logits.dataSync()] as const;
      });
      x.dispose();
      expect(maxAbsDiff(out[0], r.cls)).toBeLessThan(1e-4);
      expect(maxAbsDiff(out[1], r.logits)).toBeLessThan(1e-4);
    }
    // the two really differ, so the test would see them swapped
    expect(maxAbsDiff(Float32Array.from(ref.student.cls), ref.teacher.cls)).toBeGreaterThan(1e-2);
    student.dispose();
    teacher.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
