/** Runs in a checkpoint directory: retention across runs, pruning, files written before runs had ids, temp files. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { Trainer } from '../../src/train/Trainer';
import { CheckpointStore } from '../../src/train/CheckpointStore';
import { encodeCheckpoint } from '../../src/train/Checkpoint';
import { saveTrainer } from '../../src/train/TrainerCheckpoint';
import { resumeOptions } from './resumeRun';
import { ls, microFrames, microService, tmpDir } from './checkpointFixtures';

const RUN_FILE = /^ckpt-(\d{8}T\d{9})-(\d{9})\.dino$/;

/** A checkpoint of a fresh micro trainer claiming `step`, written by `store` (a run of its own). */
async function saveAtStep(store: CheckpointStore, step: number): Promise<string> {
  const t = new Trainer(resumeOptions());
  t.stepCount = step;
  const file = await saveTrainer(store, t);
  t.dispose();
  return path.basename(file);
}

describe('checkpoint runs', () => {
  beforeAll(() => useBackend('cpu'));

  test('--no-resume into a dir with an older run at step 50000: all 3 checkpoints of the new run are kept and the next start resumes the new run', async () => {
    const dir = tmpDir();
    const old = await saveAtStep(new CheckpointStore(dir), 50_000);
    const tensors0 = tf.memory().numTensors;

    const { service } = await microService(dir, { resume: false, keep: 3 });
    const written: string[] = [];
    for (let i = 1; i <= 3; i++) {
      service.trainStep(microFrames(i));
      written.push(path.basename((await service.checkpoint())!));
    }
    service.dispose();
    expect(written.map((f) => Number(RUN_FILE.exec(f)![2]))).toEqual([1, 2, 3]);
    expect(ls(dir)).toEqual([old, ...written].sort());
    // the new run's id sorts after the old run's, whatever the steps
    expect(RUN_FILE.exec(written[0]!)![1]! > RUN_FILE.exec(old)![1]!).toBe(true);

    const logs: string[] = [];
    const { service: again, ready } = await microService(dir, { resume: true, keep: 3 }, logs);
    expect([ready.step, path.basename(ready.resumedFrom!)]).toEqual([3, written[2]]);
    // the resumed run continues under its id and prunes its own files; the old run is not touched
    for (let i = 4; i <= 6; i++) {
      again.trainStep(microFrames(i));
      await again.checkpoint();
    }
    again.dispose();
    const run = RUN_FILE.exec(written[0]!)![1];
    expect(ls(dir)).toEqual([old, ...[4, 5, 6].map((s) => `ckpt-${run}-${String(s).padStart(9, '0')}.dino`)].sort());
    expect(tf.memory().numTensors).toBe(tensors0);
  });

  test('pruning never deletes the file just written, even with keep 1 and a higher step of the same run on disk', async () => {
    const dir = tmpDir();
    const store = new CheckpointStore(dir, { keep: 1 });
    await saveAtStep(store, 10);
    const file = await saveAtStep(store, 5); // resumed from an older file after the newest failed to load
    expect(ls(dir)).toEqual([file]);
    expect((await store.loadLatest())!.header.step).toBe(5);
  });

  test('a file written before runs had ids (ckpt-<step>.dino) resumes, and the run that continues it prunes it', async () => {
    const dir = tmpDir();
    const t = new Trainer(resumeOptions());
    t.stepCount = 7;
    const s = t.getState();
    const legacy = await encodeCheckpoint(7, s.tensors, { trainer: t.opts, optimizerSteps: s.optimizerSteps, extra: {} });
    t.dispose();
    fs.writeFileSync(path.join(dir, 'ckpt-000000007.dino'), legacy);

    const { service, ready } = await microService(dir, { resume: true, keep: 2 });
    expect([ready.step, path.basename(ready.resumedFrom!)]).toEqual([7, 'ckpt-000000007.dino']);
    const files: string[] = [];
    for (let i = 0; i < 2; i++) {
      service.trainStep(microFrames(i));
      files.push(path.basename((await service.checkpoint())!));
    }
    service.dispose();
    expect(files.map((f) => Number(RUN_FILE.exec(f)![2]))).toEqual([8, 9]);
    expect(ls(dir)).toEqual(files);
  });

  test('temp files of writers that are gone are removed at start; a live writer keeps its own', async () => {
    const dir = tmpDir();
    const good = await saveAtStep(new CheckpointStore(dir), 3);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = `.${good}.${dead}.1700000000000.tmp`;
    const live = `.${good}.${process.ppid}.1700000000000.tmp`;
    for (const f of [stale, live]) fs.writeFileSync(path.join(dir, f), 'partial');
    const logs: string[] = [];
    const { service, ready } = await microService(dir, { resume: true }, logs);
    service.dispose();
    expect(ready.step).toBe(3);
    expect(ls(dir)).toEqual([live, good].sort());
    expect(logs.join('\n')).toContain(`removed 1 unfinished checkpoint write(s) in ${dir}: ${stale}`);
  });

  test('a new run sorts after every run in the directory even when the clock is behind it', async () => {
    const dir = tmpDir();
    const future = 'ckpt-20991231T235959999-000000100.dino';
    const written = await saveAtStep(new CheckpointStore(dir), 100);
    fs.renameSync(path.join(dir, written), path.join(dir, future));
    const store = new CheckpointStore(dir);
    expect(store.run).toBe('21000101T000000000');
    const mine = await saveAtStep(store, 1);
    expect(new CheckpointStore(dir).list().map((f) => path.basename(f))).toEqual([mine, future]);
  });

  test('a state holding NaN is not written: the previous checkpoint stays the newest', async () => {
    const dir = tmpDir();
    const store = new CheckpointStore(dir);
    const good = await saveAtStep(store, 1);
    const t = new Trainer(resumeOptions());
    t.stepCount = 2;
    const [, v] = t.student.namedParameters()[0]!;
    const nan = tf.fill(v.shape, NaN);
    v.assign(nan);
    nan.dispose();
    await expect(saveTrainer(store, t)).rejects.toThrow(/tensor "student\..+" holds NaN or infinite values: checkpoint not written/);
    t.dispose();
    expect(ls(dir)).toEqual([good]);
  });
});
