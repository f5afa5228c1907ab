import { EventEmitter } from 'node:events';
import { superviseAgent, type SupervisedAgent } from '../../src/cli/superviseAgent';

/** A fake agent whose stop and checkpoint finish when the test says so, recording the order of what happened. */
function fakeAgent() {
  const order: string[] = [];
  let finishStop!: () => void;
  let fail!: (e: Error) => void;
  const agent: SupervisedAgent = {
    log: { info: (m) => order.push(`info ${m}`), warn: (m) => order.push(`warn ${m}`), fatal: (_o, m) => order.push(`fatal ${m}`) },
    failed: new Promise<Error>((r) => (fail = r)),
    checkpoint: async () => (order.push('checkpoint'), 'ckpt-x.dino'),
    stop: () => (order.push('stop'), new Promise<void>((r) => (finishStop = () => (order.push('stopped'), r())))),
  };
  return { agent, order, finishStop: () => finishStop(), fail: (e: Error) => fail(e) };
}

function supervised() {
  const f = fakeAgent();
  const proc = new EventEmitter();
  const exits: number[] = [];
  let exited!: (code: number) => void;
  const exitedP = new Promise<number>((r) => (exited = r));
  const off = superviseAgent(f.agent, { proc, exit: (code) => (exits.push(code), f.order.push(`exit ${code}`), exited(code)) });
  return { ...f, proc, exits, exited: exitedP, off };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('superviseAgent', () => {
  test('SIGINT stops the agent (checkpoint included) and exits 0 once it has stopped', async () => {
    const s = supervised();
    s.proc.emit('SIGINT');
    await tick();
    expect(s.exits).toEqual([]);
    s.finishStop();
    expect(await s.exited).toBe(0);
    expect(s.order.filter((l) => !l.startsWith('info'))).toEqual(['stop', 'stopped', 'exit 0']);
    s.off();
  });

  test('a second SIGINT while stopping exits at once with 130; a second SIGTERM with 143', async () => {
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const s = supervised();
      s.proc.emit(sig);
      s.proc.emit(sig);
      expect(await s.exited).toBe(code);
      expect(s.order).toEqual([expect.stringMatching(new RegExp(`^info ${sig}: finishing`)), 'stop', expect.stringMatching(new RegExp(`^warn ${sig} again: exiting now`)), `exit ${code}`]);
      s.off();
    }
  });

  test('an uncaught exception or an unhandled rejection writes a checkpoint, then exits 1', async () => {
    for (const event of ['uncaughtException', 'unhandledRejection']) {
      const s = supervised();
      s.proc.emit(event, new Error('boom'));
      expect(await s.exited).toBe(1);
      expect(s.order).toEqual([expect.stringMatching(/^fatal (uncaught exception|unhandled promise rejection): writing a checkpoint/), 'checkpoint', 'exit 1']);
      s.off();
    }
  });

  test('when the agent cannot go on, it is stopped (writing a checkpoint) and the process exits 1', async () => {
    const s = supervised();
    s.fail(new Error('training failed 5 times in a row'));
    await tick();
    expect(s.order).toEqual([expect.stringMatching(/^fatal the agent cannot go on/), 'stop']);
    s.finishStop();
    expect(await s.exited).toBe(1);
    s.off();
  });

  test('the handlers are removed by the function it returns', () => {
    const s = supervised();
    s.off();
    expect(['SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection'].map((e) => s.proc.listenerCount(e))).toEqual([0, 0, 0, 0]);
  });
});
