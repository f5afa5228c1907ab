/**
 * The `eval` subcommands as a user runs them (node dist/src/cli.js): input errors print one plain line and exit 2,
 * and `eval knn --json` writes the documented keys. dist/ is rebuilt first when any source is newer than it.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { SHARED_DATA } from '../helpers/sharedData';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const DATA = SHARED_DATA;
const CIFAR = path.join(DATA, 'cifar10');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function png(file: string, rgb: [number, number, number] = [120, 120, 120]): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const px = Buffer.alloc(8 * 8 * 3);
  for (let i = 0; i < px.length; i++) px[i] = rgb[i % 3]!;
  await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(file);
}

describe('dino-stream eval (CLI)', () => {
  let tmp: string;

  beforeAll(async () => {
    const built = fs.existsSync(CLI) ? fs.statSync(CLI).mtimeMs : 0;
    const newest = Math.max(...['src', 'streams', 'config'].map((d) => newestSource(path.join(ROOT, d))));
    // tsc emits even when a file elsewhere has a type error (npm run typecheck reports those): only a missing CLI stops us
    if (built < newest) spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: npm run build failed`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-cli-'));
    // no test split
    await png(path.join(tmp, 'nosplit/train/cat/a.png'));
    // an empty class folder in train
    await png(path.join(tmp, 'empty/train/cat/a.png'));
    fs.mkdirSync(path.join(tmp, 'empty/train/dog'), { recursive: true });
    await png(path.join(tmp, 'empty/test/cat/a.png'));
    // an unreadable image
    await png(path.join(tmp, 'corrupt/train/cat/a.png'));
    await png(path.join(tmp, 'corrupt/train/dog/a.png'));
    fs.writeFileSync(path.join(tmp, 'corrupt/train/dog/b.jpg'), 'not a jpeg');
    await png(path.join(tmp, 'corrupt/test/cat/a.png'));
    // one red train image against three blue ones: left out, the red one has only blue neighbours
    await png(path.join(tmp, 'loo/train/red/a.png'), [230, 20, 20]);
    for (const [n, b] of [['a', 230], ['b', 210], ['c', 250]] as const) await png(path.join(tmp, `loo/train/blue/${n}.png`), [20, 20, b]);
    await png(path.join(tmp, 'loo/test/red/a.png'), [220, 30, 30]);
    await png(path.join(tmp, 'loo/test/blue/a.png'), [30, 30, 220]);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each([
    ['nosplit', /missing split folder "test"/],
    ['empty', /class folder has no jpg\/jpeg\/png images: .*empty\/train\/dog/],
    ['corrupt', /cannot decode image .*corrupt\/train\/dog\/b\.jpg/],
  ])('eval knn on a broken folder (%s): exit 2 and the message', (name, message) => {
    const r = cli(['eval', 'knn', '--data', path.join(tmp, name), '--model', 'micro', '--steps', '1', '--batch', '2']);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^dino-stream eval: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(r.code).toBe(2);
  });

  test('eval novelty and eval drift: input errors exit 2 with a plain message', () => {
    const broken = cli(['eval', 'novelty', '--data', path.join(tmp, 'nosplit'), '--holdout', 'cat', '--model', 'micro', '--steps', '1']);
    expect([broken.code, broken.stderr]).toEqual([2, expect.stringMatching(/missing split folder "test"/)]);

    const unknown = cli(['eval', 'novelty', '--data', CIFAR, '--holdout', 'cat,unicorn', '--model', 'micro', '--steps', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown holdout class "unicorn"; the classes of .* are: airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck/);

    const missing = path.join(tmp, 'nope.mp4');
    const video = cli(['eval', 'drift', '--video', path.join(DATA, 'video/tree_h264.mp4'), '--video', missing, '--model', 'micro']);
    expect(video.code).toBe(2);
    expect(video.stderr).toContain(`cannot open video ${missing}`);

    const flag = cli(['eval', 'drift', '--video', 'a.mp4', '--video', 'b.mp4', '--alpha', '2']);
    expect([flag.code, flag.stderr.trim()]).toEqual([2, 'dino-stream eval: --alpha must be below 1, got "2"']);
    const policy = cli(['eval', 'knn', '--data', CIFAR, '--model', 'micro', '--steps', '1', '--buffer-policy', 'lifo']);
    expect([policy.code, policy.stderr.trim()]).toEqual([2, 'dino-stream eval: --buffer-policy must be one of fifo, reservoir, min-redundancy, got "lifo"']);

    // --set reaches the recipe of novelty and drift too, checked before any training
    const setNovelty = cli(['eval', 'novelty', '--data', CIFAR, '--holdout', 'cat', '--model', 'micro', '--steps', '1', '--set', 'koleoWieght=0.1']);
    expect([setNovelty.code, setNovelty.stderr]).toEqual([2, expect.stringMatching(/--set koleoWieght: unknown trainer option; known here: .*koleoWeight/)]);
    const setDrift = cli(['eval', 'drift', '--video', path.join(DATA, 'video/tree_h264.mp4'), '--video', path.join(DATA, 'video/tree_h264.mp4'), '--model', 'micro', '--set', 'koleoSchedule=cosin']);
    expect([setDrift.code, setDrift.stderr]).toEqual([2, expect.stringMatching(/--set koleoSchedule: expected one of constant, cosine, got "cosin"/)]);
  });

  test('eval drift --seeds: one run per seed, the sweep in the JSON', () => {
    const tree = path.join(DATA, 'video/tree_h264.mp4');
    const ckpt = cli(['eval', 'drift', '--video', tree, '--video', tree, '--model', 'micro', '--seeds', '0-1', '--checkpoint', path.join(tmp, 'none')]);
    expect([ckpt.code, ckpt.stderr.trim()]).toEqual([2, expect.stringMatching(/--seeds with --checkpoint repeats one run/)]);

    const json = path.join(tmp, 'sweep.json');
    const r = cli(['eval', 'drift', '--video', tree, '--video', tree, '--model', 'micro', '--max-frames', '40', '--window', '20', '--recent', '5', '--seeds', '2,5', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^seed 2:$/m);
    expect(r.stdout).toMatch(/^seed 5:$/m);
    const sweep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(sweep.seeds).toEqual([2, 5]);
    expect(sweep.runs).toHaveLength(2);
    // the summary is computed from the two runs written beside it
    expect(sweep.runs_with_false_events).toBe(sweep.runs.filter((x: { false_events: number }) => x.false_events > 0).length);
    expect(sweep.per_seed.map((p: { delay_s: number | null }) => p.delay_s)).toEqual(sweep.runs.map((x: { delay_s: number | null }) => x.delay_s));
  });

  test('eval events: false novelty events and delays for the percentile alone and with the rules', () => {
    const json = path.join(tmp, 'events.json');
    const r = cli(['eval', 'events', '--model', 'micro', '--synthetic', '2x40', '--warmup', '0', '--cooldown', '10', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| percentile only |');
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.segments.map((g: { frames: number }) => g.frames)).toEqual([200, 200]);
    expect(report.settings.noveltyCooldownSec).toBe(10);
    for (const k of ['percentile_only', 'with_rules']) {
      expect(report[k].delays_s).toHaveLength(1);
      expect(report[k].false_per_hour).toBeCloseTo((3600 * report[k].false_events) / report.static_s, 9);
    }
    // the rules only ever remove events
    expect(report.with_rules.events.every((t: number) => report.percentile_only.events.includes(t))).toBe(true);
    // a change the rules saw had a flagged frame beyond the margin (a fraction of the percentile's score)
    expect(report.flagged_ratio.changes).toHaveLength(1);
    report.with_rules.delays_s.forEach((d: number | null, i: number) => {
      if (d !== null) expect(report.flagged_ratio.changes[i].ratio).toBeGreaterThanOrEqual(1 + report.settings.noveltyMargin);
    });
    expect(r.stdout).toMatch(/flagged frames, score \/ the percentile's score \(the margin passes above 4\.00\)/);
    const bad = cli(['eval', 'events', '--model', 'micro', '--synthetic', 'four']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--synthetic must look like 4x120/);
  });

  test('eval knn --json writes the documented keys', () => {
    const json = path.join(tmp, 'knn.json');
    const r = cli(['eval', 'knn', '--data', CIFAR, '--model', 'micro', '--steps', '2', '--batch', '8', '--buffer-policy', 'fifo', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| raw pixels |');
    expect(r.stdout.split('\n')[0]).toMatch(/^trained: 16 images \(2 steps of 8\) in \d+\.\d min, recipe stream, model micro, seed 0; budget --steps 2$/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.trained).toBe(r.stdout.split('\n')[0]);
    for (const k of ['raw_pixels', 'random_init', 'teacher', 'student']) {
      expect(typeof report[k].top1).toBe('number');
      expect(report[k].top1).toBeGreaterThanOrEqual(0);
      expect(report[k].top1).toBeLessThanOrEqual(100);
    }
    expect(report.images_seen).toBe(16);
    expect(report.buffer).toEqual({ size: 4096, policy: 'fifo' });
    expect(report.steps).toBe(2);
    expect(report.teacher.train_loo_top1).toBeUndefined(); // only with --train-loo
    expect(report.readout).toBe('cls');
  });

  test('eval knn --train-loo: each train image scored against the others', () => {
    const json = path.join(tmp, 'loo.json');
    const r = cli(['eval', 'knn', '--data', path.join(tmp, 'loo'), '--model', 'micro', '--steps', '1', '--batch', '2', '--train-loo', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('| features | top-1 % | top-5 % | train leave-one-out top-1 % |');
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    // raw pixels: both test images find their colour (100); left out, the lone red train image is outvoted by
    // blue (it has no red neighbour), the three blue ones are right: 3 of 4 (100 if an image could vote for itself)
    expect(report.raw_pixels.top1).toBe(100);
    expect(report.raw_pixels.train_loo_top1).toBe(75);
    for (const k of ['random_init', 'teacher', 'student']) {
      expect(report[k].train_loo_top1).toBeGreaterThanOrEqual(0);
      expect(report[k].train_loo_top1).toBeLessThanOrEqual(100);
    }
  });

  test('eval knn --save keeps the trained agent; --checkpoint evaluates it to the same accuracy', () => {
    const save = path.join(tmp, 'saved');
    const trained = path.join(tmp, 'trained.json');
    const r = cli(['eval', 'knn', '--data', CIFAR, '--model', 'micro', '--steps', '3', '--batch', '8', '--eval-at', '8', '--save', save, '--json', trained]);
    expect(r.code).toBe(0);
    // one checkpoint per evaluation: the mark after step 1 and the end
    const saved = fs.readdirSync(save).sort();
    expect(saved).toEqual([expect.stringMatching(/^ckpt-\d{8}T\d{9}-000000001\.dino$/), expect.stringMatching(/^ckpt-\d{8}T\d{9}-000000003\.dino$/)]);
    // both of one run
    expect(saved[0]!.slice(0, 23)).toBe(saved[1]!.slice(0, 23));
    const reloaded = path.join(tmp, 'reloaded.json');
    const e = cli(['eval', 'knn', '--data', CIFAR, '--checkpoint', save, '--json', reloaded]);
    expect(e.code).toBe(0);
    const a = JSON.parse(fs.readFileSync(trained, 'utf8'));
    const b = JSON.parse(fs.readFileSync(reloaded, 'utf8'));
    expect(b.model).toBe(`checkpoint ${path.join(save, saved[1]!)}`);
    expect([b.teacher, b.student]).toEqual([a.teacher, a.student]);
    // the table names the checkpoint, not "0 images seen", and the first line says nothing was trained
    expect(e.stdout).toMatch(/\| teacher \(checkpoint\) \|/);
    expect(e.stdout.split('\n')[0]).toMatch(/^trained: nothing in this run; checkpoint .*ckpt-\d{8}T\d{9}-000000003\.dino \(no budget flag: the checkpoint is evaluated as saved\)$/);
    // the same checkpoint read out as CLS + mean patch token: named in the table's title and the JSON
    const pooled = path.join(tmp, 'pooled.json');
    const p = cli(['eval', 'knn', '--data', CIFAR, '--checkpoint', save, '--readout', 'cls+avgpool', '--json', pooled]);
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/k-NN \(k=20, T=0\.07, features CLS \+ mean patch token\)/);
    const c = JSON.parse(fs.readFileSync(pooled, 'utf8'));
    expect(c.readout).toBe('cls+avgpool');
    expect(c.raw_pixels).toEqual(b.raw_pixels);
    const bad = cli(['eval', 'knn', '--data', CIFAR, '--checkpoint', save, '--readout', 'mean']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--readout must be one of cls, cls\+avgpool, got "mean"/);
  });
});
