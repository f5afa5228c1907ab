import * as fs from 'node:fs';
import { SyntheticCamera } from '../../streams/sources/SyntheticCamera';
import { configSchema } from '../../config/schema';
import { createNoveltyDetector, createNoveltyRules, type DetectSettings } from '../detect/detectorFactory';
import { NoveltyEventRules, noveltyRatioBase } from '../detect/NoveltyEventRules';
import { backboneFeatures } from './featureExtraction';
import { runStreamTraining } from './StreamTrainingRun';
import { openEvalTrainer, type EvalTraining } from './evalTrainer';
import { decodeVideo } from './driftEval';
import { EvalInputError } from './EvalInputError';

/** The novelty settings the evaluation varies (the agent's `detect` section). */
export type NoveltyEventSettings = Pick<
  DetectSettings,
  'noveltyK' | 'noveltyBank' | 'noveltyThreshold' | 'noveltyWarmupSec' | 'noveltyMargin' | 'noveltyCooldownSec'
>;

export interface EventsEvalOptions extends EvalTraining {
  /** Clips played back to back as one camera (every boundary is a real change); or, without clips, `synthetic`. */
  videos: string[];
  /** The synthetic camera's scenes 0..n-1, each for this many seconds (used when no video is given). */
  synthetic?: { scenes: number; seconds: number };
  /** Embedded frames per second (the agent's embed.fps, 5). */
  fps?: number;
  /** Train this many steps online on the first segment's frames first (0: the random-init teacher). */
  trainSteps?: number;
  /** Events up to this many seconds after a change count as seeing it; later ones are false (default 30). */
  detectionWindowSec?: number;
  detect?: Partial<NoveltyEventSettings>;
  maxFramesPerVideo?: number;
}

/** One rule set's events over the whole stream. */
export interface NoveltyEventsSummary {
  rules: string;
  events: number[];
  /** Events outside the detection windows (nothing new was there), and per hour of such stream time. */
  false_events: number;
  false_per_hour: number;
  /** Per change: seconds from the change to its first event within the detection window (null: missed). */
  delays_s: (number | null)[];
  detected: number;
}

export interface EventsEvalReport {
  segments: { source: string; frames: number; start_s: number }[];
  fps: number;
  model: string;
  backend: string;
  train_steps: number;
  settings: NoveltyEventSettings;
  detection_window_s: number;
  /** Stream seconds outside the detection windows, where every event is false. */
  static_s: number;
  /** The detector's percentile alone (no warm-up, margin or cooldown), then the agent's rules. */
  percentile_only: NoveltyEventsSummary;
  with_rules: NoveltyEventsSummary;
  /** Raw scores around the rules' margin: the median and 99.5th percentile score of the static stretches. */
  static_score: { median: number; p995: number };
  /**
   * How far the frames the percentile flagged lie above the percentile's score (score / that score, the rules'
   * margin is a fraction of it): the highest where nothing changes, and per change the highest in its window with its
   * raw score (null: none flagged).
   */
  flagged_ratio: { static_max: number; changes: ({ ratio: number; score: number } | null)[] };
  wall_s: number;
}

function defaults(): NoveltyEventSettings {
  const d = configSchema.parse({}).detect;
  const { noveltyK, noveltyBank, noveltyThreshold, noveltyWarmupSec, noveltyMargin, noveltyCooldownSec } = d;
  return { noveltyK, noveltyBank, noveltyThreshold, noveltyWarmupSec, noveltyMargin, noveltyCooldownSec };
}

/** Splits event times into detections (first in each window after a change) and false events. */
export function scoreNoveltyEvents(eventS: readonly number[], changesS: readonly number[], windowS: number, durationS: number, rules: string): NoveltyEventsSummary {
  const inWindow = (t: number) => changesS.some((c) => t >= c && t < c + windowS);
  const delays = changesS.map((c) => {
    const first = eventS.find((t) => t >= c && t < c + windowS);
    return first === undefined ? null : first - c;
  });
  const staticS = durationS - changesS.reduce((a, c) => a + Math.min(windowS, durationS - c), 0);
  const falseEvents = eventS.filter((t) => !inWindow(t)).length;
  return {
    rules,
    events: [...eventS],
    false_events: falseEvents,
    false_per_hour: staticS > 0 ? (3600 * falseEvents) / staticS : NaN,
    delays_s: delays,
    detected: delays.filter((d) => d !== null).length,
  };
}

/**
 * `dino-stream eval events`: a camera whose content changes at known times (clips back to back, or the synthetic
 * camera's scenes) is embedded by the teacher and scored by the agent's novelty detector; reports the false novelty
 * events per hour where nothing new appears and the delay to each real change, for the percentile alone and for
 * the agent's event rules (warm-up, margin, cooldown).
 */
