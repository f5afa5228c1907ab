import { DEFAULT_EVAL_BUDGET, resolveBudget, trainedLine, trainingOf, type CommonFlags } from '../../src/cli/evalFlags';

const flags = (extra: Partial<CommonFlags> = {}): CommonFlags => ({
  model: 'cifar',
  recipe: 'stream',
  batch: '64',
  buffer: '4096',
  bufferPolicy: 'reservoir',
  seed: '0',
  backend: 'auto',
  ...extra,
});

describe('eval budgets and the report\'s first line', () => {
  test('no budget flag on a fresh agent: the default budget, and the note says so', () => {
    const r = resolveBudget(flags());
    expect(r.budget).toEqual(DEFAULT_EVAL_BUDGET);
    expect(DEFAULT_EVAL_BUDGET).toEqual({ minutes: 20 });
    expect(r.note).toBe('budget --minutes 20 (the default: no budget flag was given)');
  });

  test('budget flags are used as given; a checkpoint without one trains nothing', () => {
    expect(resolveBudget(flags({ images: '40000' }))).toEqual({ budget: { images: 40000 }, note: 'budget --images 40000' });
    const ck = resolveBudget(flags({ checkpoint: 'ckpts' }));
    expect(ck.budget).toEqual({});
    expect(ck.note).toMatch(/checkpoint is evaluated as saved/);
  });

  test('the first line names what was trained, or that nothing was', () => {
    const fresh = trainedLine({ images_seen: 36864, steps: 576, train_s: 1200, model: 'cifar', recipe: 'stream' }, flags({ set: ['ibotWeight=1'] }), 'budget --minutes 20');
    expect(fresh).toBe('trained: 36864 images (576 steps of 64) in 20.0 min, recipe stream, model cifar, seed 0, --set ibotWeight=1; budget --minutes 20');
    const saved = trainedLine({ images_seen: 0, steps: 0, train_s: 0, model: 'checkpoint c/ckpt-1.dino', recipe: '(checkpoint)' }, flags({ checkpoint: 'c' }), 'no budget flag');
    expect(saved).toBe('trained: nothing in this run; checkpoint c/ckpt-1.dino (no budget flag)');
  });

  test('--batch is taken as given; without it 64, and the vits presets what fits the wasm heap', () => {
    expect(trainingOf(flags({ batch: '12' })).batchSize).toBe(12);
    expect(trainingOf(flags({ batch: undefined })).batchSize).toBe(64);
    expect(trainingOf(flags({ batch: undefined, model: 'vits16' })).batchSize).toBe(8);
    expect(trainingOf(flags({ batch: undefined, model: 'vits8' })).batchSize).toBe(2);
    const line = trainedLine({ images_seen: 16, steps: 8, train_s: 60, model: 'vits8', recipe: 'finetune' }, flags({ batch: undefined, model: 'vits8' }), 'budget --steps 8');
    expect(line).toMatch(/^trained: 16 images \(8 steps of 2\)/);
  });
});
