import type { Frame } from '../../streams/Frame';

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

export type WorkerResponse =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'log'; msg: string };
