import { lastValueFrom, Subject, toArray } from 'rxjs';
import { Frame } from '../Frame';
import { ReplayBuffer } from '../ReplayBuffer';
import { DropCounter } from '../DropCounter';
import { StepRunner, trainingLoop, TrainingLoopStats } from './trainingLoop';
import { Random } from '../../src/util/Random';
import { sleep, waitFor } from '../../test/streams/waitFor';

interface FakeStats {
  step: number;
  loss: number;
  lr: number;
}

const frame = (streamId: string, index: number): Frame => ({
  streamId,
  index,
  t: Date.now(),
  width: 2,
  height: 2,
  rgb: new Uint8Array(12).fill(index & 255),
});

/** A fake engine: records batches and how many steps overlap; each step takes `ms` (0 = resolves at once). */
class FakeRunner implements StepRunner<FakeStats> {
  active = 0;
  maxActive = 0;
  calls = 0;
  batches: Frame[][] = [];
  constructor(private readonly ms: number | (() => number) = 0) {}
  async step(frames: Frame[]): Promise<FakeStats> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.calls++;
    this.batches.push(frames);
    const ms = typeof this.ms === 'function' ? this.ms() : this.ms;
    if (ms > 0) await sleep(ms);
    this.active--;
    return { step: this.calls, loss: 1 / this.calls, lr: 0.001 };
  }
}

