import * as tf from '@tensorflow/tfjs';
import { isOptionalTrainerState, type Trainer } from './Trainer';
import { CheckpointError, CheckpointMismatchError } from './Checkpoint';
import type { CheckpointStore, LoadedCheckpoint } from './CheckpointStore';
import { FrameTrainer } from './FrameTrainer';
import type { TrainerOptions } from './TrainerOptions';
import type { ModelConfig } from '../model/modelSizes';

/** Save the trainer's full state (and any extra JSON, e.g. pipeline RNG states) into the store. */
export async function saveTrainer(store: CheckpointStore, trainer: Trainer, extra: Record<string, unknown> = {}): Promise<string> {
  const state = trainer.getState();
  return store.save(state.step, state.tensors, { trainer: trainer.opts, optimizerSteps: state.optimizerSteps, extra });
}

/** Options recorded in a checkpoint (to rebuild a Trainer from it, e.g. for evaluation). */
export function checkpointOptions(ckpt: LoadedCheckpoint): TrainerOptions {
  return ckpt.header.meta['trainer'] as TrainerOptions;
}

/**
 * The options to resume `ckpt` with. When the checkpoint's backbone is the one asked for and only its number of
 * prototypes differs (a recipe that sizes the head otherwise: `--recipe paper` -> `stream` is 2048 -> 1024 on
 * `small`), the checkpoint's head size is kept: an upgrade must not strand a user's trained model. Any other
 * difference is left for restoreTrainer to refuse. `kept` names the change, for the log.
 */
export function optionsForCheckpoint(opts: TrainerOptions, ckpt: LoadedCheckpoint): { opts: TrainerOptions; kept?: string } {
  const saved = checkpointOptions(ckpt)?.model;
  if (!saved?.head || diffPaths(saved.vit, opts.model.vit).length > 0) return { opts };
  const diff = diffPaths(saved.head, opts.model.head);
  if (diff.length !== 1 || !diff[0]!.startsWith('outDim:')) return { opts };
  return {
    opts: { ...opts, model: { ...opts.model, head: { ...opts.model.head, outDim: saved.head.outDim } } },
    kept: `${saved.head.outDim} prototypes of ${ckpt.file} (the recipe's are ${opts.model.head.outDim}; a new --checkpoint-dir starts with those)`,
  };
}

/** Every tensor a trainer's state needs, with its shape: what restoring requires of a checkpoint. */
function requiredTensors(trainer: Trainer, optimizerSteps: Record<string, number>, file: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [n, v] of trainer.student.namedParameters()) out.set(`student.${n}`, v.shape);
  for (const [n, v] of trainer.teacher.namedParameters()) out.set(`teacher.${n}`, v.shape);
  out.set('dino_loss.center', trainer.dinoLoss.center.shape);
  const params = new Map(trainer.student.namedParameters());
  for (const n of Object.keys(optimizerSteps)) {
    const p = params.get(n);
    if (!p) throw new CheckpointError(file, `optimiser state for unknown parameter "${n}"`);
    out.set(`adamw.m.${n}`, p.shape);
    out.set(`adamw.v.${n}`, p.shape);
  }
  return out;
}

/**
 * Load a checkpoint into a trainer built with the same architecture (backbone and head). A different one is refused
 * with the differing fields named (CheckpointMismatchError: resuming into another architecture would silently mix
 * weights). The crops may differ: they shape the views, not the weights, so a recipe that changes them keeps a
 * user's checkpoints. Every tensor is checked before the first is copied, so a file that lacks one (a
 * CheckpointError) leaves the trainer as it was.
 */
export function restoreTrainer(trainer: Trainer, ckpt: LoadedCheckpoint): Record<string, unknown> {
  const saved = checkpointOptions(ckpt);
  const arch = (m: ModelConfig | undefined) => (m ? { vit: m.vit, head: m.head } : m);
  const diff = diffPaths(arch(saved?.model), arch(trainer.opts.model));
  if (diff.length > 0) {
    throw new CheckpointMismatchError(ckpt.file, `trained with a different model (${diff.join(', ')}); use another --checkpoint-dir or the same model`);
  }
  const optimizerSteps = (ckpt.header.meta['optimizerSteps'] ?? {}) as Record<string, number>;
  for (const [name, shape] of requiredTensors(trainer, optimizerSteps, ckpt.file)) {
    const t = ckpt.tensors.get(name);
    if (!t && isOptionalTrainerState(name)) continue;
    if (!t) throw new CheckpointError(ckpt.file, `tensor "${name}" is missing`);
    if (t.shape.join('x') !== shape.join('x')) throw new CheckpointError(ckpt.file, `tensor "${name}" has shape [${t.shape}], the model expects [${shape}]`);
  }
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, t] of ckpt.tensors) tensors.set(name, tf.tensor(t.values, t.shape, 'float32'));
    trainer.loadState({ step: ckpt.header.step, tensors, optimizerSteps });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return (ckpt.header.meta['extra'] ?? {}) as Record<string, unknown>;
}

/**
 * The newest checkpoint of `store` that restores, in a FrameTrainer built for it (see optionsForCheckpoint);
 * files that are damaged or inconsistent are reported and skipped for the next older one. A sound checkpoint of
 * another model is not skipped: it throws CheckpointMismatchError (the agent must not train over it). Null when
 * no file restores. The store continues the run of the checkpoint resumed.
 */
export async function resumeFrameTrainer(
  store: CheckpointStore,
  opts: TrainerOptions,
  log: (msg: string) => void,
): Promise<{ frameTrainer: FrameTrainer; ckpt: LoadedCheckpoint; kept?: string } | null> {
  for await (const ckpt of store.verified()) {
    // the checkpoint is read before the trainer is built: its head size may be the one to build
    const fit = optionsForCheckpoint(opts, ckpt);
    const frameTrainer = new FrameTrainer(fit.opts);
    try {
      frameTrainer.restoreExtra(restoreTrainer(frameTrainer.trainer, ckpt));
    } catch (e) {
      frameTrainer.dispose();
      if (!(e instanceof CheckpointError) || e instanceof CheckpointMismatchError) throw e;
      log(`${e.message}; trying an older checkpoint`);
      continue;
    }
    store.continueRun(ckpt);
    return { frameTrainer, ckpt, kept: fit.kept };
  }
  return null;
}

/** Paths (a.b.c=x vs y) where two JSON values differ. */
export function diffPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diffPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return a === b ? [] : [`${prefix || '(root)'}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`];
}
