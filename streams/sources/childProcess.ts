import { ChildProcess, spawn, type SpawnOptions } from 'child_process';
import { accessSync, constants } from 'fs';

/** util-linux's setpriv (Linux), or null where there is none. */
let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    if (process.platform === 'linux') {
      for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
        try {
          accessSync(p, constants.X_OK);
          setprivPath = p;
          break;
        } catch {
          // not here
        }
      }
    }
  }
  return setprivPath;
}

/** Whether spawnTied can tie children to this process (Linux with util-linux's setpriv). */
export function canTieChildren(): boolean {
  return setpriv() !== null;
}

/**
 * spawn, with the child killed by the kernel when this process dies, however it dies (kill -9 included): on Linux
 * through `setpriv --pdeathsig KILL`, which sets PR_SET_PDEATHSIG and then execs the command (same pid, this
 * process stays its parent). Where setpriv is missing, a plain spawn: only the exit hook of trackChild remains.
 */
export function spawnTied(command: string, args: string[], options: SpawnOptions): ChildProcess {
  const sp = setpriv();
  return sp ? spawn(sp, ['--pdeathsig', 'KILL', '--', command, ...args], options) : spawn(command, args, options);
}

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
