import type { Counter } from 'prom-client';
import type { ControlErrorCode } from './ControlMessages';
import type { ServePath, ServerMetrics } from './ServerMetrics';

type Child = ReturnType<Counter<'path'>['labels']>;

/** The metrics of one endpoint, with the labels bound once (per-message label lookups cost more than the increment). */
export class ServeMetricsChildren {
  readonly sent: Child;
  readonly bytes: Child;
  readonly dropped: Child;

  constructor(
    private readonly metrics: ServerMetrics,
    readonly path: ServePath,
  ) {
    this.sent = metrics.messagesSent.labels({ path });
    this.bytes = metrics.bytesSent.labels({ path });
    this.dropped = metrics.messagesDropped.labels({ path });
  }

  controlError(code: ControlErrorCode): void {
    this.metrics.controlErrors.inc({ path: this.path, code });
  }
}
