import type { WebSocket } from 'ws';

interface Tracked {
  /** Pings sent since the socket last showed a sign of life (a pong or any message). */
  missed: number;
  onTick?: () => void;
  onDead: () => void;
}

/**
 * Pings every tracked socket each interval; a socket that has answered none of its last `maxMissed` pings (nor sent
 * anything) is terminated (no close handshake: a dead peer would never complete it). The tick also pumps each
 * client's queue, a backstop in case a drain went unnoticed.
 * Two things keep a busy agent from terminating live clients: the verdict waits for the I/O already received (after
 * an event-loop stall, timers run before the sockets are read, so a pong that arrived during the stall would not
 * have been seen yet), and one late pong is forgiven.
 */
export class Heartbeat {
  private readonly sockets = new Map<WebSocket, Tracked>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly intervalMs: number,
    private readonly maxMissed = 2,
  ) {}

  track(socket: WebSocket, onDead: () => void, onTick?: () => void): void {
    const t: Tracked = { missed: 0, onDead, onTick };
    this.sockets.set(socket, t);
    const alive = () => (t.missed = 0);
    socket.on('pong', alive);
    socket.on('message', alive);
    socket.on('close', () => this.sockets.delete(socket));
  }

  start(): void {
    if (this.timer || !(this.intervalMs > 0)) return;
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** setImmediate runs after the poll phase: pongs already received are counted before the verdict. */
  tick(): void {
    setImmediate(() => this.check());
  }

  private check(): void {
    for (const [socket, t] of this.sockets) {
      if (t.missed >= this.maxMissed) {
        this.sockets.delete(socket);
        t.onDead();
        socket.terminate();
        continue;
      }
      t.missed++;
      try {
        socket.ping();
      } catch {
        // not open any more: 'close' will remove it
      }
      t.onTick?.();
    }
  }
}
