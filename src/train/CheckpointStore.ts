import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { CheckpointError, decodeCheckpoint, encodeCheckpoint, type DecodedCheckpoint } from './Checkpoint';
import { RUN_ID } from './CheckpointHeader';
import { removeStaleTemps, writeFileAtomic } from '../util/writeFileAtomic';

export interface LoadedCheckpoint extends DecodedCheckpoint {
  file: string;
}

/** `ckpt-<run>-<step>.dino`; `ckpt-<step>.dino` was written before runs had ids and still loads. */
const NAME = /^ckpt-(\d{8}T\d{9})-(\d{9,})\.dino$/;
const LEGACY_NAME = /^ckpt-(\d{9,})\.dino$/;
/** The run of the files written before runs had ids. */
const LEGACY_RUN = '';

interface Entry {
  file: string;
  run: string;
  step: number;
}

export interface CheckpointStoreOptions {
  keep?: number;
  log?: (msg: string) => void;
  /**
   * More checks of a decoded checkpoint, by its owner (the trainer checks the model it describes against the
   * stored tensors); throw CheckpointError. A file that fails them is skipped like a corrupt one.
   */
  validate?: (ckpt: LoadedCheckpoint) => void;
}

const runIdOf = (ms: number) => new Date(ms).toISOString().replace(/[-:.Z]/g, '');
const timeOfRunId = (id: string) =>
  Date.parse(`${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.${id.slice(15)}Z`);

/** Run ids sort as they were started; a new one is later than `latest` even when the clock went back. */
function newRunId(latest: string | undefined): string {
  const now = Date.now();
  return runIdOf(latest === undefined ? now : Math.max(now, timeOfRunId(latest) + 1));
}

/**
 * A directory of checkpoints, `ckpt-<run>-<step>.dino`. A run is one line of training: a fresh start begins a new
 * run (its id is its start time, later than any run in the directory), resuming continues the run it resumed.
 * The newest checkpoint is the highest step of the latest run. A new checkpoint is written atomically and read
 * back before anything is pruned; pruning keeps the newest `keep` files of this run (and of the run it resumed)
 * and never touches the file just written or another run's files, so `--no-resume` into a directory that holds an
 * older, longer run keeps both, and the next start resumes the new one. Loading skips (and reports) files that
 * fail verification and falls back to the next newest.
 */
export class CheckpointStore {
  private runId: string | undefined;
  /** Runs whose files this run prunes: itself and the run it resumed. */
  private readonly lineage = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly opts: CheckpointStoreOptions = {},
  ) {}

  private get keep(): number {
    return Math.max(1, this.opts.keep ?? 3);
  }

  /** The run this store writes: a new one unless continueRun() chose the one of a resumed checkpoint. */
  get run(): string {
    if (!this.runId) {
      this.runId = newRunId(this.entries().find((e) => e.run !== LEGACY_RUN)?.run);
      this.lineage.add(this.runId);
    }
    return this.runId;
  }

  /** Continue the run of `ckpt` (after resuming from it): its files are pruned as this run's own. */
  continueRun(ckpt: LoadedCheckpoint): void {
    const run = ckpt.header.runId;
    if (run && RUN_ID.test(run)) {
      this.runId = run;
      this.lineage.add(run);
    } else {
      this.lineage.add(LEGACY_RUN);
    }
  }

  fileFor(step: number): string {
    return path.join(this.dir, `ckpt-${this.run}-${String(step).padStart(9, '0')}.dino`);
  }

  private entries(): Entry[] {
    if (!fs.existsSync(this.dir)) return [];
    const out: Entry[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      const m = NAME.exec(name);
      const legacy = m ? null : LEGACY_NAME.exec(name);
      if (m) out.push({ file: path.join(this.dir, name), run: m[1]!, step: Number(m[2]) });
      else if (legacy) out.push({ file: path.join(this.dir, name), run: LEGACY_RUN, step: Number(legacy[1]) });
    }
    // latest run first, then highest step; files without a run come last
    return out.sort((a, b) => (a.run === b.run ? b.step - a.step : a.run < b.run ? 1 : -1));
  }

  /** Checkpoint files, newest first. */
  list(): string[] {
    return this.entries().map((e) => e.file);
  }

  /** Remove the temp files of writes that a crash interrupted; call before the first save. */
  removeStaleTemps(): string[] {
    const removed = removeStaleTemps(this.dir);
    if (removed.length > 0) this.opts.log?.(`removed ${removed.length} unfinished checkpoint write(s) in ${this.dir}: ${removed.join(', ')}`);
    return removed;
  }

  async save(step: number, tensors: Map<string, tf.Tensor>, meta: Record<string, unknown>): Promise<string> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const buf = await encodeCheckpoint(step, tensors, meta, this.run);
    const file = this.fileFor(step);
    await writeFileAtomic(file, buf);
    // verify what is on disk before letting go of older checkpoints
    try {
      decodeCheckpoint(await fs.promises.readFile(file), file);
    } catch (e) {
      await fs.promises.rm(file, { force: true });
      throw e;
    }
    const own = this.entries().filter((e) => this.lineage.has(e.run) && e.file !== file);
    for (const old of own.slice(this.keep - 1)) await fs.promises.rm(old.file, { force: true });
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
    const ckpt = { file, ...decodeCheckpoint(buf, file) };
    this.opts.validate?.(ckpt);
    return ckpt;
  }

  /** Checkpoints that verify, newest first; bad files are reported and skipped. */
  async *verified(): AsyncGenerator<LoadedCheckpoint> {
    for (const file of this.list()) {
      let ckpt: LoadedCheckpoint;
      try {
        ckpt = await this.load(file);
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        this.opts.log?.(`${e.message}; trying an older checkpoint`);
        continue;
      }
      yield ckpt;
    }
  }

  /** The newest checkpoint that verifies, or null when there is none. */
  async loadLatest(): Promise<LoadedCheckpoint | null> {
    for await (const ckpt of this.verified()) return ckpt;
    return null;
  }
}
