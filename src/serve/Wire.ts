/**
 * One outgoing websocket message, serialized once and shared by every client that receives it.
 * JSON goes out as a Buffer with binary=false (a text frame): ws would otherwise re-encode a string for each client.
 */
export interface Wire {
  readonly data: Buffer;
  readonly binary: boolean;
}

export function jsonWire(value: unknown): Wire {
  return { data: Buffer.from(JSON.stringify(value), 'utf8'), binary: false };
}

export function binaryWire(bytes: Uint8Array): Wire {
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { data, binary: true };
}
