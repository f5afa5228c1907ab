import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { prepareHeadlessEgl } from '../backend/headlessEgl';
import type { Frame } from '../../streams/Frame';
import type { StepResult } from './Trainer';
import type { TeacherSnapshot, TrainerReady, TrainerServiceOptions } from './TrainerService';
import type { TensorMemory, WorkerReplies, WorkerReply, WorkerRequestBody, WorkerRequestType, WorkerResponse } from './workerProtocol';

/** What the agent needs from the trainer, wherever it runs. */
export interface TrainerHandle {
  readonly ready: TrainerReady;
  step(frames: Frame[]): Promise<StepResult>;
  snapshot(): Promise<TeacherSnapshot>;
  checkpoint(): Promise<string | null>;
  /** The trainer's tfjs memory, for /metrics (a handle without one reports none). */
  memory?(): Promise<TensorMemory>;
  close(): Promise<void>;
}

/** The compiled worker script (tests run from TypeScript sources, the worker always runs compiled JS). */
function workerScript(): string {
  const here = path.join(__dirname, 'trainerWorker.js');
  if (fs.existsSync(here)) return here;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const built = path.join(dir, 'dist', 'src', 'train', 'trainerWorker.js');
  if (!fs.existsSync(built)) throw new Error(`trainer worker not built (${built} missing): run npm run build`);
  return built;
}

/** How long each kind of request may take, in ms; a request queued behind others waits for them too. */
export type WorkerTimeouts = Record<WorkerRequestType, number>;

/** Resuming a large checkpoint on a busy machine, a slow step, a checkpoint queued behind a step. */
export const DEFAULT_WORKER_TIMEOUTS: WorkerTimeouts = { init: 600_000, step: 120_000, snapshot: 120_000, checkpoint: 240_000, memory: 10_000, close: 30_000 };

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Main-thread side of the trainer worker: a promise per request, matched by id. A request that gets no answer
 * within its timeout is rejected (a late answer is dropped), so a wedged worker shows up as failures instead of
 * a silent stall.
 */
export class WorkerTrainer implements TrainerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Error | null = null;
  ready!: TrainerReady;

  private constructor(
    private readonly worker: Worker,
    private readonly timeouts: WorkerTimeouts,
  ) {}

  static async start(options: TrainerServiceOptions, log: (msg: string) => void, timeouts: Partial<WorkerTimeouts> = {}): Promise<WorkerTrainer> {
    prepareHeadlessEgl(); // the worker cannot set the process's C environment itself
    const worker = new Worker(workerScript(), { workerData: options });
    const t = new WorkerTrainer(worker, { ...DEFAULT_WORKER_TIMEOUTS, ...timeouts });
    worker.on('message', (m: WorkerResponse) => {
      if (m.type === 'log') return log(m.msg);
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m);
      else p.reject(new Error(m.error));
    });
    const fail = (e: Error) => {
      t.exited = e;
      for (const p of t.pending.values()) {
        clearTimeout(p.timer);
        p.reject(e);
      }
      t.pending.clear();
    };
    worker.on('error', (e) => fail(new Error(`trainer worker crashed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`trainer worker exited (code ${code})`)));
    try {
      t.ready = await t.request({ type: 'init' });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    return t;
  }

  private request<K extends WorkerRequestType>(req: { type: K } & WorkerRequestBody<K>): Promise<WorkerReplies[K]> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    const type: WorkerRequestType = req.type;
    const ms = this.timeouts[type];
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the trainer worker did not answer ${type} within ${ms} ms`));
      }, ms);
      // the id matched; the kind is checked too, so a value is only ever taken as what its request promises
      const accept = (reply: WorkerReply) =>
        reply.request === type ? resolve(reply.value as WorkerReplies[K]) : reject(new Error(`the trainer worker answered a ${type} request with a ${reply.request} reply`));
      this.pending.set(id, { resolve: accept, reject, timer });
      this.worker.postMessage({ ...req, id });
    });
  }

  step(frames: Frame[]): Promise<StepResult> {
    return this.request({ type: 'step', frames });
  }

  snapshot(): Promise<TeacherSnapshot> {
    return this.request({ type: 'snapshot' });
  }

  checkpoint(): Promise<string | null> {
    return this.request({ type: 'checkpoint' });
  }

  memory(): Promise<TensorMemory> {
    return this.request({ type: 'memory' });
  }

  async close(): Promise<void> {
    if (!this.exited) await this.request({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}
