/**
 * Worker-thread entry of the trainer: receives requests from WorkerTrainer, runs them one at a time on the
 * TrainerService, and answers with the same id. Training here never blocks the main thread's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { TrainerService, type TrainerServiceOptions } from './TrainerService';
import type { WorkerRequest, WorkerResponse } from './workerProtocol';

if (!parentPort) throw new Error('trainerWorker must run in a worker thread');
const port = parentPort;
const log = (msg: string) => port.postMessage({ type: 'log', msg } satisfies WorkerResponse);

let service: TrainerService | null = null;
let queue = Promise.resolve();

async function handle(req: WorkerRequest): Promise<WorkerResponse> {
  switch (req.type) {
    case 'init': {
      const { service: s, ready } = await TrainerService.create(workerData as TrainerServiceOptions, log);
      service = s;
      return { type: 'reply', id: req.id, ok: true, request: 'init', value: ready };
    }
    case 'step': {
      const result = await service!.trainStep(req.frames);
      return { type: 'reply', id: req.id, ok: true, request: 'step', value: result };
    }
    case 'snapshot': {
      const snap = await service!.snapshot();
      return { type: 'reply', id: req.id, ok: true, request: 'snapshot', value: snap };
    }
    case 'checkpoint': {
      return { type: 'reply', id: req.id, ok: true, request: 'checkpoint', value: await service!.checkpoint() };
    }
    case 'memory': {
      const m = tf.memory();
      return { type: 'reply', id: req.id, ok: true, request: 'memory', value: { numTensors: m.numTensors, numBytes: m.numBytes } };
    }
    case 'close': {
      service?.dispose();
      service = null;
      return { type: 'reply', id: req.id, ok: true, request: 'close', value: null };
    }
  }
}

port.on('message', (req: WorkerRequest) => {
  // a read of counters, answered between requests rather than after the queue (a metrics scrape never waits for it)
  if (req.type === 'memory') {
    void handle(req).then((res) => port.postMessage(res));
    return;
  }
  // strictly one request at a time, in arrival order
  queue = queue.then(async () => {
    let res: WorkerResponse;
    try {
      if (req.type !== 'init' && req.type !== 'close' && !service) throw new Error('trainer not initialised');
      res = await handle(req);
    } catch (e) {
      res = { type: 'reply', id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(res);
  });
});
