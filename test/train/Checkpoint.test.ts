import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { useBackend, expectClose } from '../helpers/backend';
import { Trainer } from '../../src/train/Trainer';
import { CheckpointStore, type LoadedCheckpoint } from '../../src/train/CheckpointStore';
import { CheckpointError } from '../../src/train/Checkpoint';
import { optionsForCheckpoint, restoreTrainer, saveTrainer } from '../../src/train/TrainerCheckpoint';
import { modelSize } from '../../src/model/modelSizes';
import { paperRecipe } from '../../src/train/TrainerOptions';
import { validateTrainerCheckpoint } from '../../src/train/TrainerCheckpointSchema';
import { resumeOptions, runSteps, saveRun, weightsOf } from './resumeRun';

const tsx = path.resolve(__dirname, '../../node_modules/.bin/tsx');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'dino-ckpt-'));

/** A checkpoint of a trainer after two steps, and the weights it holds. */
async function savedAfterTwoSteps(): Promise<{ want: Record<string, number[]>; ckpt: LoadedCheckpoint }> {
  const store = new CheckpointStore(tmp());
  const trainer = new Trainer(resumeOptions());
  runSteps(trainer, 2);
  const want = weightsOf(trainer);
  await saveTrainer(store, trainer);
  trainer.dispose();
  return { want, ckpt: (await store.loadLatest())! };
}

