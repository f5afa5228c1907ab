import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { knnEval, type Accuracy, type KnnEvalReport } from '../eval/knnEval';
import { NOVELTY_SCORES, noveltyEval, type NoveltyEvalReport } from '../eval/noveltyEval';
import { driftEval, defaultDriftSettings, type DriftEvalOptions, type DriftEvalReport } from '../eval/driftEval';
import { CHECKPOINT_RECIPE } from '../eval/evalTrainer';
import { READOUTS } from '../model/Embedder';
import { addCommon, addModelFlags, guarded, integer, oneOf, positive, resolveBudget, trainedLine, trainingOf, type CommonFlags } from './evalFlags';
import { registerEvalEvents } from './evalEventsCommand';
import { driftSeedSweepTable, parseSeedList, summariseDriftSeeds } from '../eval/DriftSeedSweep';

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');

/** What a trained row is: images this run streamed, or a checkpoint (which "0 images seen" would misdescribe). */
function trainedLabel(r: { recipe: string; images_seen: number }): string {
  if (r.recipe !== CHECKPOINT_RECIPE) return `${r.images_seen} images seen`;
  return r.images_seen > 0 ? `checkpoint + ${r.images_seen} images seen` : 'checkpoint';
}

export function knnTable(r: KnnEvalReport): string {
  // the leave-one-out column only when it was asked for (--train-loo)
  const loo = r.teacher.train_loo_top1 !== undefined;
  const row = (name: string, a: Accuracy) => [name, f2(a.top1), f2(a.top5), ...(loo ? [f2(a.train_loo_top1 ?? NaN)] : [])];
  const rows = [
    row('raw pixels', r.raw_pixels),
    row(r.init ? `init weights (${path.basename(r.init)})` : 'random-init teacher', r.random_init),
    row(`teacher (${trainedLabel(r)})`, r.teacher),
    row(`student (${trainedLabel(r)})`, r.student),
  ];
  const lines = [
    `k-NN (k=20, T=0.07, features ${r.readout === 'cls' ? 'CLS' : 'CLS + mean patch token'}) on ${r.data}: ${r.train_images} train / ${r.test_images} test, model ${r.model}, recipe ${r.recipe}`,
    `| features | top-1 % | top-5 % |${loo ? ' train leave-one-out top-1 % |' : ''}`,
    `|---|---|---|${loo ? '---|' : ''}`,
    ...rows.map((x) => `| ${x.join(' | ')} |`),
    '',
    `| images seen | steps | train time s | images/s | wall time s | replay buffer | backend |`,
    `|---|---|---|---|---|---|---|`,
    `| ${r.images_seen} | ${r.steps} | ${r.train_s.toFixed(0)} | ${r.images_per_s.toFixed(1)} | ${r.wall_s.toFixed(0)} | ${r.buffer.policy} ${r.buffer.size} | ${r.backend} |`,
  ];
  if (r.curve.length > 1) {
    lines.push('', `| images seen | steps | train s | teacher top-1 | student top-1 |${loo ? ' teacher train leave-one-out top-1 |' : ''}`);
    lines.push(`|---|---|---|---|---|${loo ? '---|' : ''}`);
    for (const p of r.curve) {
      const cells = [p.images_seen, p.steps, p.train_s.toFixed(0), f2(p.teacher.top1), f2(p.student.top1), ...(loo ? [f2(p.teacher.train_loo_top1 ?? NaN)] : [])];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

export function noveltyTable(r: NoveltyEvalReport): string {
  const rows: [string, { auroc: number; fpr95: number }][] = [
    ['raw pixels', r.raw_pixels],
    ['random-init teacher', r.random_init],
    [`teacher (${trainedLabel(r)})`, r.teacher],
  ];
  return [
    `novelty (${r.score === 'patch' ? 'largest cosine distance of a patch to its nearest bank patch' : `cosine distance to the ${r.k}-th neighbour, features ${r.readout === 'cls' ? 'CLS' : 'CLS + mean patch token'}`}) on ${r.data}: held out ${r.holdout.join(', ')}; ` +
      `bank ${r.bank_size} train images of ${r.streamed_classes.length} classes; ${r.positives} novel / ${r.negatives} known test images; model ${r.model}`,
    `| features | AUROC | FPR at 95% TPR |`,
    `|---|---|---|`,
    ...rows.map(([name, m]) => `| ${name} | ${f3(m.auroc)} | ${f3(m.fpr95)} |`),
    '',
    `| images seen | steps | train time s | wall time s | backend |`,
    `|---|---|---|---|---|`,
    `| ${r.images_seen} | ${r.steps} | ${r.train_s.toFixed(0)} | ${r.wall_s.toFixed(0)} | ${r.backend} |`,
  ].join('\n');
}

export function driftTable(r: DriftEvalReport): string {
  const s = r.settings;
  const lines = [
    `drift (MMD, reference ${s.driftWindow} / recent ${s.driftRecentWindow} frames, test every ${s.driftTestEvery}, alpha ${s.driftAlpha}, ` +
      `${s.driftPermutations} permutations, min MMD^2 ${s.driftMinStatistic}, margin ${s.driftMargin} x the reference's own) ` +
      `at ${r.fps} fps, ${r.frame_size}x${r.frame_size}, model ${r.model}${r.train_steps ? `, trained ${r.train_steps} steps on video 1` : ''}`,
    `| video | start s | frames | max MMD^2 tested | events |`,
    `|---|---|---|---|---|`,
    ...r.videos.map((v, i) => `| ${v.path} | ${v.start_s.toFixed(1)} | ${v.frames} | ${f3(r.max_statistic[i]!)} | ${r.events.filter((e) => e.video === i).length} |`),
    '',
    `| switch at s | detection delay s |`,
    `|---|---|`,
    ...r.switches_s.map((t, i) => `| ${t.toFixed(1)} | ${r.delays_s[i] === null ? 'missed' : r.delays_s[i]!.toFixed(1)} |`),
    '',
    `false events before the first switch: ${r.false_events}; repeated events after a detected switch: ${r.repeat_events}; ${r.tests} tests`,
  ];
  return lines.join('\n');
}

export function registerEval(program: Command): void {
  const evalCmd = program.command('eval').description('Evaluate what the teacher learns: knn, novelty, drift, events');
  addCommon(
    evalCmd
      .command('knn')
      .description('Train a fresh agent on DIR/train as an unlabelled stream, then k-NN top-1 of teacher and student on DIR/test')
      .requiredOption('--data <dir>', 'image folder with DIR/train/<class>/* and DIR/test/<class>/*')
      .option('--eval-at <list>', 'also evaluate at these images-seen marks, comma-separated (e.g. 40000,160000)')
      .option('--train-loo', 'also k-NN each train image against the other train images (leave-one-out): far above the test top-1, the features fit the streamed images more than the classes')
      .option('--save <dir>', 'keep the trained agent: a checkpoint at every evaluation, for --checkpoint or `run --checkpoint-dir`')
      .option('--readout <name>', `the model's feature: ${READOUTS.join(' or ')} (the CLS beside the mean patch token, as eval_linear.py's --avgpool_patchtokens)`, 'cls'),
  ).action((f: CommonFlags & { data: string; save?: string; trainLoo?: boolean; readout: string }) =>
    guarded(async () => {
      const { budget, note } = resolveBudget(f);
      const report = await knnEval({
        ...trainingOf(f),
        data: f.data,
        budget,
        marks: f.evalAt ? f.evalAt.split(',').map((s) => positive('eval-at', s)!) : undefined,
        saveDir: f.save,
        trainLeaveOneOut: f.trainLoo ?? false,
        readout: oneOf('readout', f.readout, READOUTS),
      });
      const trained = trainedLine(report, f, note);
      console.log(`${trained}\n${knnTable(report)}`);
      if (f.json) fs.writeFileSync(f.json, JSON.stringify({ trained, ...report }, null, 2));
    }),
  );
  addCommon(
    evalCmd
      .command('novelty')
      .description('Train on DIR/train without the held-out classes, then AUROC of the novelty score for their test images vs the others')
      .requiredOption('--data <dir>', 'image folder with DIR/train/<class>/* and DIR/test/<class>/*')
      .requiredOption('--holdout <classes>', 'classes never streamed nor banked, comma-separated (e.g. cat,dog)')
      .option('--k <n>', 'score = cosine distance to the k-th nearest bank neighbour', '5')
      .option('--limit-per-class <n>', 'use only the first n train images of each class (quick runs)')
      .option('--readout <name>', `the teacher's feature: ${READOUTS.join(' or ')} (the agent's detector scores the CLS)`, 'cls')
      .option('--score <name>', `${NOVELTY_SCORES.join(' or ')}: the image feature's k-th neighbour distance (--k, --readout), or the largest distance of a patch token to its nearest bank patch (PatchCore)`, 'knn'),
  ).action((f: CommonFlags & { data: string; holdout: string; k: string; limitPerClass?: string; readout: string; score: string }) =>
    guarded(async () => {
      const { budget, note } = resolveBudget(f);
      const report = await noveltyEval({
        ...trainingOf(f),
        data: f.data,
        holdout: f.holdout.split(','),
        budget,
        k: integer('k', f.k),
        readout: oneOf('readout', f.readout, READOUTS),
        score: oneOf('score', f.score, NOVELTY_SCORES),
        limitPerClass: integer('limit-per-class', f.limitPerClass),
      });
      const trained = trainedLine(report, f, note);
      console.log(`${trained}\n${noveltyTable(report)}`);
      // per-image scores stay out of the file: the documented keys are the metrics
      const { scores: _scores, ...json } = report;
      if (f.json) fs.writeFileSync(f.json, JSON.stringify({ trained, ...json }, null, 2));
    }),
  );

  const d = defaultDriftSettings();
  addModelFlags(
    evalCmd
      .command('drift')
      .description('Play videos A, B, ... as one camera, embed every frame with the teacher, run the drift detector: delay after each switch, false events on A')
      .option('--video <file>', 'a video (repeat: --video A --video B ...), played in order', (v: string, prev: string[]) => [...prev, v], [] as string[])
      .option('--fps <n>', 'frames per second decoded from each video', '5')
      .option('--train-steps <n>', 'first train this many steps online on the frames of the first video')
      .option('--max-frames <n>', 'use at most the first n frames of each video (to cut a clip short, or for quick runs)')
      .option('--seeds <list>', 'repeat the run for each seed (0-4, or 0,3,7) and report the false-event rate and median delay: one seed can draw a borderline event')
      .option('--window <n>', 'drift reference window in frames (agent default)', String(d.driftWindow))
      .option('--recent <n>', 'drift recent window in frames (agent default)', String(d.driftRecentWindow))
      .option('--alpha <p>', 'drift when the permutation p-value is below this (agent default)', String(d.driftAlpha))
      .option('--min-statistic <x>', 'and MMD^2 at least this (agent default)', String(d.driftMinStatistic))
      .option('--margin <x>', "and MMD^2 at least this many times the reference's own block statistic; 0 = off (agent default)", String(d.driftMargin)),
  ).action((f: CommonFlags & { video: string[]; fps: string; trainSteps?: string; maxFrames?: string; seeds?: string; window: string; recent: string; alpha: string; minStatistic: string; margin: string }) =>
    guarded(async () => {
      const training = trainingOf(f);
      const alpha = positive('alpha', f.alpha)!;
      if (alpha >= 1) throw new Error(`--alpha must be below 1, got "${f.alpha}"`);
      const window = integer('window', f.window)!;
      if (window < 2) throw new Error(`--window must be at least 2, got "${f.window}"`);
      const minStatistic = Number(f.minStatistic);
      if (!(minStatistic >= 0)) throw new Error(`--min-statistic must be >= 0, got "${f.minStatistic}"`);
      const recent = integer('recent', f.recent)!;
      const margin = Number(f.margin);
      if (!(margin >= 0)) throw new Error(`--margin must be >= 0, got "${f.margin}"`);
      if (margin > 0 && window < 2 * recent) throw new Error(`--window (${window}) must be at least 2 x --recent (${recent}) when --margin is on`);
      const seeds = f.seeds === undefined ? [Number(f.seed)] : parseSeedList(f.seeds);
      if (f.seeds !== undefined && f.checkpoint && !f.trainSteps) {
        throw new Error('--seeds with --checkpoint repeats one run (the seed only changes training): add --train-steps, or drop --seeds');
      }
      // parsed once; each seed's run differs only in its seed
      const options: DriftEvalOptions = {
        ...training,
        videos: f.video,
        fps: positive('fps', f.fps),
        trainSteps: integer('train-steps', f.trainSteps),
        maxFramesPerVideo: integer('max-frames', f.maxFrames),
        detect: { driftWindow: window, driftRecentWindow: recent, driftAlpha: alpha, driftMinStatistic: minStatistic, driftMargin: margin },
      };
      const run = (seed: number) => driftEval({ ...options, seed });
      if (f.seeds === undefined) {
        const report = await run(seeds[0]!);
        console.log(driftTable(report));
        if (f.json) fs.writeFileSync(f.json, JSON.stringify(report, null, 2));
        return;
      }
      const reports = [];
      for (const seed of seeds) {
        const report = await run(seed);
        console.log(`seed ${seed}:\n${driftTable(report)}\n`);
        reports.push(report);
      }
      const sweep = summariseDriftSeeds(seeds, reports);
      console.log(driftSeedSweepTable(sweep));
      if (f.json) fs.writeFileSync(f.json, JSON.stringify(sweep, null, 2));
    }),
  );
  registerEvalEvents(evalCmd);
}
