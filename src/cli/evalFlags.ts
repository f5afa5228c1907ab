import type { Command } from 'commander';
import type { Budget } from '../eval/StreamTrainingRun';
import { MODEL_SIZES, type ModelSizeName } from '../model/modelSizes';
import { RECIPE_NAMES, type RecipeName } from '../train/recipes';
import { PRESET_TRAIN_DEFAULTS } from '../types/ModelNames';
import { PretrainedError } from '../pretrained/PretrainedWeights';
import { ImageFolderError } from '../probe/ImageFolder';
import { EvalInputError } from '../eval/EvalInputError';
import type { EvalTraining, RecipeOverrides } from '../eval/evalTrainer';
import { REPLAY_POLICIES, type ReplayPolicy } from '../../streams/ReplayBuffer';

export interface CommonFlags {
  images?: string;
  minutes?: string;
  steps?: string;
  model: string;
  recipe: string;
  batch?: string;
  buffer: string;
  bufferPolicy: string;
  seed: string;
  backend: string;
  threads?: string;
  json?: string;
  checkpoint?: string;
  init?: string;
  evalAt?: string;
  /** --set key=value, repeatable (parseSets). */
  set?: string[];
}

export function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got "${v}"`);
  return n;
}

export function budgetOf(f: CommonFlags): Budget {
  return { images: positive('images', f.images), minutes: positive('minutes', f.minutes), steps: positive('steps', f.steps) };
}

export function integer(name: string, v: string | undefined): number | undefined {
  const n = positive(name, v);
  if (n !== undefined && !Number.isInteger(n)) throw new Error(`--${name} must be a whole number, got "${v}"`);
  return n;
}

/** The flag's value when it is one of `allowed`; else an error naming them (guarded() exits 2 with it). */
export function oneOf<T extends string>(name: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

export function checkCommon(f: CommonFlags): void {
  oneOf('model', f.model, Object.keys(MODEL_SIZES));
  oneOf('recipe', f.recipe, RECIPE_NAMES);
  oneOf('buffer-policy', f.bufferPolicy, REPLAY_POLICIES);
}

export function addCommon(cmd: Command): Command {
  return addModelFlags(
    cmd
      .option('--images <n>', 'budget: stop after this many images seen (steps x batch)')
      .option('--minutes <m>', 'budget: stop after this many minutes of training')
      .option('--steps <s>', 'budget: stop after this many training steps'),
  );
}

/** Model, training and output flags shared by every eval subcommand (the budget flags are not: drift has its own). */
export function addModelFlags(cmd: Command): Command {
  return cmd
    .option('--model <name>', `model size (${Object.keys(MODEL_SIZES).join(', ')})`, 'cifar')
    .option('--recipe <name>', `training recipe: ${RECIPE_NAMES.join(', ')}`, 'stream')
    .option('--batch <n>', 'images per training step (default 64; the vits presets: the largest that fits the wasm heap, 8, 8, 2)')
    .option('--buffer <n>', 'replay buffer capacity (frames)', '4096')
    .option('--buffer-policy <name>', `which frames the replay buffer keeps when full: ${REPLAY_POLICIES.join(', ')}`, 'reservoir')
    .option('--seed <n>', 'seed of the run (weights, order, augmentations)', '0')
    .option('--backend <name>', 'tfjs backend: auto, tensorflow, webgpu, wasm or cpu', 'auto')
    .option('--threads <n>', 'threads of the heavy kernels (default: one per core; 1 for runs sharing a busy machine)')
    .option('--checkpoint <path>', 'evaluate a saved agent (checkpoint file or directory) instead of training a fresh one')
    .option('--init <file>', 'start from pretrained weights: a DINO .pth or a DINOv2 model.safetensors (--model must be the preset of its shape)')
    .option('--json <file>', 'also write the results as JSON')
    .option('--set <key=value>', 'change a recipe setting for an experiment, repeatable (momentumTeacher=0.98, model.head.outDim=1024)', (v: string, prev: string[] = []) => [...prev, v]);
}

/** --batch, or 64; the vits presets default to what fits the wasm heap (src/model/stepMemory.ts). */
function batchOf(f: CommonFlags): number {
  return integer('batch', f.batch) ?? Math.min(64, PRESET_TRAIN_DEFAULTS[f.model as ModelSizeName]?.batchSize ?? 64);
}

/** The flags every eval subcommand shares, checked: how it trains (or loads) its agent. */
export function trainingOf(f: CommonFlags): EvalTraining {
  checkCommon(f);
  return {
    model: f.model as ModelSizeName,
    recipe: f.recipe as RecipeName,
    batchSize: batchOf(f),
    bufferSize: integer('buffer', f.buffer)!,
    bufferPolicy: f.bufferPolicy as ReplayPolicy,
    seed: Number(f.seed),
    backend: { backend: f.backend as 'auto', threads: integer('threads', f.threads) },
    checkpoint: f.checkpoint,
    init: f.init,
    overrides: parseSets(f.set),
    log: (m) => console.error(m),
  };
}

/** --set key=value pairs: numbers, booleans, else strings (the recipe's own type is checked when applied). */
export function parseSets(sets: string[] | undefined): RecipeOverrides | undefined {
  if (!sets?.length) return undefined;
  const out: RecipeOverrides = {};
  for (const s of sets) {
    const m = /^([A-Za-z][\w.]*)=(.+)$/.exec(s);
    if (!m) throw new Error(`--set must look like key=value, got "${s}"`);
    const v = m[2]!;
    if (v === 'true' || v === 'false') out[m[1]!] = v === 'true';
    else if (Number.isFinite(Number(v))) out[m[1]!] = Number(v);
    else out[m[1]!] = v;
  }
  return out;
}

/** Input errors (image folder layout, class names, videos, flags) are the user's to fix: print them plainly, exit 2. */
export async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ImageFolderError || e instanceof EvalInputError || e instanceof PretrainedError || (e instanceof Error && e.message.startsWith('--'))) {
      console.error(`dino-stream eval: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
}


