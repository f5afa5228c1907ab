import * as tf from '@tensorflow/tfjs';
import { MultiCropWrapper } from '../model/MultiCropWrapper';
import { DINOHead } from '../model/DINOHead';
import { DINOLoss } from './DINOLoss';
import { KoLeoLoss } from './KoLeoLoss';
import { IBOTPatchLoss } from './IBOTPatchLoss';
import { BlockMasking } from '../views/BlockMasking';
import { AdamW, emaUpdate, type ParamUpdate } from './AdamW';
import { cosineSchedule, linearWarmupSchedule, momentumSchedule, type Schedule } from './schedules';
import type { TrainerOptions } from './TrainerOptions';
import { variableFrom } from '../util/variables';
import { l2Normalize } from '../ops/l2';
import { variableGrads } from '../ops/variableGrads';
import { Random } from '../util/Random';

/** What one training step reports: the loss, the schedule values used, and the collapse monitors. */
export interface StepResult {
  /** Step index that was just run (0-based). */
  step: number;
  /** The DINO loss (without the KoLeo term). */
  loss: number;
  /** KoLeo regulariser, summed over the global crop batches, before its weight (0 when koleoWeight is 0). */
  koleo: number;
  /** The KoLeo weight used at this step (see koleoSchedule). */
  koleoWeight: number;
  /** iBOT's masked-patch loss before its weight (0 when ibotWeight is 0 or no token was masked). */
  ibot: number;
  /** Patch tokens masked in this step's global crops. */
  maskedTokens: number;
  lr: number;
  weightDecay: number;
  momentum: number;
  teacherTemp: number;
  /** Mean entropy of the teacher's centred, sharpened softmax: ~0 = one-hot collapse, ~ln(outDim) = uniform. */
  teacherEntropy: number;
  /** Mean over dimensions of the batch std of L2-normalised teacher CLS features: 0 = collapse, ~1/sqrt(D) healthy. */
  embeddingStd: number;
  /** loss / ln(outDim): near 1 means the student matches uniform targets (uniform collapse). */
  lossOverLnK: number;
  /** ln(outDim) and 1/sqrt(D), the references for the two monitors above. */
  lnOutDim: number;
  healthyStd: number;
  ms: number;
}

/** A step whose update is queued: its schedule values and the reported scalars still on the backend. */
interface PendingStep {
  t0: number;
  it: number;
  lr: number;
  wd: number;
  m: number;
  temp: number;
  kw: number;
  scalars: tf.Tensor1D;
  koleoKept?: tf.Scalar;
  ibotKept?: tf.Scalar;
  /** The global crops' masks (the masked-patch objective), disposed with the step once it is read back. */
  masks?: { mask: tf.Tensor2D; rows: tf.Tensor1D; weights: tf.Tensor1D };
}

/** Serializable training state (tensors by name + counters), see Checkpoint. */
export interface TrainerState {
  step: number;
  tensors: Map<string, tf.Tensor>;
  optimizerSteps: Record<string, number>;
}

/** What the student's loss needs for the masked-patch objective at one step. */
interface MaskedStep {
  mask: tf.Tensor2D;
  rows: tf.Tensor1D;
  targets: tf.Tensor2D;
  weights: tf.Tensor1D;
  onLoss: (ibot: tf.Scalar) => void;
}

/** Parameters a checkpoint may lack (written before they existed): they keep their initial values on load. */
const OPTIONAL_STATE = [/\.backbone\.mask_token$/, /^ibot_loss\.center$/];

/** Whether a checkpoint may lack this state tensor (see OPTIONAL_STATE). */
export function isOptionalTrainerState(key: string): boolean {
  return OPTIONAL_STATE.some((r) => r.test(key));
}

/**
 * One DINO step on a batch of multi-crop views: teacher forward on the global crops, student forward+backward on
 * all crops, per-parameter clipping, last-layer freeze, AdamW with scheduled lr and weight decay, EMA teacher,
 * centre update. Mirrors train_one_epoch of main_dino.py with the iteration counter as the only clock.
 */
