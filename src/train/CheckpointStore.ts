import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type CheckpointHeader } from './Checkpoint';
import { writeFileAtomic } from '../util/writeFileAtomic';

export interface LoadedCheckpoint {
  file: string;
  header: CheckpointHeader;
  tensors: Map<string, { shape: number[]; values: Float32Array }>;
}

const NAME = /^ckpt-(\d{9})\.dino$/;

/**
 * A directory of checkpoints `ckpt-<step>.dino`. A new checkpoint is written atomically and read back before older
 * ones are pruned, so the last good checkpoint is never replaced by a bad one; loading the latest skips (and
 * reports) files that fail verification and falls back to the newest good one.
 */
export class CheckpointStore {
  constructor(
    readonly dir: string,
    private readonly opts: { keep?: number; log?: (msg: string) => void } = {},
  ) {}

  private get keep(): number {
    return Math.max(1, this.opts.keep ?? 3);
  }

  fileFor(step: number): string {
    return path.join(this.dir, `ckpt-${String(step).padStart(9, '0')}.dino`);
  }

  /** Checkpoint files, newest step first. */
  list(): string[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((f) => NAME.test(f))
      .sort()
      .reverse()
      .map((f) => path.join(this.dir, f));
  }

  async save(step: number, tensors: Map<string, tf.Tensor>, meta: Record<string, unknown>): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const buf = await encodeCheckpoint(step, tensors, meta);
    const file = this.fileFor(step);
    await writeFileAtomic(file, buf);
    // verify what is on disk before letting go of older checkpoints
    decodeCheckpoint(await fs.promises.readFile(file), file);
    for (const old of this.list().slice(this.keep)) await fs.promises.rm(old, { force: true });
    return file;
  }

  /** Load and verify one file; throws CheckpointError with the reason. */
  async load(file: string): Promise<LoadedCheckpoint> {
    let buf: Buffer;
    try {
      buf = await fs.promises.readFile(file);
    } catch (e) {
      throw new CheckpointError(file, `cannot be read: ${(e as Error).message}`);
    }
    return { file, ...decodeCheckpoint(buf, file) };
  }

  /** The newest checkpoint that verifies, or null when there is none; bad files are reported and skipped. */
  async loadLatest(): Promise<LoadedCheckpoint | null> {
    for (const file of this.list()) {
      try {
        return await this.load(file);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        this.opts.log?.(`${e.message}; trying an older checkpoint`);
      }
    }
    return null;
  }
}
