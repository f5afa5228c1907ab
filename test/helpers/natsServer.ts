import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './freePort';

const BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => fs.existsSync(p)) ?? 'nats-server';

/**
 * Debian's nats-server with JetStream on 127.0.0.1, a free port and a temporary store, for one test file.
 * restart() stops it and starts it again on the same port and store (a broker that goes away and comes back).
 */
export class NatsServer {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-nats-'));
  private proc: ChildProcess | null = null;
  private constructor(readonly port: number, private readonly extraArgs: string[]) {}

  static async start(extraArgs: string[] = []): Promise<NatsServer> {
    const s = new NatsServer(await freePort(), extraArgs);
    await s.launch();
    return s;
  }

  /** The broker's process id while it runs (for CPU accounting in bench:scale). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private launch(): Promise<void> {
    const proc = spawn(BIN, ['-js', '-sd', path.join(this.dir, 'store'), '-a', '127.0.0.1', '-p', String(this.port), ...this.extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    return new Promise((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start in 20 s:\n${log}`)), 20_000);
      proc.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (/Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}):\n${log}`));
      });
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  /** Stops the broker, runs `whileDown` (or waits downMs), and starts it again on the same port and store. */
  async restart(whileDown: number | (() => Promise<unknown>) = 0): Promise<void> {
    await this.stop();
    if (typeof whileDown === 'number') await new Promise((r) => setTimeout(r, whileDown));
    else await whileDown();
    await this.launch();
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