/** The budget of a fresh `eval knn` or `eval novelty` run when no budget flag is given: the product's promise. */
export const DEFAULT_EVAL_BUDGET: Budget = { minutes: 20 };

/**
 * The run's budget and how it was chosen: the flags', else DEFAULT_EVAL_BUDGET for a fresh agent (a run that
 * trains nothing would report the random-init teacher as if it were a result); a checkpoint alone is evaluated as
 * saved.
 */
export function resolveBudget(f: CommonFlags): { budget: Budget; note: string } {
  const b = budgetOf(f);
  const given = (['images', 'minutes', 'steps'] as const).filter((k) => b[k] !== undefined).map((k) => `--${k} ${f[k]}`);
  if (given.length > 0) return { budget: b, note: `budget ${given.join(', ')}` };
  if (f.checkpoint) return { budget: b, note: 'no budget flag: the checkpoint is evaluated as saved' };
  return { budget: DEFAULT_EVAL_BUDGET, note: `budget --minutes ${DEFAULT_EVAL_BUDGET.minutes} (the default: no budget flag was given)` };
}

/** The first line of a report: what this run trained, so that a table is never read without it. */
export function trainedLine(
  r: { images_seen: number; steps: number; train_s: number; model: string; recipe: string },
  f: CommonFlags,
  note: string,
): string {
  if (f.checkpoint && r.images_seen === 0) return `trained: nothing in this run; ${r.model} (${note})`;
  const from = f.checkpoint ? `${r.model}, then ` : '';
  const init = f.init ? `, from ${f.init}` : '';
  const what = f.checkpoint ? '' : `, recipe ${r.recipe}, model ${r.model}${init}, seed ${f.seed}${f.set?.length ? `, --set ${f.set.join(' ')}` : ''}`;
  return `trained: ${from}${r.images_seen} images (${r.steps} steps of ${batchOf(f)}) in ${(r.train_s / 60).toFixed(1)} min${what}; ${note}`;
}
