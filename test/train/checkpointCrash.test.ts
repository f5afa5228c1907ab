/**
 * Crash injection: the agent's training side (micro model) is SIGKILLed at random points, in its start and while it
 * writes checkpoints back to back, over 200 checkpoint cycles; each restart must resume from a verified checkpoint
 * at a step no lower than the last one verified, with no temp file left after its start. The long version is
 * `npm run soak:crash`. Needs dist/ (npm test builds it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCrashInjection } from '../../scripts/crashInjection';
import { CheckpointStore } from '../../src/train/CheckpointStore';
import { validateTrainerCheckpoint } from '../../src/train/TrainerCheckpointSchema';
import { tmpDir } from './checkpointFixtures';

test('SIGKILL at random points over 200 checkpoint cycles: every restart resumes a verified checkpoint at a step >= the last verified, no temp file after start', async () => {
  const dir = tmpDir('dino-crash-');
  const r = await runCrashInjection({ dir, cycles: 200, seed: 7, maxSavesPerLife: 16, startupKills: 0.25, trainEvery: 25, deadlineMs: 540_000 });
  console.log(`crash injection: ${JSON.stringify(r)}`);
  expect(r.violations).toEqual([]);
  expect(r.cycles).toBeGreaterThanOrEqual(200);
  // the kills reached the places that matter: inside writes and inside starts
  expect(r.killsMidWrite).toBeGreaterThan(0);
  expect(r.killsInStartup).toBeGreaterThan(0);
  expect(r.lives).toBeGreaterThanOrEqual(10);
  // what is left is this run's newest checkpoints, all verifying, and no temp file of a dead writer
  const files = fs.readdirSync(dir);
  expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  const store = new CheckpointStore(dir, { validate: validateTrainerCheckpoint });
  // keep (3), plus one when a kill fell between a checkpoint's rename and the pruning after its verification
  expect(store.list().length).toBeLessThanOrEqual(4);
  for (const f of store.list()) await store.load(f);
  expect((await store.loadLatest())!.header.step).toBe(r.finalStep);
  expect(path.basename(store.list()[0]!)).toMatch(new RegExp(`-0*${r.finalStep}\\.dino$`));
}, 600_000);
