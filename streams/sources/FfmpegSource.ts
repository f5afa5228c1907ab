import { ChildProcess } from 'child_process';
import { Observable, ReplaySubject, share, Subscriber } from 'rxjs';
import { Frame } from '../Frame';
import { BackoffOptions, backoffDelay, CameraState, CameraStateName, DEFAULT_BACKOFF } from '../CameraState';
import { defaultLogger, Logger } from '../../src/util/Logger';
import { resolveFfmpegPath } from './ffmpegPath';
import { hasExited, killGracefully, spawnTied, trackChild } from './childProcess';
import { StderrTail } from './StderrTail';
import { ffmpegInputArgs, NETWORK_URL } from './ffmpegInput';
import { redactSecrets, registerUrlCredentials } from '../../src/util/redactSecrets';

export interface FfmpegSourceOptions {
  streamId: string;
  /** rtsp://, http(s)://, a file path: anything ffmpeg can open. */
  url: string;
  width: number;
  height: number;
  /** Frames per second delivered. Unset: every decoded frame. */
  fps?: number;
  /** stretch (default): scale to width x height; cover: keep aspect ratio, scale up, centre-crop. */
  fit?: 'stretch' | 'cover';
  /** Explicit ffmpeg binary; default: `ffmpeg` on PATH, else @ffmpeg-installer/ffmpeg. */
  ffmpegPath?: string;
  /** Files: loop forever (-stream_loop -1). */
  loop?: boolean;
  /** Files: read at native frame rate (-re), so a file behaves like a camera. */
  realtime?: boolean;
  /** No frame for this long while live -> stalled -> kill and reconnect. Default 10 s. */
  watchdogMs?: number;
  /** No first frame this long after spawning -> same as a stall (RTSP connect + probe is slower). Default 2x watchdogMs. */
  connectTimeoutMs?: number;
  /** SIGTERM, then SIGKILL after this long. Default 2 s. */
  killGraceMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Consecutive attempts without a frame before giving up ('failed', frames$ errors). Default: retry forever. */
  maxAttempts?: number;
  /** When ffmpeg exits cleanly: complete the stream (default for files) or reconnect (default for URLs). */
  onEnd?: 'complete' | 'reconnect';
  /** Lines of ffmpeg stderr kept for error messages. Default 20. */
  stderrLines?: number;
  /**
   * Network inputs: how long ffmpeg analyses the stream before the first frame (-analyzeduration). ffmpeg's 5 s
   * default delays the first RTSP frame by ~3 s; one video stream needs far less. Default 1000 ms.
   */
  analyzeMs?: number;
  /** Extra ffmpeg arguments before -i (input options) and before the rawvideo output (output options). */
  inputArgs?: string[];
  outputArgs?: string[];
  logger?: Logger;
}

export interface FfmpegSourceStats {
  frames: number;
  /** Processes spawned so far. */
  spawns: number;
  /** Consecutive failed attempts (reset by the first frame of a process). */
  failedAttempts: number;
  lastFrameAt: number | undefined;
  state: CameraStateName | undefined;
}

/**
 * Frames from ffmpeg: one process per subscription (shared by all subscribers), rawvideo rgb24 on stdout, split
 * into exact width*height*3 frames. Rate limiting uses the fps filter placed *before* scale: ffmpeg must decode
 * every frame anyway (inter-coded video), but dropped frames then cost neither scaling/colour conversion nor a
 * copy through the pipe into JS. (`-r` as an output option would append fps after scale; dropping in JS would pay
 * scale + conversion + pipe for every frame.)
 *
 * Unsubscribing from frames$ kills the process. state$ replays the latest CameraState.
 */
export class FfmpegSource {
  readonly streamId: string;
  readonly frames$: Observable<Frame>;
  private readonly states = new ReplaySubject<CameraState>(1);
  readonly state$: Observable<CameraState> = this.states.asObservable();

  private readonly opts: Required<Omit<FfmpegSourceOptions, 'fps' | 'ffmpegPath' | 'backoff' | 'logger'>> & {
    fps?: number;
  };
  private readonly ffmpegPath: string;
  private readonly backoff: BackoffOptions;
  private readonly log: Logger;
  private readonly tail: StderrTail;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private index = 0;
  private readonly st: FfmpegSourceStats = {
    frames: 0,
    spawns: 0,
    failedAttempts: 0,
    lastFrameAt: undefined,
    state: undefined,
  };

