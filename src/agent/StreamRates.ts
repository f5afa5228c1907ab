import type { Frame } from '../../streams/Frame';
import type { CameraState } from '../../streams/CameraState';
import type { CameraStateName } from '../types/CameraStateName';
import type { StatsMessage } from '../types/messages';

interface StreamEntry {
  count: number;
  since: number;
  fps: number;
  state?: CameraStateName;
}

/**
 * What the stats report per stream: frames received per second (counted over windows of at least 2 s, so a
 * 10 fps camera does not read 9 or 11 from one late frame), frames dropped before the replay buffer, and the
 * camera's connection state.
 */
export class StreamRates {
  private readonly streams = new Map<string, StreamEntry>();
  private dropped: Readonly<Record<string, number>> = {};

  constructor(private readonly now: () => number = Date.now) {}

  /** Shows a stream before its first frame (a declared ws stream waiting for its client). */
  declare(streamId: string): void {
    this.entry(streamId);
  }

  /** A stream removed at run time leaves the stats. */
  forget(streamId: string): void {
    this.streams.delete(streamId);
  }

  onFrame(f: Frame): void {
    this.entry(f.streamId).count++;
  }

  onState(s: CameraState): void {
    this.entry(s.streamId).state = s.state;
  }

  /** Drops per stream since start, as the training loop reports them. */
  onDropped(counts: Readonly<Record<string, number>>): void {
    this.dropped = counts;
  }

  /** Closes every window of 2 s or more into its stream's fps; call it every second. */
  tick(): void {
    const now = this.now();
    for (const e of this.streams.values()) {
      const dt = (now - e.since) / 1000;
      if (dt >= 2) {
        e.fps = e.count / dt;
        e.count = 0;
        e.since = now;
      }
    }
  }

  /** Per stream; `buffered` (frames in the replay buffer per stream) is added when given. */
  summary(buffered?: Readonly<Record<string, number>>): StatsMessage['streams'] {
    const out: StatsMessage['streams'] = {};
    for (const [id, e] of this.streams) {
      out[id] = { fps: e.fps, dropped: this.dropped[id] ?? 0, frames: e.count, state: e.state };
      if (buffered) out[id].buffered = buffered[id] ?? 0;
    }
    return out;
  }

  private entry(id: string): StreamEntry {
    let e = this.streams.get(id);
    if (!e) this.streams.set(id, (e = { count: 0, since: this.now(), fps: 0 }));
    return e;
  }
}