export async function eventsEval(o: EventsEvalOptions): Promise<EventsEvalReport> {
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const fps = o.fps ?? 5;
  for (const v of o.videos) if (!fs.existsSync(v)) throw new EvalInputError(`cannot open video ${v}: no such file`);
  if (o.videos.length === 0 && !o.synthetic) throw new EvalInputError('give --video clips or --synthetic scenes');
  const settings = { ...defaults(), ...o.detect };
  const windowS = o.detectionWindowSec ?? 30;
  const trainSteps = o.trainSteps ?? 0;
  const et = await openEvalTrainer({ ...o, horizonSteps: trainSteps });
  const { service, size } = et;
  try {
    const segments: { source: string; frames: Uint8Array[] }[] = [];
    if (o.videos.length > 0) {
      for (const v of o.videos) segments.push({ source: v, frames: await decodeVideo(v, size, fps, o.maxFramesPerVideo) });
    } else {
      const cam = new SyntheticCamera({ streamId: 'events-eval', width: size, height: size, fps, seed: o.seed });
      let index = 0;
      for (let k = 0; k < o.synthetic!.scenes; k++) {
        const n = Math.round(o.synthetic!.seconds * fps);
        segments.push({ source: `synthetic scene ${k}`, frames: Array.from({ length: n }, () => cam.render(index++, k)) });
      }
    }
    if (trainSteps > 0) {
      const first = segments[0]!.frames;
      const { bufferSize, bufferPolicy, batchSize, seed } = o;
      const run = await runStreamTraining({ service, images: first, frameSize: size, batchSize, bufferSize, bufferPolicy, budget: { steps: trainSteps }, seed });
      log(`trained ${run.steps} steps on the frames of ${segments[0]!.source} in ${(run.trainMs / 1000).toFixed(1)} s`);
    }
    const frames = segments.flatMap((s) => s.frames);
    const embeddings = await backboneFeatures(service.frameTrainer.trainer.teacher.backbone, frames, size, { batch: 64 });
    const starts: number[] = [];
    segments.reduce((at, s) => (starts.push(at), at + s.frames.length), 0);
    const changesS = starts.slice(1).map((f) => f / fps);
    const durationS = frames.length / fps;

    const d: DetectSettings = { ...configSchema.parse({}).detect, ...settings };
    const det = createNoveltyDetector(d, 'eval');
    const rules = createNoveltyRules(d);
    const percentile = new NoveltyEventRules({ warmupMs: 0, margin: 0, cooldownMs: 0 });
    const flagged: number[] = [];
    const published: number[] = [];
    const staticScores: number[] = [];
    let staticMaxRatio = NaN;
    const changeTop: ({ ratio: number; score: number } | null)[] = changesS.map(() => null);
    embeddings.forEach((e, i) => {
      const t = (i / fps) * 1000;
      const r = det.update(e, { t });
      const ts = i / fps;
      const change = changesS.findIndex((c) => ts >= c && ts < c + windowS);
      if (!Number.isNaN(r.score) && change < 0) staticScores.push(r.score);
      if (r.isNovel) {
        const ratio = r.score / noveltyRatioBase(r);
        if (change < 0) staticMaxRatio = Number.isNaN(staticMaxRatio) ? ratio : Math.max(staticMaxRatio, ratio);
        else if (ratio > (changeTop[change]?.ratio ?? -Infinity)) changeTop[change] = { ratio, score: r.score };
      }
      if (percentile.admit(r, t).publish) flagged.push(ts);
      if (rules.admit(r, t).publish) published.push(ts);
    });
    staticScores.sort((a, b) => a - b);
    const at = (p: number) => staticScores[Math.min(staticScores.length - 1, Math.floor(p * staticScores.length))] ?? NaN;
    const staticS = durationS - changesS.reduce((a, c) => a + Math.min(windowS, durationS - c), 0);
    return {
      segments: segments.map((s, i) => ({ source: s.source, frames: s.frames.length, start_s: starts[i]! / fps })),
      fps,
      model: et.checkpointFile ? `checkpoint ${et.checkpointFile}` : o.model,
      backend: et.info.detail,
      train_steps: trainSteps,
      settings,
      detection_window_s: windowS,
      static_s: staticS,
      percentile_only: scoreNoveltyEvents(flagged, changesS, windowS, durationS, 'percentile only'),
      with_rules: scoreNoveltyEvents(published, changesS, windowS, durationS, 'warm-up, margin, cooldown'),
      static_score: { median: at(0.5), p995: at(0.995) },
      flagged_ratio: { static_max: staticMaxRatio, changes: changeTop },
      wall_s: (Date.now() - t0) / 1000,
    };
  } finally {
    service.dispose();
  }
}
