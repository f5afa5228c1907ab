import WebSocket from 'ws';

/**
 * A ws subscriber that reconnects (every 200 ms) whenever its socket closes, as a dashboard or a DinoClient user
 * would: it keeps every JSON message it was sent, stamped with the time it arrived and the connection it came on.
 */
export class ReconnectingSubscriber {
  readonly messages: { m: Record<string, unknown>; at: number; connection: number }[] = [];
  connections = 0;
  private ws: WebSocket | null = null;
  private closed = false;

  constructor(private readonly url: string) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.on('open', () => this.connections++);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.messages.push({ m: JSON.parse(data.toString()) as Record<string, unknown>, at: Date.now(), connection: this.connections });
    });
    ws.on('error', () => undefined);
    ws.on('close', () => setTimeout(() => this.open(), 200));
  }

  of(type: string): Record<string, unknown>[] {
    return this.messages.filter((x) => x.m['type'] === type).map((x) => x.m);
  }

  close(): void {
    this.closed = true;
    this.ws?.terminate();
  }
}

/** Resolves once `pred` holds (checked every 100 ms). */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One Prometheus sample's value from a /metrics text (NaN when absent). */
export function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}
