import { selectBackend, type BackendInfo, type SelectBackendOptions } from '../backend';
import { FrameTrainer } from './FrameTrainer';
import type { StepResult } from './Trainer';
import type { TrainerOptions } from './TrainerOptions';
import { CheckpointStore } from './CheckpointStore';
import { resumeFrameTrainer, saveTrainer } from './TrainerCheckpoint';
import { validateTrainerCheckpoint } from './TrainerCheckpointSchema';
import type { Frame } from '../../streams/Frame';
import { describeWeights, loadWeights, readPretrained } from '../pretrained/PretrainedWeights';
import { wasmBatchProblem } from '../model/stepMemory';

export interface TrainerServiceOptions {
  trainer: TrainerOptions;
  backend: SelectBackendOptions;
  checkpoint?: { dir: string; keep: number; resume: boolean };
  /** Pretrained weights (a .pth or .safetensors file) the student and teacher start from when nothing is resumed. */
  init?: string;
  /** false: no step will be asked for (the agent's --no-train), so the batch need not fit the backend. */
  trains?: boolean;
}

/** The teacher backbone's weights at one step: what the embedder needs to follow training. */
export interface TeacherSnapshot {
  step: number;
  params: { name: string; shape: number[]; values: Float32Array }[];
}

export interface TrainerReady {
  info: BackendInfo;
  step: number;
  resumedFrom?: string;
}

/**
 * The training side of the agent: backend, FrameTrainer, checkpoints. It runs in a worker thread in the live
 * agent (so that ingest and serving never wait for a step) and in-process for evaluation.
 */
export class TrainerService {
  private constructor(
    readonly frameTrainer: FrameTrainer,
    private readonly store: CheckpointStore | null,
  ) {}

  static async create(o: TrainerServiceOptions, log: (msg: string) => void): Promise<{ service: TrainerService; ready: TrainerReady }> {
    const info = await selectBackend({ ...o.backend, log });
    // refused before anything is allocated: past the wasm heap a step would spin forever instead of failing
    const tooLarge = info.name === 'wasm' && o.trains !== false ? wasmBatchProblem(o.trainer.model, o.trainer.batchSize) : null;
    if (tooLarge) throw new Error(tooLarge);
    const store = o.checkpoint ? new CheckpointStore(o.checkpoint.dir, { keep: o.checkpoint.keep, log, validate: validateTrainerCheckpoint }) : null;
    store?.removeStaleTemps();
    const resumed = store && o.checkpoint?.resume ? await resumeFrameTrainer(store, o.trainer, log) : null;
    if (resumed?.kept) log(`keeping the ${resumed.kept}`);
    const frameTrainer = resumed?.frameTrainer ?? new FrameTrainer(o.trainer);
    const resumedFrom = resumed?.ckpt.file;
    if (resumed) {
      log(`resumed from ${resumed.ckpt.file} at step ${resumed.ckpt.header.step}`);
    } else if (o.init) {
      try {
        const w = readPretrained(o.init);
        const t = frameTrainer.trainer;
        loadWeights(w, [
          { module: t.student, tensors: 'student' },
          { module: t.teacher, tensors: 'teacher' },
        ]);
        log(`initialised from ${describeWeights(w)}`);
      } catch (e) {
        frameTrainer.dispose();
        throw e;
      }
    } else if (store && o.checkpoint?.resume) {
      log(`no checkpoint in ${o.checkpoint.dir}: starting from a fresh model`);
    }
    if (resumed && o.init) log(`--init ${o.init} not applied: the resumed checkpoint continues from it`);
    return { service: new TrainerService(frameTrainer, store), ready: { info, step: frameTrainer.trainer.stepCount, resumedFrom } };
  }

  get step(): number {
    return this.frameTrainer.trainer.stepCount;
  }

  /** Asynchronous because a GPU backend reads its results back only that way. */
  trainStep(frames: readonly Frame[]): Promise<StepResult> {
    return this.frameTrainer.stepAsync(frames);
  }

  async snapshot(): Promise<TeacherSnapshot> {
    const step = this.step;
    const params = await Promise.all(this.frameTrainer.trainer.teacher.backbone
      .namedParameters()
      .map(async ([name, v]) => ({ name, shape: v.shape.slice(), values: (await v.data()) as Float32Array })));
    return { step, params };
  }

  async checkpoint(): Promise<string | null> {
    if (!this.store) return null;
    return saveTrainer(this.store, this.frameTrainer.trainer, this.frameTrainer.extraState());
  }

  dispose(): void {
    this.frameTrainer.dispose();
  }
}