  constructor(options: FfmpegSourceOptions) {
    if (!Number.isInteger(options.width) || !Number.isInteger(options.height) || options.width <= 0 || options.height <= 0) {
      throw new Error(`FfmpegSource ${options.streamId}: width/height must be positive integers`);
    }
    if (options.fps !== undefined && !(options.fps > 0)) throw new Error(`FfmpegSource ${options.streamId}: fps must be > 0`);
    registerUrlCredentials(options.url);
    const network = NETWORK_URL.test(options.url);
    const watchdogMs = options.watchdogMs ?? 10_000;
    this.opts = {
      streamId: options.streamId,
      url: options.url,
      width: options.width,
      height: options.height,
      fps: options.fps,
      fit: options.fit ?? 'stretch',
      loop: options.loop ?? false,
      realtime: options.realtime ?? false,
      watchdogMs,
      connectTimeoutMs: options.connectTimeoutMs ?? 2 * watchdogMs,
      killGraceMs: options.killGraceMs ?? 2000,
      maxAttempts: options.maxAttempts ?? Infinity,
      onEnd: options.onEnd ?? (network ? 'reconnect' : 'complete'),
      stderrLines: options.stderrLines ?? 20,
      analyzeMs: options.analyzeMs ?? 1000,
      inputArgs: options.inputArgs ?? [],
      outputArgs: options.outputArgs ?? [],
    };
    this.streamId = options.streamId;
    this.ffmpegPath = resolveFfmpegPath(options.ffmpegPath);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.log = options.logger ?? defaultLogger();
    this.tail = new StderrTail(this.opts.stderrLines);
    this.frames$ = new Observable<Frame>((subscriber) => this.run(subscriber)).pipe(share());
  }

