import { Frame } from '../../streams/Frame';

/**
 * Tiny frames for marble tests: `f('a', 3)` is frame 3 of stream 'a' (1x1 pixel). Marble values are compared
 * by deep equality, so the same call gives an equal value.
 */
export function f(streamId: string, index: number, t = 0): Frame {
  return { streamId, index, t, width: 1, height: 1, rgb: new Uint8Array([index & 255, 0, 0]) };
}
