import { merge } from 'rxjs';
import { Frame } from '../../streams/Frame';
import { DropCounter } from '../../streams/DropCounter';
import { ReplayBuffer } from '../../streams/ReplayBuffer';
import { SyntheticCamera } from '../../streams/sources/SyntheticCamera';
import { throttleFps } from '../../streams/operators/throttleFps';
import { fairMix } from '../../streams/operators/fairMix';
import { trainingLoop, TrainingLoopStats } from '../../streams/trainingLoop';
import { Random } from '../../src/util/Random';
import { sleep } from './waitFor';

/** The pieces composed as the agent will: cameras -> throttle -> fair mix -> replay buffer -> training steps. */
describe('streams pipeline', () => {
  it('a fast and a slow camera both reach the buffer fairly while slow steps run one at a time', async () => {
    const fast = new SyntheticCamera({ streamId: 'fast', width: 24, height: 24, fps: 100, seed: 1 });
    const slow = new SyntheticCamera({ streamId: 'slow', width: 24, height: 24, fps: 8, seed: 2, scene: 3 });
    const drops = new DropCounter();
    const mixed$ = merge(fast.frames$.pipe(throttleFps(40)), slow.frames$).pipe(fairMix({ periodMs: 50, counter: drops }));
    const buffer = new ReplayBuffer({ capacity: 16, policy: 'min-redundancy', width: 24, height: 24 });
    let active = 0;
    let maxActive = 0;
    const batches: Frame[][] = [];
    const runner = {
      async step(frames: Frame[]): Promise<{ step: number; loss: number }> {
        active++;
        maxActive = Math.max(maxActive, active);
        batches.push(frames);
        await sleep(60);
        active--;
        return { step: batches.length, loss: 1 };
      },
    };
    const out: TrainingLoopStats<{ step: number; loss: number }>[] = [];
    const sub = trainingLoop({ frames$: mixed$, buffer, runner, batchSize: 8, updatesPerFrame: 0.5, rng: new Random(1), upstreamDrops: drops }).subscribe((s) =>
      out.push(s),
    );
    await sleep(2000);
    sub.unsubscribe();

    expect(maxActive).toBe(1);
    expect(out.length).toBeGreaterThan(5);
    const last = out[out.length - 1]!;
    // fairMix: at most one frame per stream per 50 ms round -> fast ~20/s reaches the loop, slow all its 8/s
    expect(last.received.fast! / last.received.slow!).toBeLessThan(3.5);
    expect(last.dropped.fast).toBeGreaterThan(15); // 40 fps in, at most 20 fps through: the rest counted
    expect(last.dropped.slow ?? 0).toBe(0);
    // both cameras hold a fair share of the buffer
    const counts = buffer.countsByStream();
    expect(counts.fast).toBe(8);
    expect(counts.slow).toBe(8);
    expect(batches.every((b) => b.length === 8 && b.every((f) => f.width === 24))).toBe(true);
  });
});