describe('checkpoints', () => {
  beforeAll(() => useBackend('cpu'));

  test('N steps, save, resume in a new process, M steps == N+M steps uninterrupted', async () => {
    const N = 3;
    const M = 3;
    const straight = new Trainer(resumeOptions());
    const lossesStraight = runSteps(straight, N + M);
    const want = weightsOf(straight);
    straight.dispose();

    const dir = tmp();
    const first = await saveRun(dir, N);
    expect(first).toEqual(lossesStraight.slice(0, N));
    const out = path.join(dir, 'out.json');
    execFileSync(tsx, [path.join(__dirname, 'resumeChild.ts'), dir, String(M), out, 'cpu'], { stdio: 'pipe' });
    const resumed = JSON.parse(fs.readFileSync(out, 'utf8')) as { step0: number; losses: number[]; weights: Record<string, number[]> };
    expect(resumed.step0).toBe(N);
    expectClose(resumed.losses, lossesStraight.slice(N), 1e-6, 1e-5, 'losses after resume');
    expect(Object.keys(resumed.weights).sort()).toEqual(Object.keys(want).sort());
    for (const [name, w] of Object.entries(want)) expectClose(resumed.weights[name]!, w, 1e-6, 1e-5, name);
  }, 120000);

  test('a checkpoint written on one backend loads bit-exactly on another', async () => {
    const dir = tmp();
    await useBackend('wasm');
    const t1 = new Trainer(resumeOptions());
    runSteps(t1, 2);
    const onWasm = weightsOf(t1);
    await saveTrainer(new CheckpointStore(dir), t1);
    t1.dispose();
    await useBackend('cpu');
    const t2 = new Trainer(resumeOptions());
    restoreTrainer(t2, (await new CheckpointStore(dir).loadLatest())!);
    const onCpu = weightsOf(t2);
    for (const [n, w] of Object.entries(onWasm)) expect(onCpu[n]).toEqual(w);
    expect(t2.stepCount).toBe(2);
    t2.dispose();
  });

  test('truncated, corrupted and foreign files fail with a clear error; the latest good one is used', async () => {
    const dir = tmp();
    const logs: string[] = [];
    const store = new CheckpointStore(dir, { keep: 5, log: (m) => logs.push(m) });
    const trainer = new Trainer(resumeOptions());
    runSteps(trainer, 1);
    const good = await saveTrainer(store, trainer);
    runSteps(trainer, 1);
    const newer = await saveTrainer(store, trainer);
    const bytes = fs.readFileSync(newer);

    fs.writeFileSync(newer, bytes.subarray(0, bytes.length - 1000));
    await expect(store.load(newer)).rejects.toThrow(/truncated/);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 5000]! ^= 0xff;
    fs.writeFileSync(newer, flipped);
    await expect(store.load(newer)).rejects.toThrow(/checksum mismatch/);
    fs.writeFileSync(newer, Buffer.from('hello, not a checkpoint at all, definitely not'));
    await expect(store.load(newer)).rejects.toThrow(CheckpointError);
    await expect(store.load(newer)).rejects.toThrow(/bad magic/);

    const latest = await store.loadLatest();
    expect(latest!.file).toBe(good);
    expect(latest!.header.step).toBe(1);
    expect(logs.join('\n')).toMatch(/bad magic.*trying an older checkpoint/);
    trainer.dispose();
  });

  test('a failed write (disk full) leaves the previous checkpoint untouched and no temp file', async () => {
    const dir = tmp();
    const store = new CheckpointStore(dir);
    const trainer = new Trainer(resumeOptions());
    runSteps(trainer, 1);
    const good = await saveTrainer(store, trainer);
    const goodBytes = fs.readFileSync(good);
    runSteps(trainer, 1);
    const realOpen = fs.promises.open;
    const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof realOpen>) => {
      const fh = await realOpen(...args);
      if (String(args[0]).endsWith('.tmp')) {
        fh.writeFile = async () => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        };
      }
      return fh;
    });
    await expect(saveTrainer(store, trainer)).rejects.toThrow(/ENOSPC/);
    spy.mockRestore();
    expect(fs.readdirSync(dir)).toEqual([path.basename(good)]);
    expect(fs.readFileSync(good).equals(goodBytes)).toBe(true);
    trainer.dispose();
  });

  test('a checkpoint of another model is refused, naming the difference', async () => {
    const dir = tmp();
    const store = new CheckpointStore(dir);
    const trainer = new Trainer(resumeOptions());
    await saveTrainer(store, trainer);
    trainer.dispose();
    const other = new Trainer(paperRecipe({ ...modelSize('micro'), vit: { ...modelSize('micro').vit, depth: 3 } }, 4, 20, 2));
    const ckpt = (await store.loadLatest())!;
    expect(() => restoreTrainer(other, ckpt)).toThrow(/different model \(vit\.depth: 2 vs 3\)/);
    other.dispose();
  });

  test('a checkpoint of the patch-embedding model is refused by one with a convolutional stem, naming the stem', async () => {
    const { ckpt } = await savedAfterTwoSteps();
    const opts = resumeOptions();
    const conv = new Trainer({ ...opts, model: { ...opts.model, vit: { ...opts.model.vit, stem: [4, 8] } } });
    expect(() => restoreTrainer(conv, ckpt)).toThrow(/different model \(vit\.stem: undefined vs \[4,8\]\)/);
    conv.dispose();
  });

  test('a checkpoint of a model with a convolutional stem passes the header checks and resumes; a header naming another stem is refused', async () => {
    const before = tf.memory().numTensors;
    const opts = resumeOptions();
    const conv = { ...opts, model: { ...opts.model, vit: { ...opts.model.vit, stem: [4, 8] } } };
    const store = new CheckpointStore(tmp(), { validate: validateTrainerCheckpoint });
    const trainer = new Trainer(conv);
    runSteps(trainer, 2);
    const want = weightsOf(trainer);
    await saveTrainer(store, trainer);
    trainer.dispose();
    const ckpt = (await store.loadLatest())!;
    expect(ckpt).not.toBeNull();
    const again = new Trainer(conv);
    restoreTrainer(again, ckpt);
    expect(weightsOf(again)).toEqual(want);
    again.dispose();
    const meta = structuredClone(ckpt.header.meta) as { trainer: { model: { vit: { stem: number[] } } } };
    meta.trainer.model.vit.stem = [4, 16];
    expect(() => validateTrainerCheckpoint({ ...ckpt, header: { ...ckpt.header, meta } })).toThrow(/student\.backbone\.stem\.convs\.1\.weight as \[36,16\], the file holds \[36,8\]/);
    meta.trainer.model.vit.stem = [4, 8, 8];
    expect(() => validateTrainerCheckpoint({ ...ckpt, header: { ...ckpt.header, meta } })).toThrow(/stem of 3 stride-2 convolutions does not make patchSize 4/);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a checkpoint written before the mask token and the masked-patch centre existed loads, keeping their initial values', async () => {
    const { want, ckpt } = await savedAfterTwoSteps();
    for (const name of [...ckpt.tensors.keys()]) if (name.includes('mask_token')) ckpt.tensors.delete(name);
    const steps = ckpt.header.meta['optimizerSteps'] as Record<string, number>;
    for (const name of Object.keys(steps)) if (name.includes('mask_token')) delete steps[name];
    const trainer = new Trainer({ ...resumeOptions(), ibotWeight: 1 });
    const before = tf.memory().numTensors;
    restoreTrainer(trainer, ckpt);
    // the mask token's AdamW moments are not in the file: created again at its first masked step
    expect(tf.memory().numTensors).toBe(before - 2);
    const got = weightsOf(trainer);
    for (const [n, w] of Object.entries(want)) if (!n.includes('mask_token')) expect(got[n]).toEqual(w);
    expect(Array.from(trainer.student.backbone.maskToken.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(trainer.ibotLoss!.center.dataSync()).every((v) => v === 0)).toBe(true);
    trainer.dispose();
  });

  test('a checkpoint of the same architecture with other crops resumes (crops shape the views, not the weights)', async () => {
    const { want, ckpt } = await savedAfterTwoSteps();
    const opts = resumeOptions();
    const other = new Trainer({ ...opts, model: { ...opts.model, crops: { ...opts.model.crops, nLocal: opts.model.crops.nLocal + 3 } } });
    const before = tf.memory().numTensors;
    restoreTrainer(other, ckpt);
    expect(tf.memory().numTensors).toBe(before);
    expect(other.stepCount).toBe(2);
    const got = weightsOf(other);
    for (const [n, w] of Object.entries(want)) expect(got[n]).toEqual(w);
    other.dispose();
  });

  test('a checkpoint whose head has another number of prototypes resumes with its own (a recipe resize keeps the model)', async () => {
    const { want, ckpt } = await savedAfterTwoSteps();
    const opts = resumeOptions();
    const savedOut = opts.model.head.outDim;
    const resized: typeof opts = { ...opts, model: { ...opts.model, head: { ...opts.model.head, outDim: savedOut * 2 } } };
    const fit = optionsForCheckpoint(resized, ckpt);
    expect(fit.opts.model.head.outDim).toBe(savedOut);
    expect(fit.kept).toMatch(new RegExp(`^${savedOut} prototypes of .*the recipe's are ${savedOut * 2}`));
    const before = tf.memory().numTensors;
    const other = new Trainer(fit.opts);
    restoreTrainer(other, ckpt);
    expect(other.stepCount).toBe(2);
    const got = weightsOf(other);
    for (const [n, w] of Object.entries(want)) expect(got[n]).toEqual(w);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // another difference as well (a deeper backbone, or a head's other size) is left to restoreTrainer to refuse
    const deeper = { ...resized, model: { ...resized.model, vit: { ...resized.model.vit, depth: resized.model.vit.depth + 1 } } };
    expect(optionsForCheckpoint(deeper, ckpt)).toEqual({ opts: deeper });
    const wider = { ...resized, model: { ...resized.model, head: { ...resized.model.head, hiddenDim: resized.model.head.hiddenDim + 8 } } };
    expect(optionsForCheckpoint(wider, ckpt)).toEqual({ opts: wider });
  });

  test('saving and restoring leaks no tensors', async () => {
    const dir = tmp();
    const store = new CheckpointStore(dir);
    const trainer = new Trainer(resumeOptions());
    runSteps(trainer, 1);
    const n0 = tf.memory().numTensors;
    await saveTrainer(store, trainer);
    expect(tf.memory().numTensors).toBe(n0);
    restoreTrainer(trainer, (await store.loadLatest())!);
    expect(tf.memory().numTensors).toBe(n0);
    trainer.dispose();
  });
});
