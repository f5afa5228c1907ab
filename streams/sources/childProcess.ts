import { ChildProcess } from 'child_process';

/** Children still running, killed synchronously if this process exits so no ffmpeg is ever orphaned. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export function trackChild(proc: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of live) {
        try {
          p.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  proc.once('error', () => live.delete(proc));
}

/** Pids of tracked children that have not exited yet (tests assert this is empty after teardown). */
export function liveChildPids(): number[] {
  return [...live].map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
}

export function hasExited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

/**
 * SIGTERM, then SIGKILL after graceMs: ffmpeg blocked in a read on a stalled network stream can ignore SIGTERM.
 * Resolves once the process has exited.
 */
export function killGracefully(proc: ChildProcess, graceMs: number): Promise<void> {
  if (hasExited(proc) || proc.pid === undefined) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      if (!hasExited(proc)) proc.kill('SIGKILL');
    }, graceMs);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}
