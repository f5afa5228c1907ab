import type { WebSocket } from 'ws';

interface Tracked {
  alive: boolean;
  onTick?: () => void;
  onDead: () => void;
}

/**
 * Pings every tracked socket each interval; a socket that has not answered the previous ping is terminated
 * (no close handshake: a dead peer would never complete it). The tick also pumps each client's queue, a backstop
 * in case a drain went unnoticed.
 */
export class Heartbeat {
  private readonly sockets = new Map<WebSocket, Tracked>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly intervalMs: number) {}

  track(socket: WebSocket, onDead: () => void, onTick?: () => void): void {
    const t: Tracked = { alive: true, onDead, onTick };
    this.sockets.set(socket, t);
    socket.on('pong', () => {
      t.alive = true;
    });
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

  tick(): void {
    for (const [socket, t] of this.sockets) {
      if (!t.alive) {
        this.sockets.delete(socket);
        t.onDead();
        socket.terminate();
        continue;
      }
      t.alive = false;
      try {
        socket.ping();
      } catch {
        // not open any more: 'close' will remove it
      }
      t.onTick?.();
    }
  }
}