export class Trainer {
  readonly student: MultiCropWrapper;
  readonly teacher: MultiCropWrapper;
  readonly dinoLoss: DINOLoss;
  readonly koleo = new KoLeoLoss();
  /** iBOT's masked-patch loss, when ibotWeight > 0. */
  readonly ibotLoss: IBOTPatchLoss | null;
  readonly masking: BlockMasking;
  readonly optimizer = new AdamW();
  lr!: Schedule;
  wd!: Schedule;
  momentum!: Schedule;
  teacherTemp!: Schedule;
  koleoWeight!: Schedule;
  stepCount = 0;
  private readonly nCrops: number;
  /** Draws of the student's stochastic depth, seeded so that a run repeats for its seed. */
  private readonly dropPathRng: Random;
  /** Draws of the masks; its position is saved in checkpoints (maskState). */
  private readonly maskRng: Random;

  constructor(readonly opts: TrainerOptions) {
    const { model } = opts;
    this.opts = { ...opts };
    this.nCrops = 2 + model.crops.nLocal;
    const dpr = opts.dropPathRate ?? 0;
    if (!(dpr >= 0 && dpr < 1)) throw new Error(`dropPathRate must be in [0, 1), got ${dpr}`);
    this.dropPathRng = new Random(opts.seed + 7919);
    this.student = new MultiCropWrapper(model, opts.seed);
    this.teacher = this.student.cloneWeights(false);
    this.dinoLoss = new DINOLoss({
      outDim: model.head.outDim,
      nCrops: this.nCrops,
      studentTemp: opts.studentTemp,
      centerMomentum: opts.centerMomentum,
      centering: opts.centering ?? 'center',
    });
    const iw = opts.ibotWeight ?? 0;
    if (!(iw >= 0)) throw new Error(`ibotWeight must be >= 0, got ${iw}`);
    this.ibotLoss =
      iw > 0
        ? new IBOTPatchLoss({ outDim: model.head.outDim, studentTemp: opts.studentTemp, centerMomentum: opts.centerMomentum, centering: opts.centering ?? 'center' })
        : null;
    this.masking = new BlockMasking({
      probability: opts.ibotMaskProbability ?? 0.5,
      ratio: [opts.ibotMaskRatioMin ?? 0.1, opts.ibotMaskRatioMax ?? 0.5],
    });
    this.maskRng = new Random(opts.seed + 104729);
    this.buildSchedules();
    this.optimizer.init(this.student.namedParameters().filter(([, v]) => v.trainable));
  }

  private buildSchedules(): void {
    const o = this.opts;
    const lrPeak = (o.baseLr * o.batchSize) / 256; // official linear scaling rule
    this.lr = cosineSchedule({ base: lrPeak, final: o.minLr, totalSteps: o.totalSteps, warmupSteps: o.warmupSteps });
    this.wd = cosineSchedule({ base: o.weightDecay, final: o.weightDecayEnd, totalSteps: o.totalSteps });
    this.momentum = momentumSchedule(o.momentumTeacher, o.totalSteps, o.momentumTeacherEnd ?? 1);
    this.teacherTemp = linearWarmupSchedule(o.warmupTeacherTemp, o.teacherTemp, o.warmupTeacherTempSteps);
    const kw = o.koleoWeight ?? 0;
    this.koleoWeight =
      o.koleoSchedule === 'cosine' ? cosineSchedule({ base: kw, final: 0, totalSteps: o.totalSteps }) : () => kw;
  }

  /**
   * Move the horizon of the cosine schedules (a wall-clock budget only knows its step count once the speed is
   * measured). Warm-up lengths are kept.
   */
  setHorizon(totalSteps: number): void {
    this.opts.totalSteps = Math.max(totalSteps, this.opts.warmupSteps + 1);
    this.buildSchedules();
  }

  /** Official get_params_groups: biases and 1-D parameters get no weight decay (weight_g is 2-D in PyTorch). */
  static decays(name: string, v: tf.Variable): boolean {
    if (name.endsWith('.bias')) return false;
    return v.rank > 1 || name.endsWith('last_layer.weight_g');
  }

