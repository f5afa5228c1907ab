import type { Frame } from '../../streams/Frame';

/** Requests from WorkerTrainer to the trainer worker. */
export type WorkerRequest =
  | { type: 'init'; id: number }
  | { type: 'step'; id: number; frames: Frame[] }
  | { type: 'snapshot'; id: number }
  | { type: 'checkpoint'; id: number }
  | { type: 'close'; id: number };

export type WorkerResponse =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string }
  | { type: 'log'; msg: string };
