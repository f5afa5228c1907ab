import { createHmac, randomUUID } from 'node:crypto';
import { defaultLogger, type Logger } from '../util/Logger';
import { eventPayload, type NotifiableEvent } from './eventPayload';

export interface WebhookTarget {
  url: string;
  /** HMAC-SHA256 key: each POST carries `X-Dino-Signature-256: sha256=<hex of HMAC(secret, body)>`. */
  secret?: string;
  /** Event types sent to this URL. */
  types: string[];
  timeoutMs: number;
  /** Tries per event (the first and the retries). */
  maxAttempts: number;
  /** Events waiting for this URL; beyond it the oldest is dropped and counted. */
  queueSize: number;
}

export interface WebhookOptions {
  publicUrl?: string;
  /** Retry delays: initialMs * 2^(attempt-1), capped at maxMs, with +-20% jitter. */
  backoff?: { initialMs: number; maxMs: number };
  log?: Logger;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  retries: number;
  queued: number;
  /** Milliseconds from notify() to the receiver's 2xx answer, of the last delivery. */
  lastLatencyMs?: number;
}

export const signBody = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

interface Job {
  body: string;
  type: string;
  delivery: string;
  queuedAt: number;
}

/**
 * How a webhook is named in logs and stats: its origin and its place in the configuration. Never its path or
 * query: a webhook URL often is the credential (Home Assistant's /api/webhook/<id>, Slack's /services/...).
 */
export function webhookName(url: string, index: number): string {
  let origin = '(invalid URL)';
  try {
    origin = new URL(url).origin;
  } catch {
    // validated by the config schema; kept total for programmatic use
  }
  return `${origin} (notify.webhooks[${index}])`;
}

/** A receiver answer that will not change on a retry (4xx but 408 Request Timeout and 429 Too Many Requests). */
const permanent = (status: number) => status >= 400 && status < 500 && status !== 408 && status !== 429;

function failureText(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer within the timeout';
  const c = err.cause;
  return c?.code ? `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message})` : ''}` : err.message;
}

/** One URL's queue and its delivery loop: events in order, one at a time, each retried with back-off. */
class WebhookQueue {
  readonly stats: WebhookStats = { delivered: 0, failed: 0, dropped: 0, retries: 0, queued: 0 };
  private readonly jobs: Job[] = [];
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;
  private idle: Promise<void> = Promise.resolve();
  readonly where: string;

  constructor(
    readonly target: WebhookTarget,
    index: number,
    private readonly o: WebhookOptions,
    private readonly log: Logger,
  ) {
    this.where = webhookName(target.url, index);
  }

  push(job: Job): void {
    if (this.stopped) return;
    this.jobs.push(job);
    if (this.jobs.length > this.target.queueSize) {
      this.jobs.shift();
      this.stats.dropped++;
      this.log.warn({ webhook: this.where, dropped: this.stats.dropped }, `webhook ${this.where}: queue full (${this.target.queueSize}), oldest event dropped`);
    }
    this.stats.queued = this.jobs.length;
    if (!this.running) this.idle = this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let job = this.jobs.shift(); job && !this.stopped; job = this.jobs.shift()) {
        this.stats.queued = this.jobs.length;
        await this.deliver(job);
      }
    } finally {
      this.running = false;
    }
  }

  private async deliver(job: Job): Promise<void> {
    const { initialMs, maxMs } = this.o.backoff ?? { initialMs: 1000, maxMs: 60_000 };
    let last = '';
    for (let attempt = 1; attempt <= this.target.maxAttempts && !this.stopped; attempt++) {
      if (attempt > 1) {
        this.stats.retries++;
        const delay = Math.min(maxMs, initialMs * 2 ** (attempt - 2)) * (0.8 + 0.4 * Math.random());
        await this.sleep(delay);
        if (this.stopped) break;
      }
      try {
        const res = await fetch(this.target.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'dino-stream',
            'x-dino-event': job.type,
            'x-dino-delivery': job.delivery,
            ...(this.target.secret ? { 'x-dino-signature-256': signBody(this.target.secret, job.body) } : {}),
          },
          body: job.body,
          signal: AbortSignal.any([AbortSignal.timeout(this.target.timeoutMs), this.abort.signal]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.stats.delivered++;
          this.stats.lastLatencyMs = Date.now() - job.queuedAt;
          if (attempt > 1) this.log.info({ webhook: this.where }, `webhook ${this.where}: delivered after ${attempt} attempts`);
          return;
        }
        last = `HTTP ${res.status}`;
        if (permanent(res.status)) break;
      } catch (e) {
        if (this.stopped) break;
        last = failureText(e);
      }
      if (attempt === 1) this.log.warn({ webhook: this.where, err: last }, `webhook ${this.where}: ${last}; retrying with back-off (up to ${this.target.maxAttempts} attempts)`);
    }
    this.stats.failed++;
    this.log.error({ webhook: this.where, err: last, delivery: job.delivery }, `webhook ${this.where}: ${job.type} event not delivered: ${last || 'stopped'}`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => (clearTimeout(t), resolve());
    });
  }

  /** Lets the queue drain for up to graceMs, then abandons what is left. */
  async stop(graceMs: number): Promise<void> {
    const drained = this.idle.then(() => true);
    const timedOut = new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref());
    if (!(await Promise.race([drained, timedOut]))) {
      this.stopped = true;
      this.abort.abort();
      this.wake?.();
      await this.idle;
    }
    this.stopped = true;
  }
}

/**
 * POSTs events as JSON to the configured URLs. Each URL has its own bounded queue and delivery loop, so a slow or
 * dead receiver delays only its own events and never the agent: notify() returns at once.
 */
export class WebhookNotifier {
  private readonly queues: WebhookQueue[];

  constructor(targets: WebhookTarget[], private readonly o: WebhookOptions = {}) {
    const log = o.log ?? defaultLogger();
    this.queues = targets.map((t, i) => new WebhookQueue(t, i, o, log));
  }

  notify(e: NotifiableEvent): void {
    const matching = this.queues.filter((q) => q.target.types.includes(e.type));
    if (matching.length === 0) return;
    const body = JSON.stringify(eventPayload(e, this.o.publicUrl));
    const job = { body, type: e.type, delivery: e.id ?? randomUUID(), queuedAt: Date.now() };
    for (const q of matching) q.push(job);
  }

  stats(): Record<string, WebhookStats> {
    return Object.fromEntries(this.queues.map((q) => [q.where, { ...q.stats }]));
  }

  async stop(graceMs = 2000): Promise<void> {
    await Promise.all(this.queues.map((q) => q.stop(graceMs)));
  }
}
