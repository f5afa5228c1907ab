import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as path from 'node:path';

// from test/agent (ts-jest) or dist/test/agent (a compiled bench script)
export const CLI = path.resolve(__dirname, path.basename(path.resolve(__dirname, '../..')) === 'dist' ? '../../src/cli.js' : '../../dist/src/cli.js');

/** A real `dino-stream run` process with its JSON log lines collected. */
export class AgentProcess {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly proc: ChildProcessWithoutNullStreams;

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, [CLI, 'run', '--log-format', 'json', ...args], { env: { ...process.env, ...env } });
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.raw.push(line);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not JSON (e.g. a stack trace) */
        }
      }
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)));
  }

  /** Resolves with the first log line whose msg matches, or rejects after timeoutMs with the log so far. */
  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      for (const l of this.lines) {
        const m = re.exec(String(l['msg'] ?? ''));
        if (m) return m;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${re}; log:\n${this.raw.slice(-30).join('\n')}`);
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}