  private trainableParams(step: number): [string, tf.Variable][] {
    const frozen = step < this.opts.freezeLastLayerSteps;
    const backbone = step < (this.opts.freezeBackboneSteps ?? 0);
    const patch = step < (this.opts.freezePatchEmbedSteps ?? 0);
    return this.student
      .namedParameters()
      .filter(
        ([n, v]) =>
          v.trainable &&
          !(frozen && DINOHead.lastLayerNames.some((l) => n.endsWith(l))) &&
          !(backbone && n.startsWith('backbone.')) &&
          !(patch && n.startsWith('backbone.patch_embed.')),
      );
  }

  /** crops: 2 global batches then the local ones, each [B, S, S, 3], normalised. */
  trainStep(crops: tf.Tensor4D[]): StepResult {
    const pending = this.runStep(crops);
    let values: ArrayLike<number>;
    try {
      values = pending.scalars.dataSync();
    } catch (e) {
      Trainer.discard(pending);
      throw e;
    }
    return this.finishStep(pending, values);
  }

  /**
   * The same step, reading its reported numbers asynchronously: the form GPU backends need (tfjs's webgpu
   * backend cannot read a GPU buffer synchronously in Node); on cpu and wasm data() resolves with the copy dataSync
   * makes.
   */
  async trainStepAsync(crops: tf.Tensor4D[]): Promise<StepResult> {
    const pending = this.runStep(crops);
    let values: ArrayLike<number>;
    try {
      values = await pending.scalars.data();
    } catch (e) {
      Trainer.discard(pending);
      throw e;
    }
    return this.finishStep(pending, values);
  }

  private static discard(p: PendingStep): void {
    p.scalars.dispose();
    p.koleoKept?.dispose();
    p.ibotKept?.dispose();
    if (p.masks) tf.dispose([p.masks.mask, p.masks.rows, p.masks.weights]);
  }

