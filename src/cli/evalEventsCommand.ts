import * as fs from 'node:fs';
import type { Command } from 'commander';
import { eventsEval, type EventsEvalReport, type NoveltyEventsSummary } from '../eval/eventsEval';
import { addModelFlags, guarded, integer, positive, trainingOf, type CommonFlags } from './evalFlags';

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f1 = (x: number | null) => (x === null ? 'missed' : Number.isFinite(x) ? x.toFixed(1) : '-');

export function eventsTable(r: EventsEvalReport): string {
  const s = r.settings;
  const row = (m: NoveltyEventsSummary) =>
    `| ${m.rules} | ${m.false_events} | ${f1(m.false_per_hour)} | ${m.detected} of ${m.delays_s.length} | ${m.delays_s.map(f1).join(', ')} |`;
  return [
    `novelty events (k ${s.noveltyK}, bank ${s.noveltyBank}, threshold ${s.noveltyThreshold}; rules: warm-up ${s.noveltyWarmupSec} s, ` +
      `margin ${s.noveltyMargin}, cooldown ${s.noveltyCooldownSec} s) at ${r.fps} fps, model ${r.model}` +
      `${r.train_steps ? `, trained ${r.train_steps} steps on segment 1` : ', teacher not trained'}; an event within ${r.detection_window_s} s after a change sees it, any other is false`,
    `| segment | start s | frames |`,
    `|---|---|---|`,
    ...r.segments.map((g) => `| ${g.source} | ${g.start_s.toFixed(1)} | ${g.frames} |`),
    '',
    `| events | false events | false per hour (${(r.static_s / 60).toFixed(1)} min without change) | changes seen | delay after each change, s |`,
    `|---|---|---|---|---|`,
    row(r.percentile_only),
    row(r.with_rules),
    '',
    `raw scores where nothing changes: median ${r.static_score.median.toFixed(4)}, 99.5th percentile ${r.static_score.p995.toFixed(4)}`,
    `flagged frames, score / the percentile's score (the margin passes above ${(1 + s.noveltyMargin).toFixed(2)}): where nothing changes at most ` +
      `${f2(r.flagged_ratio.static_max)}; at each change ${r.flagged_ratio.changes.map((c) => (c ? `${f2(c.ratio)} (score ${c.score.toFixed(4)})` : 'none')).join(', ') || '-'}`,
  ].join('\n');
}

/** `dino-stream eval events`: false novelty events per hour where nothing changes, and the delay to a real change. */
export function registerEvalEvents(evalCmd: Command): void {
  addModelFlags(
    evalCmd
      .command('events')
      .description('Play clips (or the synthetic camera\'s scenes) as one camera through the agent\'s novelty detector: false events per hour where nothing changes, delay to each change')
      .option('--video <file>', 'a clip (repeat: --video A --video B ...), played in order; every boundary is a change', (v: string, prev: string[]) => [...prev, v], [] as string[])
      .option('--synthetic <n>x<sec>', 'without clips: the synthetic camera\'s scenes 0..n-1 for sec seconds each', '4x120')
      .option('--fps <n>', 'embedded frames per second (the agent\'s embed.fps)', '5')
      .option('--train-steps <n>', 'first train this many steps online on the first segment (default 0: the random-init teacher, as a fresh agent starts)')
      .option('--max-frames <n>', 'use at most the first n frames of each clip')
      .option('--window <sec>', 'an event this many seconds after a change sees it; later ones are false', '30')
      .option('--warmup <sec>', 'novelty warm-up (agent default)')
      .option('--margin <x>', 'novelty margin over the threshold percentile\'s score, a fraction of it (agent default)')
      .option('--cooldown <sec>', 'novelty cooldown (agent default)'),
  ).action((f: CommonFlags & { video: string[]; synthetic: string; fps: string; trainSteps?: string; maxFrames?: string; window: string; warmup?: string; margin?: string; cooldown?: string }) =>
    guarded(async () => {
      const training = trainingOf(f);
      const m = /^(\d+)x(\d+(?:\.\d+)?)$/.exec(f.synthetic);
      if (!m || Number(m[1]) < 1) throw new Error(`--synthetic must look like 4x120 (scenes x seconds), got "${f.synthetic}"`);
      const nonNegative = (name: string, v: string | undefined) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!(n >= 0)) throw new Error(`--${name} must be a number >= 0, got "${v}"`);
        return n;
      };
      const detect = Object.fromEntries(
        Object.entries({ noveltyWarmupSec: nonNegative('warmup', f.warmup), noveltyMargin: nonNegative('margin', f.margin), noveltyCooldownSec: nonNegative('cooldown', f.cooldown) }).filter(([, v]) => v !== undefined),
      );
      const report = await eventsEval({
        ...training,
        videos: f.video,
        synthetic: { scenes: Number(m[1]), seconds: Number(m[2]) },
        fps: positive('fps', f.fps),
        trainSteps: integer('train-steps', f.trainSteps),
        maxFramesPerVideo: integer('max-frames', f.maxFrames),
        detectionWindowSec: positive('window', f.window),
        detect,
      });
      console.log(eventsTable(report));
      if (f.json) fs.writeFileSync(f.json, JSON.stringify(report, null, 2));
    }),
  );
}
