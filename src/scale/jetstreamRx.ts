import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { Observable } from 'rxjs';
import type { Logger } from '../util/Logger';

/**
 * A durable pull consumer's messages as an Observable, with back-pressure: at most `inFlight` messages are handed
 * out and not yet settled (ack, nak or term through this object); the client library itself buffers at most
 * `prefetch` more. So a worker never takes work it cannot start soon: the others get it, and a message never
 * waits in a queue here long enough to be redelivered elsewhere.
 */
export class PulledMessages {
  private handedOut = 0;
  private wake: (() => void) | null = null;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly durable: string,
    private readonly o: { prefetch: number; inFlight: number; log: Logger },
  ) {}

  /** Subscribing starts consuming; unsubscribing stops (messages handed out and unsettled are redelivered later). */
  readonly messages$ = new Observable<JsMsg>((subscriber) => {
    let stopped = false;
    let iter: ConsumerMessages | null = null;
    void (async () => {
      const consumer = await this.js.consumers.get(this.stream, this.durable);
      if (stopped) return;
      iter = await consumer.consume({ max_messages: this.o.prefetch });
      for await (const m of iter) {
        while (this.handedOut >= this.o.inFlight && !stopped) await new Promise<void>((r) => (this.wake = r));
        if (stopped) {
          m.nak(); // taken but never handed out: straight back to the others
          continue;
        }
        this.handedOut++;
        subscriber.next(m);
      }
    })().then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(e),
    );
    return () => {
      stopped = true;
      this.wake?.();
      void iter?.close();
    };
  });

  ack(msgs: readonly JsMsg[]): void {
    for (const m of msgs) m.ack();
    this.settled(msgs.length);
  }

  /** Back to the consumer for another delivery after `delayMs`. */
  nak(msgs: readonly JsMsg[], delayMs?: number): void {
    for (const m of msgs) m.nak(delayMs);
    this.settled(msgs.length);
  }

  /** Never to be delivered again (malformed). */
  term(m: JsMsg, reason: string): void {
    m.term(reason);
    this.settled(1);
  }

  /** Tell the broker the messages are still being worked on (their ack timers restart). */
  working(msgs: readonly JsMsg[]): void {
    for (const m of msgs) m.working();
  }

  /**
   * Runs `work` on msgs, telling the broker every `everyMs` that they are still being worked on: a long batch (a
   * slow machine) keeps its messages instead of having them handed to another consumer mid-way.
   */
  async keepingAlive<T>(msgs: readonly JsMsg[], everyMs: number, work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => this.working(msgs), everyMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  private settled(n: number): void {
    this.handedOut = Math.max(0, this.handedOut - n);
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * An ordered consumer (ephemeral, no acks, recreated by the library after a gap or a reconnection) over `subject`
 * of `stream`, from the messages published after it starts.
 */
export function orderedMessages$(js: JetStreamClient, stream: string, subject: string): Observable<JsMsg> {
  return new Observable<JsMsg>((subscriber) => {
    let stopped = false;
    let iter: ConsumerMessages | null = null;
    void (async () => {
      const consumer = await js.consumers.get(stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.New });
      if (stopped) return;
      iter = await consumer.consume();
      for await (const m of iter) subscriber.next(m);
    })().then(
      () => subscriber.complete(),
      (e: unknown) => subscriber.error(e),
    );
    return () => {
      stopped = true;
      void iter?.close();
    };
  });
}

/** A core NATS subscription (at most once, nothing kept) as an Observable. */
export function subscription$(nc: NatsConnection, subject: string): Observable<Msg> {
  return new Observable<Msg>((subscriber) => {
    const sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) subscriber.error(err);
        else subscriber.next(msg);
      },
    });
    return () => sub.unsubscribe();
  });
}
