import { z } from 'zod';
import type { RawData } from 'ws';
import { isValidStreamId, streamIdProblem } from './StreamId';

/**
 * Client -> server control messages on /embeddings, /events and /ui (JSON text frames).
 * Unknown extra keys are ignored (forward compatibility); unknown types and wrong shapes are answered with an error.
 */
export type ControlErrorCode =
  | 'too_large' // longer than the control-message limit
  | 'binary_not_supported' // control sockets take JSON text only
  | 'bad_json' // not JSON
  | 'bad_message' // JSON of the wrong shape
  | 'unknown_type' // a type this endpoint does not handle
  | 'bad_stream_id'
  | 'too_many_streams'
  | 'rate_limited' // more messages per second than the per-connection budget
  | 'bad_query'; // an invalid query-string parameter (answered as HTTP 400 on upgrade)

export interface ControlErrorMessage {
  type: 'error';
  code: ControlErrorCode;
  message: string;
}

export const EVENT_TYPES = ['novelty', 'drift', 'collapse', 'camera'] as const;
export type EventTypeName = (typeof EVENT_TYPES)[number];

const streamsField = z.union([z.literal('*'), z.array(z.string()).max(10_000)]);

export const SubscribeMessage = z.object({
  type: z.literal('subscribe'),
  streams: streamsField.optional(),
  format: z.enum(['json', 'binary']).optional(),
  raw: z.boolean().optional(),
});
export const UnsubscribeMessage = z.object({ type: z.literal('unsubscribe'), streams: streamsField });
export const FilterMessage = z.object({
  type: z.literal('filter'),
  streams: streamsField.optional(),
  types: z.union([z.literal('*'), z.array(z.enum(EVENT_TYPES))]).optional(),
});
export const PingMessage = z.object({ type: z.literal('ping'), id: z.union([z.string().max(64), z.number()]).optional() });

const schemas = { subscribe: SubscribeMessage, unsubscribe: UnsubscribeMessage, filter: FilterMessage, ping: PingMessage };
export type ControlType = keyof typeof schemas;
export type ControlMessage =
  | z.infer<typeof SubscribeMessage>
  | z.infer<typeof UnsubscribeMessage>
  | z.infer<typeof FilterMessage>
  | z.infer<typeof PingMessage>;

export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
  }
  toJSON(): ControlErrorMessage {
    return { type: 'error', code: this.code, message: this.message };
  }
}

/** Parses one incoming frame into a control message this endpoint accepts; throws ControlError otherwise. */
export function parseControl(data: RawData, isBinary: boolean, maxBytes: number, accepted: readonly ControlType[]): ControlMessage {
  const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
  if (buf.length > maxBytes) throw new ControlError('too_large', `control message of ${buf.length} bytes exceeds the limit of ${maxBytes} bytes`);
  if (isBinary) throw new ControlError('binary_not_supported', 'control messages are JSON text frames; binary frames are not accepted here');
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new ControlError('bad_json', `not valid JSON: ${(e as Error).message}`);
  }
  const type = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') throw new ControlError('bad_message', 'expected a JSON object with a string "type"');
  if (!(accepted as readonly string[]).includes(type)) {
    throw new ControlError('unknown_type', `unknown message type ${JSON.stringify(type.slice(0, 40))} here; accepted: ${accepted.join(', ')}`);
  }
  const r = schemas[type as ControlType].safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? ` at "${issue.path.join('.')}"` : '';
    throw new ControlError('bad_message', `bad "${type}" message${where}: ${issue.message}`);
  }
  return r.data;
}

/** Validates a list of stream ids (or '*') against the id rule and the per-client limit. */
export function checkStreams(streams: string[] | '*', maxStreams: number): string[] | '*' {
  if (streams === '*') return '*';
  const bad = streams.find((s) => !isValidStreamId(s));
  if (bad !== undefined) throw new ControlError('bad_stream_id', streamIdProblem(bad)!);
  const unique = [...new Set(streams)];
  if (unique.length > maxStreams) throw new ControlError('too_many_streams', `${unique.length} streams requested; at most ${maxStreams} per client (or "*" for all)`);
  return unique;
}

/** `a,b,c` or `*` from a query string; undefined when absent or empty. */
export function listParam(q: URLSearchParams, name: string): string[] | '*' | undefined {
  const all = q.getAll(name).flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
  if (all.length === 0) return undefined;
  return all.includes('*') ? '*' : all;
}

/** 1/true/yes/on -> true, 0/false/no/off -> false; anything else is a bad_query. */
export function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (/^(1|true|yes|on|)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ControlError('bad_query', `query parameter ${name}=${JSON.stringify(v.slice(0, 40))}: use 1 or 0`);
}