describe('trainingLoop', () => {
  it('never runs two steps at once, while frames keep arriving during each step', async () => {
    const rng = new Random(1);
    const runner = new FakeRunner(() => 5 + rng.int(20));
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 64, policy: 'reservoir', rng: new Random(2) });
    const out: TrainingLoopStats<FakeStats>[] = [];
    const receivedDuringSteps: number[] = [];
    const sub = frames$.pipe(trainingLoop({ buffer, runner, batchSize: 8, updatesPerFrame: 1, rng: new Random(3) })).subscribe((s) => out.push(s));
    for (let i = 0; i < 300; i++) {
      frames$.next(frame(i % 2 ? 'a' : 'b', i));
      if (runner.active) receivedDuringSteps.push(i);
      await sleep(1);
    }
    await waitFor(() => runner.active === 0, 2000, 'the last step to end');
    sub.unsubscribe();

    expect(runner.maxActive).toBe(1);
    expect(runner.calls).toBeGreaterThan(5);
    // steps take 5-25 ms and frames come every ~1 ms: most frames arrive while a step runs, and go in at once
    expect(receivedDuringSteps.length).toBeGreaterThan(150);
    expect(out.length).toBe(runner.calls);
    expect(out.map((s) => s.stats.step)).toEqual(out.map((_, i) => i + 1));
    for (const s of out) {
      expect(s.batchSize).toBe(8);
      expect(s.stepMs).toBeGreaterThanOrEqual(4);
      expect(s.imagesPerSec).toBeCloseTo((8 * 1000) / s.stepMs, 6);
      expect(s.effectiveImagesPerSec).toBeLessThanOrEqual(s.imagesPerSec + 1e-9);
    }
    for (const b of runner.batches) {
      expect(b.length).toBe(8);
      expect(new Set(b).size).toBe(8); // without replacement
    }
    expect(out[out.length - 1]!.received.a! + out[out.length - 1]!.received.b!).toBeGreaterThan(250);
  });

  it.each([
    [0.25, 100, 23],
    [0.1, 100, 9],
    [1, 50, 43],
    [2, 50, 86],
  ])('updatesPerFrame %p with %p frames runs exactly %p steps once the buffer is warm (8 frames)', async (upf, n, want) => {
    const runner = new FakeRunner(0);
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 32, policy: 'reservoir', rng: new Random(1) });
    const done = lastValueFrom(frames$.pipe(trainingLoop({ buffer, runner, batchSize: 8, updatesPerFrame: upf })).pipe(toArray()));
    for (let i = 0; i < n; i++) {
      frames$.next(frame('cam', i));
      // let the (instant) steps owed for this frame finish before the next frame arrives
      await sleep(0);
      await sleep(0);
    }
    frames$.complete();
    const stats = await done;
    // frames 8..n earn the credit: (n - 7) * upf steps
    expect(runner.calls).toBe(want);
    expect(stats.length).toBe(want);
    expect(runner.maxActive).toBe(1);
  });

  it('does not hoard steps: a burst of frames during a slow step owes at most max(1, updatesPerFrame) steps', async () => {
    const runner = new FakeRunner(50);
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 32, policy: 'reservoir', rng: new Random(1) });
    const done = lastValueFrom(frames$.pipe(trainingLoop({ buffer, runner, batchSize: 4, updatesPerFrame: 0.5 })).pipe(toArray()));
    for (let i = 0; i < 200; i++) frames$.next(frame('cam', i)); // all at once: 100 steps' worth of credit
    frames$.complete();
    await done;
    expect(runner.calls).toBe(2); // the one started at once + one owed, not 98 more
  });

  it('reports frames dropped per stream: buffer rejections plus upstream drops', async () => {
    const runner = new FakeRunner(2);
    const frames$ = new Subject<Frame>();
    const upstream = new DropCounter();
    upstream.record('a', 5);
    upstream.record('c', 2); // a stream that lost every frame upstream still shows up
    const buffer = new ReplayBuffer({ capacity: 10, policy: 'reservoir', rng: new Random(4) });
    const outP = lastValueFrom(frames$.pipe(trainingLoop({ buffer, runner, batchSize: 4, updatesPerFrame: 0.05, upstreamDrops: upstream })).pipe(toArray()));
    for (let i = 0; i < 300; i++) {
      frames$.next(frame(i % 3 ? 'a' : 'b', i));
      if (i % 50 === 0) await sleep(5);
    }
    frames$.complete();
    const out = await outP;
    const last = out[out.length - 1]!;
    const st = buffer.statsByStream();
    expect(last.received).toEqual({ a: 200, b: 100 });
    expect(last.dropped).toEqual({ a: st.a!.rejected + 5, b: st.b!.rejected, c: 2 });
    expect(st.a!.rejected).toBeGreaterThan(150); // reservoir of 5 per stream over 200 frames
    expect(last.bufferSize).toBe(10);
  });

  it('stops on unsubscribe: no new step, the result of the step in flight is discarded', async () => {
    const runner = new FakeRunner(100);
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 16, policy: 'reservoir', rng: new Random(1) });
    const out: TrainingLoopStats<FakeStats>[] = [];
    const sub = frames$.pipe(trainingLoop({ buffer, runner, batchSize: 4, updatesPerFrame: 1 })).subscribe((s) => out.push(s));
    for (let i = 0; i < 6; i++) frames$.next(frame('cam', i));
    await sleep(10);
    expect(runner.active).toBe(1);
    sub.unsubscribe();
    expect(frames$.observed).toBe(false); // ingest detached
    await sleep(250);
    expect(runner.calls).toBe(1);
    expect(out).toEqual([]);
  });

  it('a failing step errors the stream', async () => {
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 8, policy: 'reservoir' });
    const runner: StepRunner<FakeStats> = { step: () => Promise.reject(new Error('NaN loss')) };
    const p = lastValueFrom(frames$.pipe(trainingLoop({ buffer, runner, batchSize: 2 })));
    for (let i = 0; i < 3; i++) frames$.next(frame('cam', i));
    await expect(p).rejects.toThrow('NaN loss');
  });

  it('with onStepError, a failed step is retried after the delay it returns, on a new batch; success resets the count', async () => {
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 64, policy: 'reservoir', rng: new Random(1) });
    const fail = new Set([2, 3, 5]); // calls that throw
    const callAt: number[] = [];
    const batches: string[] = [];
    const runner: StepRunner<FakeStats> = {
      step: async (frames) => {
        callAt.push(Date.now());
        batches.push(frames.map((f) => f.index).join(','));
        const call = callAt.length;
        if (fail.has(call)) throw new Error(`injected ${call}`);
        return { step: call, loss: 1, lr: 0 };
      },
    };
    const errors: [string, number][] = [];
    const onStepError = (e: unknown, n: number) => (errors.push([(e as Error).message, n]), 40 * n);
    const out: TrainingLoopStats<FakeStats>[] = [];
    const sub = frames$.pipe(trainingLoop({ buffer, runner, batchSize: 2, updatesPerFrame: 1, onStepError, rng: new Random(2) })).subscribe((s) => out.push(s));
    for (let i = 0; out.length < 3 && i < 400; i++) {
      frames$.next(frame('cam', i));
      await sleep(5);
    }
    sub.unsubscribe();
    expect(errors).toEqual([['injected 2', 1], ['injected 3', 2], ['injected 5', 1]]);
    expect(out.map((s) => s.stats.step)).toEqual([1, 4, 6]);
    // each retry waited for the delay of its failure (40 ms, then 80 ms), and sampled again
    expect(callAt[2]! - callAt[1]!).toBeGreaterThanOrEqual(38);
    expect(callAt[3]! - callAt[2]!).toBeGreaterThanOrEqual(78);
    expect(batches[2]).not.toBe(batches[1]);
  });

  it('onStepError returning null gives up: the stream errors with the failure', async () => {
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 8, policy: 'reservoir' });
    const runner: StepRunner<FakeStats> = { step: () => Promise.reject(new Error('worker gone')) };
    const seen: number[] = [];
    const p = lastValueFrom(frames$.pipe(trainingLoop({ buffer, runner, batchSize: 2, onStepError: (_e, n) => (seen.push(n), n < 3 ? 1 : null) })));
    for (let i = 0; i < 3; i++) frames$.next(frame('cam', i));
    await expect(p).rejects.toThrow('worker gone');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('unsubscribing during a retry delay starts no further step', async () => {
    const frames$ = new Subject<Frame>();
    const buffer = new ReplayBuffer({ capacity: 8, policy: 'reservoir' });
    let calls = 0;
    const runner: StepRunner<FakeStats> = { step: () => (calls++, Promise.reject(new Error('x'))) };
    const sub = frames$.pipe(trainingLoop({ buffer, runner, batchSize: 2, onStepError: () => 50 })).subscribe({ error: () => undefined });
    for (let i = 0; i < 3; i++) frames$.next(frame('cam', i));
    await waitFor(() => calls === 1, 1000, 'the first attempt');
    sub.unsubscribe();
    await sleep(120);
    expect(calls).toBe(1);
  });

  it('forget$: a forgotten stream leaves the replay buffer and the per-stream counts', async () => {
    const frames$ = new Subject<Frame>();
    const forget$ = new Subject<string>();
    const buffer = new ReplayBuffer({ capacity: 64, policy: 'fifo' });
    const out: TrainingLoopStats<FakeStats>[] = [];
    const sub = frames$.pipe(trainingLoop({ buffer, runner: new FakeRunner(), batchSize: 4, updatesPerFrame: 0.25, forget$ })).subscribe((s) => out.push(s));
    for (let i = 0; i < 20; i++) frames$.next(frame(i % 2 ? 'real' : 'gone', i));
    expect(buffer.countsByStream()).toEqual({ real: 10, gone: 10 });
    forget$.next('gone');
    expect(buffer.countsByStream()).toEqual({ real: 10 });
    for (let i = 20; i < 28; i++) frames$.next(frame('real', i));
    await waitFor(() => out.length > 0 && out[out.length - 1]!.received['real'] === 18, 2000, 'a step after the forget');
    const last = out[out.length - 1]!;
    expect(Object.keys(last.received)).toEqual(['real']);
    expect(last.batchSize).toBe(4);
    sub.unsubscribe();
  });
});
