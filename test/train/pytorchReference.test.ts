/**
 * The whole engine against PyTorch: test/fixtures/dino_reference.json was produced by a PyTorch statement of the
 * official DINO code (scripts/reference/dino_reference.py): same initial weights, same crops, three full steps.
 * Forward logits (incl. bicubic position-embedding interpolation for local crops), loss, raw gradients of every
 * parameter, and the weights, teacher and centre after each step (clipping, last-layer freeze, AdamW with
 * param groups, EMA) must match.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend, expectClose } from '../helpers/backend';
import { Trainer } from '../../src/train/Trainer';
import { modelSize } from '../../src/model/modelSizes';

interface Exported { shape: number[]; values: number[] }
interface Fixture {
  settings: Record<string, number>;
  init: Record<string, Exported>;
  steps: {
    crops: number[][];
    teacher_logits: number[];
    student_logits: number[];
    loss: number;
    lr: number;
    wd: number;
    momentum: number;
    teacher_temp: number;
    grads: Record<string, number[]>;
    student_after: Record<string, Exported>;
    teacher_after: Record<string, Exported>;
    center_after: number[];
  }[];
}

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/dino_reference.json'), 'utf8')) as Fixture;
const S = fixture.settings;

function makeTrainer(): Trainer {
  const model = modelSize('micro');
  const trainer = new Trainer({
    model,
    batchSize: S['B']!,
    baseLr: (S['LR']! * 256) / S['B']!,
    minLr: S['MIN_LR']!,
    warmupSteps: 0,
    totalSteps: S['EPOCHS']!,
    weightDecay: S['WD']!,
    weightDecayEnd: S['WD_END']!,
    momentumTeacher: S['MOM']!,
    warmupTeacherTemp: S['TT_WARM']!,
    teacherTemp: S['TT']!,
    warmupTeacherTempSteps: S['TT_WARM_STEPS']!,
    studentTemp: S['STUDENT_T']!,
    centerMomentum: S['CENTER_M']!,
    centering: 'center',
    clipGrad: S['CLIP']!,
    freezeLastLayerSteps: S['FREEZE']!,
    seed: 0,
  });
  for (const m of [trainer.student, trainer.teacher]) {
    for (const [name, v] of m.namedParameters()) {
      if (name.endsWith('mask_token')) continue; // the official ViT has none; unused without masks
      const e = fixture.init[name];
      if (!e) throw new Error(`fixture lacks ${name}`);
      v.assign(tf.tensor(e.values, v.shape));
    }
  }
  return trainer;
}

function cropsOf(step: Fixture['steps'][number]): tf.Tensor4D[] {
  const B = S['B']!;
  return step.crops.map((values) => {
    const size = Math.round(Math.sqrt(values.length / (B * 3)));
    return tf.tensor4d(values, [B, size, size, 3]);
  });
}

/**
 * lr is 0.039 here, so a wrong update moves a weight by ~1e-2 and decay on a norm weight by ~2e-3; Adam maps a
 * gradient's float32 relative error (~1e-3 for the smallest ones) to an absolute weight error ~lr * 1e-3, hence the
 * atol 5e-5. The one exception is the key part of the qkv bias: its true gradient is 0 (softmax ignores a shift shared by all keys),
 * and Adam turns float noise ~1e-12 there into steps of lr * g / eps ~ 1e-5 that differ between any two
 * implementations; it gets a tolerance of a few such steps.
 */
function compareWeights(got: ArrayLike<number>, want: number[], name: string, what: string): void {
  if (name.endsWith('attn.qkv.bias')) {
    const d = want.length / 3;
    const part = (a: ArrayLike<number>, k: number) => Array.from(a).slice(k * d, (k + 1) * d);
    expectClose(part(got, 0), part(want, 0), 5e-5, 1e-4, `${what} (q)`);
    expectClose(part(got, 1), part(want, 1), 2e-4, 0, `${what} (k)`);
    expectClose(part(got, 2), part(want, 2), 5e-5, 1e-4, `${what} (v)`);
    return;
  }
  expectClose(got, want, 5e-5, 1e-4, what);
}

describe.each(['cpu', 'wasm'] as const)('engine vs PyTorch reference (%s)', (backend) => {
  beforeAll(() => useBackend(backend));

  test('three DINO steps match the official code', () => {
    const trainer = makeTrainer();
    const before = tf.memory().numTensors;
    for (const [i, ref] of fixture.steps.entries()) {
      const crops = cropsOf(ref);
      // forward and raw gradients, computed the way trainStep does
      tf.tidy(() => {
        const t = trainer.teacher.apply(crops.slice(0, 2));
        expectClose(t.logits.dataSync(), ref.teacher_logits, 1e-5, 1e-4, `step ${i} teacher logits`);
        const targets = trainer.dinoLoss.teacherTargets(t.logits, trainer.teacherTemp(i));
        const s = trainer.student.apply(crops);
        expectClose(s.logits.dataSync(), ref.student_logits, 1e-5, 1e-4, `step ${i} student logits`);
        // the mask token (masked-patch objective only) is not in the official ViT and gets no gradient here
        const params = trainer.student.namedParameters().filter(([n, v]) => v.trainable && !n.endsWith('mask_token'));
        const { grads } = tf.variableGrads(() => trainer.dinoLoss.lossFromTargets(trainer.student.apply(crops).logits, targets), params.map(([, v]) => v));
        for (const [name, v] of params) {
          const want = ref.grads[name];
          if (!want) throw new Error(`no reference gradient for ${name}`);
          const scale = Math.max(...want.map(Math.abs));
          expectClose(grads[v.name]!.dataSync(), want, 1e-4 * scale + 1e-9, 1e-3, `step ${i} grad ${name}`);
        }
      });
      const r = trainer.trainStep(crops);
      expect(r.lr).toBeCloseTo(ref.lr, 12);
      expect(r.weightDecay).toBeCloseTo(ref.wd, 12);
      expect(r.momentum).toBeCloseTo(ref.momentum, 12);
      expect(r.teacherTemp).toBeCloseTo(ref.teacher_temp, 12);
      expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-4 * Math.abs(ref.loss) + 1e-6);
      for (const [who, module, after] of [['student', trainer.student, ref.student_after], ['teacher', trainer.teacher, ref.teacher_after]] as const) {
        for (const [name, v] of module.namedParameters()) {
          // without masks the mask token gets no gradient, so neither AdamW nor the EMA may move it off its zeros
          if (name.endsWith('mask_token')) expect(Math.max(...Array.from(v.dataSync(), Math.abs))).toBe(0);
          else compareWeights(v.dataSync(), after[name]!.values, name, `step ${i} ${who} ${name}`);
        }
      }
      expectClose(trainer.dinoLoss.center.dataSync(), ref.center_after, 1e-5, 1e-4, `step ${i} center`);
      tf.dispose(crops);
    }
    expect(tf.memory().numTensors).toBe(before);
    trainer.dispose();
  });
});

test('the wasm runs above used the native kernels when they are built', async () => {
  await useBackend('wasm');
  const { nativeKernelsActive, nativeKernelsReason } = await import('../../src/backend');
  // the addon is built by npm install on these machines; if it is not, say why instead of passing silently
  expect({ active: nativeKernelsActive(), reason: nativeKernelsReason() }).toMatchObject({ active: true });
  expect(tf.getKernel('DinoAdamW', 'wasm')).toBeDefined();
});
