import { WebSocket } from 'ws';
import { RtspRelay, type RtspRelayOptions, type RelayState } from '../../streams/sources/RtspRelay';
import { defaultLogger, type Logger } from '../util/Logger';

export interface LiveVideoOptions {
  /** The camera URL of a stream that can be watched live, or undefined (not a camera, or no such stream). */
  urlOf: (streamId: string) => string | undefined;
  /** Relayed picture size (MPEG-1; even numbers), frame rate (24, 25, 30, 50 or 60) and bit rate. */
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** A relay whose last viewer left is stopped after this long (a page reload does not restart ffmpeg). */
  idleStopMs?: number;
  /** Relays running at once (each is one ffmpeg decoding and encoding a camera at full rate). */
  maxRelays?: number;
  log?: Logger;
  /** For tests: how relays are made. */
  createRelay?: (o: RtspRelayOptions) => RtspRelay;
}

interface Live {
  relay: RtspRelay;
  viewers: Set<WebSocket>;
  started: Promise<unknown>;
  stopTimer?: NodeJS.Timeout;
  state?: RelayState['state'];
}

/**
 * Full-rate live video of RTSP cameras for the dashboard, through the agent's own port: the first viewer of a
 * camera starts one RtspRelay (ffmpeg -> MPEG-1 for JSMpeg) that listens nowhere; every viewer's websocket is
 * handed to it; when the last viewer leaves the relay is stopped (after idleStopMs). Training frames never come
 * from here.
 */
export class LiveVideo {
  private readonly live = new Map<string, Live>();
  private readonly log: Logger;

  constructor(private readonly o: LiveVideoOptions) {
    this.log = o.log ?? defaultLogger();
  }

  /** Why this stream cannot be watched live (undefined: it can). */
  problem(streamId: string): string | undefined {
    if (!this.o.urlOf(streamId)) return `stream "${streamId.slice(0, 64)}" is not a camera URL source; live video is for rtsp:// and other URL sources`;
    if (!this.live.has(streamId) && this.live.size >= (this.o.maxRelays ?? 4)) return `at most ${this.o.maxRelays ?? 4} cameras can be watched live at once`;
    return undefined;
  }

  /** Adds a viewer; starts the camera's relay if it is the first. */
  view(ws: WebSocket, streamId: string): void {
    let l = this.live.get(streamId);
    if (!l) {
      const url = this.o.urlOf(streamId)!;
      const opts: RtspRelayOptions = {
        url,
        name: streamId,
        width: this.o.width ?? 640,
        height: this.o.height ?? 360,
        fps: this.o.fps ?? 25,
        bitrateKbps: this.o.bitrateKbps ?? 1000,
        listen: false,
        logger: this.log,
      };
      const relay = this.o.createRelay ? this.o.createRelay(opts) : new RtspRelay(opts);
      const entry: Live = { relay, viewers: new Set(), started: Promise.resolve() };
      relay.state$.subscribe((s) => (entry.state = s.state));
      entry.started = relay.start().catch((e: Error) => this.log.error({ streamId, err: e.message }, 'live video: relay failed to start'));
      this.live.set(streamId, entry);
      l = entry;
    }
    const entry = l;
    if (entry.stopTimer) clearTimeout(entry.stopTimer);
    entry.stopTimer = undefined;
    entry.viewers.add(ws);
    entry.relay.addViewer(ws);
    ws.once('close', () => {
      entry.viewers.delete(ws);
      if (entry.viewers.size === 0) this.scheduleStop(streamId, entry);
    });
  }

  private scheduleStop(streamId: string, entry: Live): void {
    const stop = () => {
      if (entry.viewers.size > 0 || this.live.get(streamId) !== entry) return;
      this.live.delete(streamId);
      void entry.started.then(() => entry.relay.stop());
    };
    const ms = this.o.idleStopMs ?? 3000;
    if (ms <= 0) return stop();
    entry.stopTimer = setTimeout(stop, ms);
    entry.stopTimer.unref();
  }

  /** Per watched camera: viewers and relay state. */
  stats(): Record<string, { viewers: number; state?: string; pid?: number; bytes: number }> {
    return Object.fromEntries([...this.live].map(([id, l]) => [id, { viewers: l.viewers.size, state: l.state, pid: l.relay.pid, bytes: l.relay.bytes }]));
  }

  /** A stream removed at run time: its viewers are closed and its relay stopped. */
  async close(streamId: string): Promise<void> {
    const l = this.live.get(streamId);
    if (!l) return;
    this.live.delete(streamId);
    if (l.stopTimer) clearTimeout(l.stopTimer);
    for (const ws of l.viewers) ws.close(1001, 'stream removed');
    await l.started;
    await l.relay.stop();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.close(id)));
  }
}
