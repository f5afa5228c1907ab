import type { EventEmitter } from 'node:events';

/** What supervision needs of the agent. */
export interface SupervisedAgent {
  readonly log: {
    info(msg: string): void;
    warn(msg: string): void;
    fatal(obj: object, msg: string): void;
  };
  readonly failed: Promise<Error>;
  checkpoint(): Promise<string | null>;
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  /** Where signals and process-level errors come from (default: process). */
  proc?: EventEmitter;
  exit?: (code: number) => void;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * The process around a running agent, so that a supervisor (systemd, a container runtime) sees the truth:
 * - SIGINT / SIGTERM: finish the step in flight, write a checkpoint, stop, exit 0. A second signal exits at once
 *   (128 + signal) without waiting.
 * - An uncaught exception or unhandled rejection anywhere: log it, write a checkpoint, exit 1.
 * - The agent cannot go on (training failed N times in a row): log it, stop (which writes a checkpoint), exit 1.
 * Returns a function that removes the handlers.
 */
export function superviseAgent(agent: SupervisedAgent, o: SuperviseOptions = {}): () => void {
  const proc = o.proc ?? process;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  let ending = false;
  const message = (e: unknown) => (e instanceof Error ? e.stack ?? e.message : String(e));

  const onSignal = (signal: string) => {
    if (ending) {
      agent.log.warn(`${signal} again: exiting now, without waiting for the checkpoint`);
      exit(SIGNAL_EXIT[signal] ?? 1);
      return;
    }
    ending = true;
    agent.log.info(`${signal}: finishing the current step, writing a checkpoint, stopping (${signal} again exits at once)`);
    agent.stop().then(
      () => exit(0),
      (e: unknown) => {
        agent.log.fatal({ err: message(e) }, 'shutdown failed');
        exit(1);
      },
    );
  };

  const onFatal = (what: string) => (e: unknown) => {
    agent.log.fatal({ err: message(e) }, `${what}: writing a checkpoint and exiting`);
    if (ending) {
      exit(1);
      return;
    }
    ending = true;
    // agent.checkpoint() reports its own failure and never throws
    void agent.checkpoint().finally(() => exit(1));
  };

  const handlers: [string, (...args: unknown[]) => void][] = [
    ['SIGINT', () => onSignal('SIGINT')],
    ['SIGTERM', () => onSignal('SIGTERM')],
    ['uncaughtException', onFatal('uncaught exception')],
    ['unhandledRejection', onFatal('unhandled promise rejection')],
  ];
  for (const [event, fn] of handlers) proc.on(event, fn);

  void agent.failed.then((e) => {
    if (ending) return;
    ending = true;
    agent.log.fatal({ err: e.message }, 'the agent cannot go on: writing a checkpoint and exiting (1) for a supervisor to restart it');
    agent.stop().then(
      () => exit(1),
      () => exit(1),
    );
  });

  return () => {
    for (const [event, fn] of handlers) proc.off(event, fn);
  };
}
