/** An event with its picture paths (relative to the agent's HTTP root), as the event store returns it. */
export interface NotifiableEvent {
  type: string;
  t: number;
  streamId?: string;
  id?: string;
  snapshot?: string;
  before?: string;
}

/** Where a URL is shown to a reader: scheme, host, port and path, never `user:pass@` or a query (tokens). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The JSON a notification carries: the event as published, with `snapshot_url` (and `before_url` for drift) made
 * absolute with the agent's public URL, so a phone or Home Assistant can fetch the picture (with the agent's token
 * when it has one).
 */
export function eventPayload(e: NotifiableEvent, publicUrl: string | undefined): Record<string, unknown> {
  const base = (publicUrl ?? '').replace(/\/+$/, '');
  const out: Record<string, unknown> = { ...e };
  if (e.snapshot) out['snapshot_url'] = `${base}${e.snapshot}`;
  if (e.before) out['before_url'] = `${base}${e.before}`;
  return out;
}
