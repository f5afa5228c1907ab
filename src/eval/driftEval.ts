import * as fs from 'node:fs';
import { lastValueFrom, take, toArray } from 'rxjs';
import { FfmpegSource } from '../../streams/sources/FfmpegSource';
import { silentLogger } from '../util/Logger';
import { configSchema } from '../../config/schema';
import { createDriftDetector, type DetectSettings } from '../detect/detectorFactory';
import { backboneFeatures } from './featureExtraction';
import { runStreamTraining } from './StreamTrainingRun';
import { openEvalTrainer, type EvalTraining } from './evalTrainer';
import { EvalInputError } from './EvalInputError';

/** The drift detector's settings: the live agent's `detect` settings (config/schema.ts), defaults included. */
export type DriftSettings = Pick<
  DetectSettings,
  'driftWindow' | 'driftRecentWindow' | 'driftTestEvery' | 'driftAlpha' | 'driftPermutations' | 'driftMinStatistic' | 'driftMargin'
>;

export interface DriftEvalOptions extends EvalTraining {
  /** Played one after the other as a single camera; every boundary is a scene switch. */
  videos: string[];
  /** Frames per second decoded from each video (default 5). */
  fps?: number;
  /** Train this many steps online on the first video's frames before the detection pass (default 0). */
  trainSteps?: number;
  detect?: Partial<DriftSettings>;
  /** Decode at most this many frames per video (quick runs). */
  maxFramesPerVideo?: number;
}

export interface DriftEventRecord {
  /** Video time of the frame whose update raised the event, from the start of the first video. */
  t_s: number;
  frame: number;
  /** Index of the video playing when it fired. */
  video: number;
  statistic: number;
  p_value: number;
}

export interface DriftEvalReport {
  videos: { path: string; frames: number; start_s: number; duration_s: number }[];
  fps: number;
  model: string;
  backend: string;
  frame_size: number;
  settings: DriftSettings;
  train_steps: number;
  /** Video time of each switch (the first frame of videos 2, 3, ...). */
  switches_s: number[];
  /** Detection delay after the first switch (null: not detected before the next switch or the end). */
  delay_s: number | null;
  delays_s: (number | null)[];
  /** Events while the first video played (no drift there). */
  false_events: number;
  /** Events after a switch had been detected, before the next one (the same change reported again). */
  repeat_events: number;
  events: DriftEventRecord[];
  tests: number;
  /** Largest MMD^2 tested per video (the margin between within-scene noise and a switch). */
  max_statistic: number[];
  /** Every test: video time, MMD^2, p-value and the reference's own block statistic (for calibrating settings). */
  trace: { t_s: number; statistic: number; p_value: number; within: number | null }[];
  wall_s: number;
}

export function defaultDriftSettings(): DriftSettings {
  const d = configSchema.parse({}).detect;
  const { driftWindow, driftRecentWindow, driftTestEvery, driftAlpha, driftPermutations, driftMinStatistic, driftMargin } = d;
  return { driftWindow, driftRecentWindow, driftTestEvery, driftAlpha, driftPermutations, driftMinStatistic, driftMargin };
}

/** Decodes a whole video to size x size RGB frames at `fps` (as fast as ffmpeg goes, not at the file's pace). */
export async function decodeVideo(file: string, size: number, fps: number, maxFrames = Infinity): Promise<Uint8Array[]> {
  if (!fs.existsSync(file)) throw new EvalInputError(`cannot open video ${file}: no such file`);
  const src = new FfmpegSource({
    streamId: 'drift-eval',
    url: file,
    width: size,
    height: size,
    fps,
    realtime: false,
    loop: false,
    onEnd: 'complete',
    maxAttempts: 1, // a file that fails once fails again: report it instead of retrying forever
    logger: silentLogger,
  });
  try {
    const frames$ = Number.isFinite(maxFrames) ? src.frames$.pipe(take(maxFrames)) : src.frames$;
    const frames = await lastValueFrom(frames$.pipe(toArray()));
    if (frames.length === 0) throw new EvalInputError(`cannot open video ${file}: no frames decoded`);
    return frames.map((f) => f.rgb);
  } catch (e) {
    if (e instanceof EvalInputError) throw e;
    const why = src.stderr().filter((l) => l.trim()).pop() ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
    throw new EvalInputError(`cannot open video ${file}: ${why}`);
  } finally {
    await src.whenStopped();
  }
}

