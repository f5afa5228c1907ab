import type { JsMsg } from '@nats-io/jetstream';
import { waitedMs } from '../../src/scale/embedRole';

/** A message the broker stored at `ms` (epoch milliseconds) and 123456 ns. */
const stored = (ms: number): Pick<JsMsg, 'timestampNanos'> => ({ timestampNanos: BigInt(ms) * 1_000_000n + 123_456n });

describe('waitedMs: how long a frame waited in FRAMES (the embed workers skip it beyond nats.maxFrameAgeSec)', () => {
  test('from the broker timestamp in nanoseconds to now, in whole milliseconds', () => {
    const t = 1_796_625_185_761;
    expect(waitedMs(stored(t), t + 4999)).toBe(4999);
    expect(waitedMs(stored(t), t + 5001)).toBe(5001);
    // nanoseconds beyond the millisecond are dropped, not rounded into a whole millisecond more
    expect(waitedMs(stored(t), t)).toBe(0);
  });

  test('a timestamp beyond 2^53 ns keeps millisecond precision (no float rounding of the nanoseconds)', () => {
    const t = 9_007_199_254_741; // ms; in ns well beyond Number.MAX_SAFE_INTEGER
    expect(waitedMs(stored(t), t + 1)).toBe(1);
  });
});
