import type { BackendInfo, SelectBackendOptions } from '../backend';
import { TrainerService } from '../train/TrainerService';
import { POS_EMBED_KINDS, type ModelSizeName } from '../model/modelSizes';
import type { RecipeName } from '../train/recipes';
import { trainerOptionsFor } from '../train/trainerOptionsFor';
import { CheckpointStore } from '../train/CheckpointStore';
import { checkpointOptions, restoreTrainer } from '../train/TrainerCheckpoint';
import { validateTrainerCheckpoint } from '../train/TrainerCheckpointSchema';
import { KOLEO_SCHEDULES, type TrainerOptions } from '../train/TrainerOptions';
import { CENTERINGS } from '../train/DINOLoss';
import { EvalInputError } from './EvalInputError';
import type { ReplayPolicy } from '../types/ReplayPolicy';

/** --set changes to a recipe (experiments): TrainerOptions fields, dotted paths for the model (model.head.outDim). */
export type RecipeOverrides = Record<string, number | boolean | string>;

/** How an evaluation trains its agent, or loads a saved one: the same for eval knn, novelty and drift. */
export interface EvalTraining {
  model: ModelSizeName;
  recipe: RecipeName;
  batchSize: number;
  /** The replay buffer the training stream goes through. */
  bufferSize: number;
  bufferPolicy: ReplayPolicy;
  /** Initial weights, stream order, views, and the buffer's random choices. */
  seed: number;
  backend: SelectBackendOptions;
  /** A saved agent (checkpoint file or directory) instead of a fresh, randomly initialised one. */
  checkpoint?: string;
  /** Pretrained weights (.pth or .safetensors) the student and teacher start from, instead of a random init. */
  init?: string;
  /** Changes to the recipe, as dotted paths into TrainerOptions (momentumTeacher, model.head.outDim, ...). */
  overrides?: RecipeOverrides;
  /** Progress lines. */
  log?: (msg: string) => void;
}

export interface EvalTrainerOptions extends EvalTraining {
  /** Horizon of the schedules for a fresh trainer (a checkpoint keeps its own). */
  horizonSteps: number;
  /** A directory to save the trained agent to (service.checkpoint()), loadable by --checkpoint and by `run`. */
  saveDir?: string;
}

/**
 * Trainer options that are one of a few words: a typo must not fall back silently to the default branch. Those
 * that a preset may leave out (absent means the first word) can be set although absent.
 */
const CHOICES: Record<string, readonly string[]> = {
  centering: CENTERINGS,
  koleoSchedule: KOLEO_SCHEDULES,
  'model.vit.posEmbed': POS_EMBED_KINDS,
};

/**
 * Apply dotted-path overrides to trainer options; an unknown path, a type change or a word outside an option's
 * choices is an error naming it.
 */
export function applyOverrides(options: TrainerOptions, overrides: RecipeOverrides): TrainerOptions {
  const out = structuredClone(options) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    const parts = key.split('.');
    let obj = out;
    for (const p of parts.slice(0, -1)) {
      const next = obj[p];
      if (typeof next !== 'object' || next === null) throw new EvalInputError(`--set ${key}: "${p}" is not a group of trainer options`);
      obj = next as Record<string, unknown>;
    }
    const last = parts[parts.length - 1]!;
    const allowed = CHOICES[key];
    if (!(last in obj) && !allowed) throw new EvalInputError(`--set ${key}: unknown trainer option; known here: ${Object.keys(obj).join(', ')}`);
    if (last in obj && typeof obj[last] !== typeof value) throw new EvalInputError(`--set ${key}: expected a ${typeof obj[last]}, got ${JSON.stringify(value)}`);
    if (allowed && !allowed.includes(value as string)) {
      throw new EvalInputError(`--set ${key}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    obj[last] = value;
  }
  return out as unknown as TrainerOptions;
}

/** The `recipe` a report names when its weights came from a checkpoint (their recipe is the checkpoint's). */
export const CHECKPOINT_RECIPE = '(checkpoint)';

export interface EvalTrainer {
  service: TrainerService;
  options: TrainerOptions;
  /** The model's global crop size: the size images and frames are fed at. */
  size: number;
  info: BackendInfo;
  /** Set when the weights came from a checkpoint (so there is no random-init baseline). */
  checkpointFile?: string;
}

/**
 * The in-process trainer every evaluation trains: a fresh one from the named model and recipe, or a saved agent
 * loaded from a checkpoint. The caller disposes `service`.
 */
export async function openEvalTrainer(o: EvalTrainerOptions): Promise<EvalTrainer> {
  if (o.init && o.checkpoint) throw new EvalInputError('--init and --checkpoint both give the starting weights: choose one');
  let { options } = trainerOptionsFor(o.model, o.recipe, { batchSize: o.batchSize, horizonSteps: Math.max(2, o.horizonSteps), seed: o.seed }, o.init);
  if (o.overrides) options = applyOverrides(options, o.overrides);
  let ckpt = null;
  if (o.checkpoint) {
    const store = new CheckpointStore(o.checkpoint, { validate: validateTrainerCheckpoint, log: o.log });
    ckpt = o.checkpoint.endsWith('.dino') ? await store.load(o.checkpoint) : await store.loadLatest();
    if (!ckpt) throw new Error(`no checkpoint found in ${o.checkpoint}`);
    options = checkpointOptions(ckpt);
  }
  // keep every checkpoint asked for (a curve's marks), and never resume from what is already in the directory
  const checkpoint = o.saveDir ? { dir: o.saveDir, keep: Number.MAX_SAFE_INTEGER, resume: false } : undefined;
  const { service, ready } = await TrainerService.create({ trainer: options, backend: o.backend, checkpoint, init: o.init }, o.log ?? (() => undefined));
  try {
    if (ckpt) service.frameTrainer.restoreExtra(restoreTrainer(service.frameTrainer.trainer, ckpt));
  } catch (e) {
    service.dispose();
    throw e;
  }
  return { service, options, size: options.model.crops.globalSize, info: ready.info, checkpointFile: ckpt?.file };
}
