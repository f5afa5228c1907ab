/**
 * freezeBackboneSteps and freezePatchEmbedSteps: for that many steps those student parameters get no update (the
 * rest of the student does), and from the step after they train again.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { Trainer } from '../../src/train/Trainer';
import { recipe } from '../../src/train/recipes';
import { modelSize } from '../../src/model/modelSizes';

function crops(t: Trainer, seed: number): tf.Tensor4D[] {
  const c = t.opts.model.crops;
  return [c.globalSize, c.globalSize, ...Array(c.nLocal).fill(c.localSize)].map((s: number, i) => tf.randomNormal([2, s, s, 3], 0, 1, 'float32', seed + i) as tf.Tensor4D);
}

function values(t: Trainer): Map<string, Float32Array> {
  return new Map(t.student.namedParameters().map(([n, v]) => [n, v.dataSync().slice() as Float32Array]));
}

function changed(a: Map<string, Float32Array>, b: Map<string, Float32Array>, prefix: string): boolean[] {
  return [...a].filter(([n]) => n.startsWith(prefix)).map(([n, v]) => v.some((x, i) => x !== b.get(n)![i]));
}

describe('freezing the backbone or the patch embedding for the first steps', () => {
  beforeAll(() => useBackend('cpu'));

  test('backbone frozen for 1 step and patch embedding for 2: what moves at steps 0, 1 and 2', () => {
    const before = tf.memory().numTensors;
    const base = recipe('stream', { model: modelSize('micro'), batchSize: 2, horizonSteps: 50 });
    const t = new Trainer({ ...base, warmupSteps: 0, freezeLastLayerSteps: 0, freezeBackboneSteps: 1, freezePatchEmbedSteps: 2, dropPathRate: 0 });
    const moved: Record<string, boolean[]>[] = [];
    for (let step = 0; step < 3; step++) {
      const a = values(t);
      const c = crops(t, 10 * step);
      t.trainStep(c);
      tf.dispose(c);
      const b = values(t);
      moved.push({
        head: changed(a, b, 'head.'),
        blocks: changed(a, b, 'backbone.blocks.'),
        patch: changed(a, b, 'backbone.patch_embed.'),
      });
    }
    expect(moved[0]!.head).toContain(true);
    expect(moved[0]!.blocks.every((x) => !x)).toBe(true);
    expect(moved[0]!.patch.every((x) => !x)).toBe(true);
    expect(moved[1]!.blocks.every((x) => x)).toBe(true);
    expect(moved[1]!.patch.every((x) => !x)).toBe(true);
    expect(moved[2]!.patch.every((x) => x)).toBe(true);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