/** Splits events by the video playing when they fired: delay per switch, false and repeated events. */
export function scoreDriftEvents(eventFrames: readonly number[], starts: readonly number[], fps: number) {
  const delays: (number | null)[] = [];
  let repeats = 0;
  for (let v = 1; v < starts.length; v++) {
    const end = v + 1 < starts.length ? starts[v + 1]! : Infinity;
    const inSegment = eventFrames.filter((f) => f >= starts[v]! && f < end);
    delays.push(inSegment.length > 0 ? (inSegment[0]! - starts[v]!) / fps : null);
    repeats += Math.max(0, inSegment.length - 1);
  }
  const falseEvents = eventFrames.filter((f) => f < (starts[1] ?? Infinity)).length;
  return { delays, falseEvents, repeats };
}

/**
 * `dino-stream eval drift`: videos A, B, ... played back to back as one camera, every frame embedded by the teacher
 * (random init, a checkpoint, or trained online on A first) and fed to the agent's MMD drift detector; reports
 * the delay from each switch to its event in seconds of video, and the events raised on A alone.
 */
export async function driftEval(o: DriftEvalOptions): Promise<DriftEvalReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const fps = o.fps ?? 5;
  if (o.videos.length < 2) throw new EvalInputError('--video: give at least two videos (scene A, then scene B)');
  for (const v of o.videos) if (!fs.existsSync(v)) throw new EvalInputError(`cannot open video ${v}: no such file`);
  const settings = { ...defaultDriftSettings(), ...o.detect };
  const trainSteps = o.trainSteps ?? 0;
  const et = await openEvalTrainer({ ...o, horizonSteps: trainSteps });
  const { service, size } = et;
  try {
    const videos: Uint8Array[][] = [];
    for (const v of o.videos) {
      videos.push(await decodeVideo(v, size, fps, o.maxFramesPerVideo));
      log(`${v}: ${videos[videos.length - 1]!.length} frames at ${fps} fps, ${size}x${size}`);
    }
    if (trainSteps > 0) {
      const run = await runStreamTraining({ ...o, log: undefined, service, images: videos[0]!, frameSize: size, budget: { steps: trainSteps } });
      log(`trained ${run.steps} steps on the frames of ${o.videos[0]} in ${(run.trainMs / 1000).toFixed(1)} s`);
    }
    // The teacher is fixed during the detection pass, so the whole stream can be embedded up front.
    const frames = videos.flat();
    const embeddings = await backboneFeatures(service.frameTrainer.trainer.teacher.backbone, frames, size, { batch: 64 });
    const starts: number[] = [];
    videos.reduce((at, v) => (starts.push(at), at + v.length), 0);

    const det = createDriftDetector({ ...configSchema.parse({}).detect, ...settings }, 'eval');
    const events: DriftEventRecord[] = [];
    const maxStatistic = videos.map(() => -Infinity);
    const trace: DriftEvalReport['trace'] = [];
    let tests = 0;
    let video = 0;
    embeddings.forEach((e, i) => {
      while (video + 1 < starts.length && i >= starts[video + 1]!) video++;
      const r = det.update(e, { t: (i / fps) * 1000 });
      if (r.tested) {
        tests++;
        maxStatistic[video] = Math.max(maxStatistic[video]!, r.statistic!);
        trace.push({ t_s: i / fps, statistic: r.statistic!, p_value: r.pValue!, within: r.withinStatistic ?? null });
      }
      if (r.event) {
        events.push({ t_s: i / fps, frame: i, video, statistic: r.event.statistic, p_value: r.event.pValue ?? NaN });
        log(`drift event at ${(i / fps).toFixed(1)} s (video ${video + 1}): MMD^2 ${r.event.statistic.toFixed(4)}, p ${(r.event.pValue ?? NaN).toFixed(4)}`);
      }
    });
    const { delays, falseEvents, repeats } = scoreDriftEvents(
      events.map((e) => e.frame),
      starts,
      fps,
    );
    return {
      videos: o.videos.map((p, v) => ({ path: p, frames: videos[v]!.length, start_s: starts[v]! / fps, duration_s: videos[v]!.length / fps })),
      fps,
      model: et.checkpointFile ? `checkpoint ${et.checkpointFile}` : o.model,
      backend: et.info.detail,
      frame_size: size,
      settings,
      train_steps: trainSteps,
      switches_s: starts.slice(1).map((s) => s / fps),
      delay_s: delays[0] ?? null,
      delays_s: delays,
      false_events: falseEvents,
      repeat_events: repeats,
      events,
      tests,
      max_statistic: maxStatistic.map((m) => (Number.isFinite(m) ? m : NaN)),
      trace,
      wall_s: (Date.now() - t0) / 1000,
    };
  } finally {
    service.dispose();
  }
}
