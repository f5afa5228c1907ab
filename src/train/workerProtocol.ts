import type { Frame } from '../../streams/Frame';
import type { StepResult } from './Trainer';
import type { TeacherSnapshot, TrainerReady } from './TrainerService';

/** Requests from WorkerTrainer to the trainer worker. */
export type WorkerRequest =
  | { type: 'init'; id: number }
  | { type: 'step'; id: number; frames: Frame[] }
  | { type: 'snapshot'; id: number }
  | { type: 'checkpoint'; id: number }
  | { type: 'memory'; id: number }
  | { type: 'close'; id: number };

/** The worker's tfjs memory (tf.memory()): tensors alive and their bytes. */
export interface TensorMemory {
  numTensors: number;
  numBytes: number;
}

export type WorkerRequestType = WorkerRequest['type'];

/** What the worker answers to each kind of request. */
export interface WorkerReplies {
  init: TrainerReady;
  step: StepResult;
  snapshot: TeacherSnapshot;
  /** The checkpoint file written, or null when the trainer has no checkpoint directory. */
  checkpoint: string | null;
  memory: TensorMemory;
  close: null;
}

/** A request as WorkerTrainer sends it, before it is given its id. */
export type WorkerRequestBody<K extends WorkerRequestType> = Omit<Extract<WorkerRequest, { type: K }>, 'id'>;

/** A successful answer: the value its kind of request promises (`request` names that kind). */
export type WorkerReply = { [K in WorkerRequestType]: { type: 'reply'; id: number; ok: true; request: K; value: WorkerReplies[K] } }[WorkerRequestType];

export type WorkerResponse = WorkerReply | { type: 'reply'; id: number; ok: false; error: string } | { type: 'log'; msg: string };
