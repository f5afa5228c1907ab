import type { RawData, WebSocket } from 'ws';
import type { Logger } from '../util/Logger';
import { ClientQueue } from './ClientQueue';
import { ControlError, ControlMessage, ControlType, parseControl } from './ControlMessages';
import type { ServerLimits } from './ServeOptions';
import type { ServeMetricsChildren } from './ServeMetricsChildren';
import { jsonWire, Wire } from './Wire';
import { TokenBucket } from '../util/TokenBucket';

let nextId = 1;

/**
 * One subscriber socket on /embeddings, /events or /ui: its bounded send queue, its control-message parsing and its
 * budget of bad messages. Channels decide what a control message means; this class only makes it safe to receive.
 */
export class ClientConnection {
  readonly id = nextId++;
  readonly queue: ClientQueue;
  private errorWindowStart = Date.now();
  private errorsInWindow = 0;
  private readonly rate: TokenBucket;

  constructor(
    readonly socket: WebSocket,
    private readonly limits: ServerLimits,
    private readonly m: ServeMetricsChildren,
    private readonly log: Logger,
    readonly remote: string,
  ) {
    this.queue = new ClientQueue(socket, {
      maxMessages: limits.queueMaxMessages,
      maxBytes: limits.queueMaxBytes,
      highWaterMark: limits.highWaterMarkBytes,
      onSent: (bytes) => {
        m.sent.inc();
        m.bytes.inc(bytes);
      },
      onDropped: (n) => m.dropped.inc(n),
    });
    this.rate = new TokenBucket(limits.messagesPerSecond, limits.messageBurst);
    socket.on('close', () => this.queue.close());
  }

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(w: Wire): void {
    this.queue.push(w);
  }

  sendJson(value: unknown): void {
    this.queue.push(jsonWire(value));
  }

  /**
   * Routes incoming frames: valid control messages of the accepted types go to `handle`; anything else is answered
   * with {type:'error'} and counted. A client that keeps sending bad messages is closed (1008).
   */
  onControl(accepted: readonly ControlType[], handle: (msg: ControlMessage) => void): void {
    this.socket.on('message', (data: RawData, isBinary: boolean) => {
      if (!this.rate.take()) {
        const { messagesPerSecond: r, messageBurst: b } = this.limits;
        return this.reject(new ControlError('rate_limited', `more than ${r} messages per second (bursts of ${b}); this one was ignored, slow down`));
      }
      try {
        handle(parseControl(data, isBinary, this.limits.maxControlMessageBytes, accepted));
      } catch (e) {
        if (e instanceof ControlError) this.reject(e);
        else {
          this.log.error({ err: (e as Error).message, client: this.id }, 'serve: control handler failed');
          this.reject(new ControlError('bad_message', 'could not handle the message'));
        }
      }
    });
  }

  reject(e: ControlError): void {
    this.m.controlError(e.code);
    this.sendJson(e.toJSON());
    const now = Date.now();
    if (now - this.errorWindowStart > 60_000) {
      this.errorWindowStart = now;
      this.errorsInWindow = 0;
    }
    if (++this.errorsInWindow > this.limits.maxControlErrorsPerMinute) {
      this.log.warn({ client: this.id, remote: this.remote }, 'serve: closing a client that keeps sending bad messages');
      this.socket.close(1008, 'too many bad messages');
    }
  }
}
