import type { AgentEvent, AttentionMessage, StatsMessage, ThumbnailMessage } from '../types/messages';
import { FrameCodecError } from './FrameCodec';

/**
 * The dashboard's feeds on the broker (thumbnails, attention maps, training stats, events): a uint32 LE length, that
 * many bytes of JSON, then the binary parts each behind its own uint32 length. Readers check every length and the
 * fields they use; a malformed message is dropped by the reader.
 */
function pack(meta: unknown, parts: Uint8Array[] = []): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(4 + json.length + parts.reduce((n, p) => n + 4 + p.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  out.set(json, 4);
  let at = 4 + json.length;
  for (const p of parts) {
    dv.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

function unpack(bytes: Uint8Array, nParts: number): { meta: Record<string, unknown>; parts: Uint8Array[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = (at: number) => {
    if (at + 4 > bytes.length) throw new FrameCodecError('feed message truncated');
    const n = dv.getUint32(at, true);
    if (at + 4 + n > bytes.length) throw new FrameCodecError('feed message truncated');
    return bytes.subarray(at + 4, at + 4 + n);
  };
  const json = read(0);
  const meta: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new FrameCodecError('feed message: no JSON object');
  const parts: Uint8Array[] = [];
  let at = 4 + json.length;
  for (let i = 0; i < nParts; i++) {
    const p = read(at);
    parts.push(p);
    at += 4 + p.length;
  }
  return { meta: meta as Record<string, unknown>, parts };
}

const need = (m: Record<string, unknown>, fields: Record<string, 'string' | 'number'>, what: string) => {
  for (const [k, t] of Object.entries(fields)) if (typeof m[k] !== t) throw new FrameCodecError(`${what}: ${k} is not a ${t}`);
};

export function encodeThumbnail(m: ThumbnailMessage): Uint8Array {
  const { jpeg, ...meta } = m;
  return pack(meta, [jpeg]);
}

export function decodeThumbnail(bytes: Uint8Array): ThumbnailMessage {
  const { meta, parts } = unpack(bytes, 1);
  need(meta, { streamId: 'string', t: 'number', frameIndex: 'number', width: 'number', height: 'number' }, 'thumbnail');
  return { ...(meta as Omit<ThumbnailMessage, 'jpeg'>), jpeg: Buffer.from(parts[0]!) };
}

export function encodeAttention(m: AttentionMessage): Uint8Array {
  const { jpeg, maps, ...meta } = m;
  return pack(meta, [new Uint8Array(maps.buffer, maps.byteOffset, maps.byteLength), jpeg]);
}

export function decodeAttention(bytes: Uint8Array): AttentionMessage {
  const { meta, parts } = unpack(bytes, 2);
  need(meta, { streamId: 'string', t: 'number', frameIndex: 'number', teacherStep: 'number', grid: 'number', heads: 'number' }, 'attention');
  const m = meta as Omit<AttentionMessage, 'maps' | 'jpeg'>;
  const raw = parts[0]!;
  if (raw.length !== 4 * m.heads * m.grid * m.grid) throw new FrameCodecError(`attention: ${raw.length} bytes of maps for ${m.heads} heads of ${m.grid}x${m.grid}`);
  return { ...m, maps: new Float32Array(new Uint8Array(raw).buffer), jpeg: Buffer.from(parts[1]!) };
}

export function encodeStats(m: StatsMessage): Uint8Array {
  return pack(m);
}

export function decodeStats(bytes: Uint8Array): StatsMessage {
  const { meta } = unpack(bytes, 0);
  need(meta, { t: 'number', step: 'number', loss: 'number' }, 'stats');
  return meta as unknown as StatsMessage;
}

const EVENT_TYPES = new Set<AgentEvent['type']>(['novelty', 'drift', 'collapse', 'camera']);

export function encodeEvent(e: AgentEvent): Uint8Array {
  return pack(e);
}

export function decodeEvent(bytes: Uint8Array): AgentEvent {
  const { meta } = unpack(bytes, 0);
  need(meta, { type: 'string', t: 'number' }, 'event');
  if (!EVENT_TYPES.has(meta['type'] as AgentEvent['type'])) throw new FrameCodecError(`event: unknown type ${String(meta['type']).slice(0, 40)}`);
  return meta as unknown as AgentEvent;
}
