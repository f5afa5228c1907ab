import { Counter, Gauge, type Registry } from 'prom-client';

/** What the event store counts (EventStore). */
export interface StoreCounts {
  /** Events written with their pictures. */
  stored: number;
  /** Events that could not be written (published without pictures). */
  failures: number;
  /** Events removed by retention. */
  pruned: number;
  readonly size: { count: number; bytes: number };
}

/** What a notifier counts, as one of the three outcomes of a notification. */
export interface NotifierCounts {
  sent: number;
  failed: number;
  dropped: number;
}

/** The notifiers the agent runs (Notifications), each null when not configured. */
export interface NotifierSet {
  readonly mqtt: { published: number; failed: number; dropped: number } | null;
  readonly webhooks: { stats(): Record<string, { delivered: number; failed: number; dropped: number }> } | null;
}

const RESULTS = ['sent', 'failed', 'dropped'] as const;

/**
 * The publishers' counters on /metrics: snapshots stored or not, MQTT messages and webhook deliveries sent, failed
 * or dropped. The store and the notifiers keep their own counts (since start); a scrape copies them in.
 */
export class PublisherMetrics {
  private store: StoreCounts | null = null;
  private notifiers: NotifierSet | null = null;

  constructor(registry: Registry) {
    const self = this;
    new Counter({
      name: 'dino_event_store_writes_total',
      help: 'Detector events written with their snapshots (result="stored") or not written, then published without pictures (result="failed")',
      labelNames: ['result'] as const,
      registers: [registry],
      collect() {
        const s = self.store;
        if (!s) return;
        this.reset();
        this.inc({ result: 'stored' }, s.stored);
        this.inc({ result: 'failed' }, s.failures);
      },
    });
    new Counter({
      name: 'dino_event_store_pruned_total',
      help: 'Stored events removed by retention (events.maxCount, maxBytes, maxAgeDays)',
      registers: [registry],
      collect() {
        if (!self.store) return;
        this.reset();
        this.inc(self.store.pruned);
      },
    });
    new Gauge({
      name: 'dino_event_store_events',
      help: 'Events kept in the event store',
      registers: [registry],
      collect() {
        if (self.store) this.set(self.store.size.count);
      },
    });
    new Gauge({
      name: 'dino_event_store_bytes',
      help: 'Bytes on disk of the stored events and their pictures',
      registers: [registry],
      collect() {
        if (self.store) this.set(self.store.size.bytes);
      },
    });
    new Counter({
      name: 'dino_notifications_total',
      help: 'Notifications by channel: MQTT messages acknowledged by the broker, webhook events delivered (result="sent"), given up or refused (failed), dropped from a full queue (dropped)',
      labelNames: ['channel', 'result'] as const,
      registers: [registry],
      collect() {
        const n = self.notifiers;
        if (!n) return;
        this.reset();
        const put = (channel: string, c: NotifierCounts) => {
          for (const result of RESULTS) this.inc({ channel, result }, c[result]);
        };
        if (n.mqtt) put('mqtt', { sent: n.mqtt.published, failed: n.mqtt.failed, dropped: n.mqtt.dropped });
        if (n.webhooks) {
          const sum: NotifierCounts = { sent: 0, failed: 0, dropped: 0 };
          for (const s of Object.values(n.webhooks.stats())) {
            sum.sent += s.delivered;
            sum.failed += s.failed;
            sum.dropped += s.dropped;
          }
          put('webhook', sum);
        }
      },
    });
  }

  /** The event store to read (null: events are not stored, no series). */
  watchStore(store: StoreCounts | null): void {
    this.store = store;
  }

  watchNotifiers(notifiers: NotifierSet): void {
    this.notifiers = notifiers;
  }
}
