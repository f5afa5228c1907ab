/** The trainer worker's requests time out instead of hanging; a late answer is dropped and the worker goes on. */
import { WorkerTrainer } from '../../src/train/WorkerTrainer';
import { resumeOptions } from './resumeRun';
import { microFrames } from './checkpointFixtures';

test('a step slower than its timeout is rejected naming the request and the limit; the worker still answers afterwards', async () => {
  const trainer = await WorkerTrainer.start({ trainer: resumeOptions(), backend: { backend: 'cpu' } }, () => undefined, { step: 1 });
  try {
    const t0 = Date.now();
    await expect(trainer.step(microFrames(1))).rejects.toThrow('the trainer worker did not answer step within 1 ms');
    expect(Date.now() - t0).toBeLessThan(1000);
    // the step ran to its end in the worker; the next request is answered (after it) with its result
    const snap = await trainer.snapshot();
    expect(snap.step).toBe(1);
  } finally {
    await trainer.close();
  }
}, 60_000);