  /** Everything of a step but reading its results back: the update is queued on the backend when this returns. */
  private runStep(crops: tf.Tensor4D[]): PendingStep {
    if (crops.length !== this.nCrops) throw new Error(`trainStep: expected ${this.nCrops} crop batches, got ${crops.length}`);
    const t0 = performance.now();
    const it = this.stepCount;
    const lr = this.lr(it);
    const wd = this.wd(it);
    const m = this.momentum(it);
    const temp = this.teacherTemp(it);
    const kw = this.koleoWeight(it);
    const masks = this.drawMasks(crops[0]!);

    // the KoLeo value escapes variableGrads' tidy (tf.keep) to be reported beside the DINO loss, which the collapse
    // monitors read; kept tensors outlive every tidy, so it is disposed by hand in finishStep
    let koleoKept: tf.Scalar | undefined;
    let ibotKept: tf.Scalar | undefined;
    const scalars = tf.tidy(() => {
      // in its own scope: the teacher's activations need not live through the student's forward and backward
      const t = tf.tidy(() => {
        const { logits, features, patchLogits } = this.teacher.apply(crops.slice(0, 2), undefined, masks ? { rows: masks.rows } : undefined);
        return patchLogits ? { logits, features, patchLogits } : { logits, features };
      });
      const targets = this.dinoLoss.teacherTargets(t.logits, temp);
      const masked: MaskedStep | undefined = masks
        ? {
            ...masks,
            targets: this.ibotLoss!.teacherTargets(t.patchLogits!, this.opts.ibotTeacherTemp ?? temp),
            onLoss: (l) => {
              ibotKept = tf.keep(l);
            },
          }
        : undefined;
      const entropy = tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.log(tf.add(targets, 1e-12))), 1)));
      const feats = l2Normalize(t.features);
      const std = tf.mean(tf.sqrt(tf.moments(feats, 0).variance));

      const params = this.trainableParams(it);
      const { value, grads } = variableGrads(
        () => this.studentLoss(crops, targets, kw, (k) => (koleoKept = tf.keep(k)), masked),
        params.map(([, v]) => v),
      );
      const present = params.filter(([, v]) => grads[v.name] !== undefined);
      // clipping, AdamW and the teacher's EMA in one pass per parameter (AdamW.step); the EMA of parameters
      // without a gradient (a frozen last layer, weight_g) follows
      const updates: ParamUpdate[] = present.map(([name, v]) => ({
        name,
        param: v,
        grad: grads[v.name]!,
        decay: Trainer.decays(name, v),
      }));
      const teacher = new Map(this.teacher.namedParameters());
      const emaDone = this.optimizer.step(updates, lr, wd, { clip: this.opts.clipGrad, ema: { teacher, momentum: m } });
      this.updateTeacher(m, emaDone);
      this.dinoLoss.updateCenter(t.logits);
      if (t.patchLogits) this.ibotLoss!.updateCenter(t.patchLogits);
      const koleoValue = koleoKept ?? tf.scalar(0);
      const ibotValue = ibotKept ?? tf.scalar(0);
      const dino = tf.sub(tf.sub(value, tf.mul(koleoValue, kw)), tf.mul(ibotValue, this.opts.ibotWeight ?? 0));
      return tf.stack([dino, entropy, std, koleoValue, ibotValue]) as tf.Tensor1D;
    });
    this.stepCount += 1;
    return { t0, it, lr, wd, m, temp, kw, scalars, koleoKept, ibotKept, masks: masks ?? undefined };
  }

  private finishStep(p: PendingStep, values: ArrayLike<number>): StepResult {
    const [loss, entropy, std, koleo, ibot] = Array.from(values);
    Trainer.discard(p);
    const lnK = Math.log(this.opts.model.head.outDim);
    return {
      step: p.it,
      loss: loss!,
      lr: p.lr,
      weightDecay: p.wd,
      momentum: p.m,
      teacherTemp: p.temp,
      teacherEntropy: entropy!,
      embeddingStd: std!,
      koleo: koleo!,
      koleoWeight: p.kw,
      ibot: ibot!,
      maskedTokens: p.masks ? p.masks.rows.shape[0] : 0,
      lossOverLnK: loss! / lnK,
      lnOutDim: lnK,
      healthyStd: 1 / Math.sqrt(this.opts.model.vit.embedDim),
      ms: performance.now() - p.t0,
    };
  }

  /**
   * The masks of this step's global crops (both crops of every image drawn independently, as DINOv2's collate over
   * all global crops), or null when the masked-patch objective is off or nothing was masked.
   */
  private drawMasks(globalCrop: tf.Tensor4D): { mask: tf.Tensor2D; rows: tf.Tensor1D; weights: tf.Tensor1D } | null {
    if (!this.ibotLoss) return null;
    const g = globalCrop.shape[1] / this.opts.model.vit.patchSize;
    const m = this.masking.sample(2 * globalCrop.shape[0], g, this.maskRng);
    const rows: number[] = [];
    m.mask.forEach((v, i) => {
      if (v) rows.push(i);
    });
    if (rows.length === 0) return null;
    return {
      mask: tf.tensor2d(m.mask, [m.images, g * g]),
      rows: tf.tensor1d(rows, 'int32'),
      weights: tf.tensor1d(IBOTPatchLoss.tokenWeights(m.counts)),
    };
  }

  /** The mask generator's position, for checkpoints. */
  maskState(): number {
    return this.maskRng.getState();
  }

  setMaskState(state: number): void {
    this.maskRng.setState(state);
  }

  /**
   * DINO loss of the student on all crops, plus KoLeo with weight w on each global crop batch's CLS when w is not 0,
   * plus the masked-patch loss with weight ibotWeight when `masked` is given (the global crops are then masked for
   * both losses, as iBOT); onKoleo and masked.onLoss receive the unweighted terms.
   */
  studentLoss(crops: tf.Tensor4D[], targets: tf.Tensor2D, w: number, onKoleo?: (koleo: tf.Scalar) => void, masked?: MaskedStep): tf.Scalar {
    return tf.tidy(() => {
      const s = this.student.apply(crops, { rate: this.opts.dropPathRate ?? 0, rng: this.dropPathRng }, masked && { mask: masked.mask, rows: masked.rows });
      let dino = this.dinoLoss.lossFromTargets(s.logits, targets);
      if (masked) {
        const patch = this.ibotLoss!.lossFromTargets(s.patchLogits!, masked.targets, masked.weights);
        masked.onLoss(patch);
        dino = tf.add(dino, tf.mul(patch, this.opts.ibotWeight ?? 0));
      }
      const B = crops[0]!.shape[0];
      if (w === 0 || B < 2) return dino; // a nearest neighbour needs two images
      let reg = tf.scalar(0);
      for (let g = 0; g < this.dinoLoss.nGlobal; g++) {
        reg = tf.add(reg, this.koleo.apply(tf.slice(s.features, [g * B, 0], [B, -1])));
      }
      onKoleo?.(reg);
      return tf.add(dino, tf.mul(reg, w)) as tf.Scalar;
    });
  }

  /** teacher = m * teacher + (1 - m) * student, parameter by parameter (official EMA), except the names in `skip`. */
  updateTeacher(m: number, skip: ReadonlySet<string> = new Set()): void {
    const student = new Map(this.student.namedParameters());
    tf.tidy(() => {
      for (const [name, tv] of this.teacher.namedParameters()) {
        if (!skip.has(name)) tv.assign(emaUpdate(tv, student.get(name)!, m));
      }
    });
  }

  /** Everything needed to continue exactly: weights, optimiser moments and counts, centre, step. */
  getState(): TrainerState {
    const tensors = new Map<string, tf.Tensor>();
    for (const [n, v] of this.student.namedParameters()) tensors.set(`student.${n}`, v);
    for (const [n, v] of this.teacher.namedParameters()) tensors.set(`teacher.${n}`, v);
    const optimizerSteps: Record<string, number> = {};
    for (const [n, s] of this.optimizer.slots) {
      tensors.set(`adamw.m.${n}`, s.m);
      tensors.set(`adamw.v.${n}`, s.v);
      optimizerSteps[n] = s.t;
    }
    tensors.set('dino_loss.center', this.dinoLoss.center);
    if (this.ibotLoss) tensors.set('ibot_loss.center', this.ibotLoss.center);
    return { step: this.stepCount, tensors, optimizerSteps };
  }

  /** Restore a state produced by getState (values are copied; the caller keeps ownership of `state`). */
  loadState(state: { step: number; tensors: Map<string, tf.Tensor>; optimizerSteps: Record<string, number> }): void {
    const take = (key: string, into: tf.Variable) => {
      const t = state.tensors.get(key);
      if (!t && isOptionalTrainerState(key)) return;
      if (!t) throw new Error(`checkpoint is missing tensor "${key}"`);
      if (t.shape.join('x') !== into.shape.join('x')) {
        throw new Error(`checkpoint tensor "${key}" has shape [${t.shape}], the model expects [${into.shape}]`);
      }
      into.assign(t);
    };
    for (const [n, v] of this.student.namedParameters()) take(`student.${n}`, v);
    for (const [n, v] of this.teacher.namedParameters()) take(`teacher.${n}`, v);
    take('dino_loss.center', this.dinoLoss.center);
    if (this.ibotLoss) take('ibot_loss.center', this.ibotLoss.center);
    this.optimizer.dispose();
    const params = new Map(this.student.namedParameters());
    for (const [n, t] of Object.entries(state.optimizerSteps)) {
      const p = params.get(n);
      if (!p) throw new Error(`checkpoint has optimiser state for unknown parameter "${n}"`);
      const slot = { m: variableFrom(tf.zerosLike(p)), v: variableFrom(tf.zerosLike(p)), t };
      take(`adamw.m.${n}`, slot.m);
      take(`adamw.v.${n}`, slot.v);
      this.optimizer.slots.set(n, slot);
    }
    this.stepCount = state.step;
  }

  dispose(): void {
    this.student.dispose();
    this.teacher.dispose();
    this.dinoLoss.dispose();
    this.ibotLoss?.dispose();
    this.optimizer.dispose();
  }
}