  /** The ffmpeg command line (without the binary). */
  args(): string[] {
    const o = this.opts;
    const a = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
    const input = ffmpegInputArgs(o.url, { ffmpegPath: this.ffmpegPath, ioTimeoutMs: o.connectTimeoutMs, analyzeMs: o.analyzeMs });
    a.push(...input.before);
    if (o.realtime) a.push('-re');
    if (o.loop) a.push('-stream_loop', '-1');
    a.push(...o.inputArgs, ...input.input, '-an', '-sn', '-dn');
    const filters: string[] = [];
    if (o.fps !== undefined) filters.push(`fps=${o.fps}`);
    if (o.fit === 'cover') {
      filters.push(`scale=${o.width}:${o.height}:force_original_aspect_ratio=increase:flags=area`, `crop=${o.width}:${o.height}`);
    } else {
      filters.push(`scale=${o.width}:${o.height}:flags=area`);
    }
    filters.push('format=rgb24');
    // passthrough: never duplicate frames to fill timestamp gaps (a camera that hiccups would emit copies).
    a.push('-vf', filters.join(','), '-vsync', 'passthrough', ...o.outputArgs, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
    return a;
  }

  get pid(): number | undefined {
    return this.proc && !hasExited(this.proc) ? this.proc.pid : undefined;
  }

  get stats(): Readonly<FfmpegSourceStats> {
    return { ...this.st };
  }

  /** Last lines ffmpeg wrote to stderr. */
  stderr(): string[] {
    return this.tail.get();
  }

  /** Resolves when the current ffmpeg process (if any) has exited; use after unsubscribing. */
  whenStopped(): Promise<void> {
    return this.exited;
  }

  private setState(state: CameraStateName, detail: string): void {
    this.st.state = state;
    const ev: CameraState = { streamId: this.streamId, state, t: Date.now(), detail };
    const level = state === 'live' || state === 'connecting' ? 'info' : state === 'failed' ? 'error' : 'warn';
    this.log[level]({ streamId: this.streamId, state, detail }, `camera ${this.streamId}: ${state}`);
    this.states.next(ev);
  }

  private run(subscriber: Subscriber<Frame>): () => void {
    const o = this.opts;
    const frameBytes = o.width * o.height * 3;
    let stopped = false;
    let watchdog: NodeJS.Timeout | undefined;
    let retryTimer: NodeJS.Timeout | undefined;

    const scheduleRetry = (why: string) => {
      this.st.failedAttempts++;
      if (this.st.failedAttempts >= o.maxAttempts) {
        const msg = `camera ${this.streamId}: gave up after ${this.st.failedAttempts} attempts: ${why}`;
        this.setState('failed', why);
        subscriber.error(new Error(`${msg}\nffmpeg stderr:\n${this.tail.get().join('\n')}`));
        return;
      }
      const delay = backoffDelay(this.st.failedAttempts, this.backoff);
      this.setState('reconnecting', `retry in ${delay} ms (attempt ${this.st.failedAttempts}): ${why}`);
      retryTimer = setTimeout(start, delay);
    };

    const start = () => {
      retryTimer = undefined;
      if (stopped) return;
      this.tail.clear();
      const proc = spawnTied(this.ffmpegPath, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      trackChild(proc);
      this.proc = proc;
      this.st.spawns++;
      this.exited = new Promise<void>((resolve) => {
        proc.once('close', () => resolve());
        proc.once('error', () => resolve());
      });
      this.setState('connecting', `${this.ffmpegPath} ${redactSecrets(o.url)} (pid ${proc.pid ?? '?'})`);

      const spawnedAt = Date.now();
      let gotFrame = false;
      let lastFrameAt = spawnedAt;
      let stalled = false;
      let cur = new Uint8Array(frameBytes);
      let filled = 0;
      let finished = false;

      proc.stderr!.on('data', (d: Buffer) => this.tail.push(d));
      proc.stdout!.on('data', (chunk: Buffer) => {
        if (stopped || stalled) return;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(frameBytes - filled, chunk.length - off);
          cur.set(chunk.subarray(off, off + n), filled);
          filled += n;
          off += n;
          if (filled === frameBytes) {
            const now = Date.now();
            lastFrameAt = now;
            this.st.lastFrameAt = now;
            if (!gotFrame) {
              gotFrame = true;
              this.st.failedAttempts = 0;
              this.setState('live', `first frame after ${now - spawnedAt} ms`);
            }
            this.st.frames++;
            const frame: Frame = { streamId: this.streamId, t: now, index: this.index++, width: o.width, height: o.height, rgb: cur };
            cur = new Uint8Array(frameBytes);
            filled = 0;
            subscriber.next(frame);
            if (stopped) return;
          }
        }
      });

      watchdog = setInterval(
        () => {
          const limit = gotFrame ? o.watchdogMs : o.connectTimeoutMs;
          const since = Date.now() - (gotFrame ? lastFrameAt : spawnedAt);
          if (stalled || since <= limit) return;
          stalled = true;
          this.setState('stalled', gotFrame ? `no frame for ${since} ms` : `no first frame ${since} ms after start`);
          void killGracefully(proc, o.killGraceMs);
        },
        Math.max(50, Math.min(1000, o.watchdogMs / 4)),
      );

      const onFinish = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
        if (finished) return;
        finished = true;
        clearInterval(watchdog);
        watchdog = undefined;
        if (stopped) return;
        const why = err
          ? `cannot run ${this.ffmpegPath}: ${err.message}`
          : stalled
            ? `stalled (no frames)`
            : `ffmpeg exited (code ${code}, signal ${signal})${this.tail.last() ? `: ${this.tail.last()}` : ''}`;
        if (!err && !stalled && code === 0 && o.onEnd === 'complete') {
          this.setState('ended', 'input finished');
          subscriber.complete();
          return;
        }
        if (gotFrame && !stalled) this.st.failedAttempts = 0; // it worked, then dropped: start back-off afresh
        scheduleRetry(why);
      };
      proc.once('error', (err) => onFinish(null, null, err));
      proc.once('close', (code, signal) => onFinish(code, signal));
    };

    this.st.failedAttempts = 0; // a new subscription after 'failed' gets a fresh set of attempts
    start();

    return () => {
      stopped = true;
      if (watchdog) clearInterval(watchdog);
      if (retryTimer) clearTimeout(retryTimer);
      const proc = this.proc;
      if (proc && !hasExited(proc)) {
        this.exited = killGracefully(proc, o.killGraceMs);
      }
    };
  }
}
