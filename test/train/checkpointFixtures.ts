import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Random } from '../../src/util/Random';
import { TrainerService } from '../../src/train/TrainerService';
import type { Frame } from '../../streams/Frame';
import { resumeOptions } from './resumeRun';

export const tmpDir = (prefix = 'dino-ckpt-') => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** A batch of random 16x16 frames for the micro model of resumeOptions(). */
export function microFrames(seed: number, n = resumeOptions().batchSize): Frame[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, (_, index) => {
    const rgb = new Uint8Array(16 * 16 * 3);
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.floor(rng.next() * 256);
    return { streamId: 'test', t: index, index, width: 16, height: 16, rgb };
  });
}

/** The agent's training side on the cpu backend with the micro model, checkpointing into `dir`. */
export async function microService(dir: string, o: { resume: boolean; keep?: number }, logs: string[] = []) {
  return TrainerService.create(
    { trainer: resumeOptions(), backend: { backend: 'cpu' }, checkpoint: { dir, keep: o.keep ?? 3, resume: o.resume } },
    (m) => logs.push(m),
  );
}

/** Checkpoint files and temp files in `dir`, sorted. */
export function ls(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
