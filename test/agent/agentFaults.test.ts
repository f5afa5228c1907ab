/**
 * Training survives faults: an injected step failure is logged, counted on /metrics and retried; failures in a row
 * up to train.maxStepFailures end with a checkpoint of the last good step and exit 1 (for a supervisor to restart
 * the agent). The real agent in this process (micro model, a synthetic camera) with its real trainer worker,
 * wrapped so that chosen step calls throw. Needs dist/ (the worker runs compiled JS; npm test builds it).
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import type { AgentDeps } from '../../src/agent/Agent';
import { microAgent } from './microAgent';
import { superviseAgent } from '../../src/cli/superviseAgent';
import { WorkerTrainer } from '../../src/train/WorkerTrainer';
import { AgentProcess } from './agentProcess';

/** Starts the real worker trainer, but step call n (1-based) throws when fails(n). */
function injecting(fails: (call: number) => boolean): AgentDeps & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    startTrainer: async (o, log, timeouts) => {
      const real = await WorkerTrainer.start(o, log, timeouts);
      return {
        ready: real.ready,
        step: (frames) => (++calls, fails(calls) ? Promise.reject(new Error(`injected fault in step call ${calls}`)) : real.step(frames)),
        snapshot: () => real.snapshot(),
        checkpoint: () => real.checkpoint(),
        memory: () => real.memory(),
        close: () => real.close(),
      };
    },
  };
}

describe('training survives faults', () => {
  test('a step that throws is logged, counted on /metrics and retried; training goes on', async () => {
    const inject = injecting((n) => n === 3);
    const { agent, msgs } = microAgent({ train: { maxStepFailures: 3 } }, inject);
    await agent.start();
    try {
      const stats = await firstValueFrom(agent.hub.stats$.pipe(filter((s) => s.step >= 5)));
      expect(stats.step).toBeGreaterThanOrEqual(5);
      expect(inject.calls()).toBeGreaterThanOrEqual(6); // the failed call is not a step
      expect(msgs()).toContain('training step failed (1 in a row of at most 3); retrying in 1000 ms');
      expect(await agent.registry.getSingleMetricAsString('dino_train_step_failures_total')).toMatch(/^dino_train_step_failures_total 1$/m);
      // the soak watches these: the teacher copy's tensors here, the trainer's in its worker
      const tensors = await agent.registry.getSingleMetricAsString('dino_tfjs_tensors');
      expect(Number(/thread="main"\} (\d+)/.exec(tensors)?.[1])).toBeGreaterThan(10);
      expect(Number(/thread="trainer"\} (\d+)/.exec(tensors)?.[1])).toBeGreaterThan(10);
      const failed = await Promise.race([agent.failed.then(() => 'failed'), new Promise((r) => setTimeout(() => r('running'), 10))]);
      expect(failed).toBe('running');
    } finally {
      await agent.stop();
    }
  }, 120_000);

  test('maxStepFailures steps failing in a row: a checkpoint of the last good step, then exit 1', async () => {
    const inject = injecting((n) => n > 2);
    const { agent, dir, msgs } = microAgent({ train: { maxStepFailures: 3 } }, inject);
    const exit = new Promise<number>((resolve) => superviseAgent(agent, { proc: new EventEmitter(), exit: resolve }));
    await agent.start();
    expect(await exit).toBe(1);
    await agent.stop();
    const log = msgs();
    const at = (re: RegExp) => log.findIndex((m) => re.test(m));
    expect(log.filter((m) => /^training step failed \(\d in a row/.test(m))).toEqual([
      'training step failed (1 in a row of at most 3); retrying in 1000 ms',
      'training step failed (2 in a row of at most 3); retrying in 2000 ms',
    ]);
    expect(at(/^training step failed 3 times in a row: giving up$/)).toBeGreaterThan(0);
    expect(at(/^the agent cannot go on/)).toBeGreaterThan(at(/giving up/));
    expect(at(/^checkpoint written: /)).toBeGreaterThan(at(/^the agent cannot go on/));
    // the two good steps are what the checkpoint holds
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.dino'));
    expect(files).toEqual([expect.stringMatching(/^ckpt-\d{8}T\d{9}-000000002\.dino$/)]);
    expect(await agent.registry.getSingleMetricAsString('dino_train_step_failures_total')).toMatch(/^dino_train_step_failures_total 3$/m);
  }, 120_000);

  test('dino-stream run: a second SIGINT while the first is still stopping exits at once with 130', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-sigint-'));
    // the small model: its final checkpoint (after the step in flight) takes long enough to be interrupted
    const agent = new AgentProcess(['--port', '0', '--model', 'small', '--checkpoint-dir', dir], { DINO__LOG__STATUS_EVERY_SEC: '1' });
    await agent.waitFor(/^dashboard http:/, 90_000);
    await agent.waitFor(/^step [1-9]\d* /, 90_000);
    agent.signal('SIGINT');
    await agent.waitFor(/^SIGINT: finishing the current step/);
    agent.signal('SIGINT');
    expect(await agent.exited).toBe(130);
    expect(agent.lines.some((l) => /^SIGINT again: exiting now/.test(String(l['msg'])))).toBe(true);
  }, 180_000);
});
