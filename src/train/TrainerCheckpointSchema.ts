import { z } from 'zod';
import { CheckpointError } from './Checkpoint';
import { firstIssue } from './CheckpointHeader';
import type { LoadedCheckpoint } from './CheckpointStore';
import { CENTERINGS } from './DINOLoss';
import { KOLEO_SCHEDULES, type TrainerOptions } from './TrainerOptions';
import { POS_EMBED_KINDS } from '../model/modelSizes';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const finite = z.number().finite();
const fraction = z.number().min(0).max(1);
const range = z.tuple([fraction, fraction]);

/**
 * TrainerOptions as a checkpoint records them. The bounds are far beyond any model this agent trains on a CPU,
 * and they keep a header from describing one that cannot be built; unknown fields pass through (a later version
 * may add some).
 */
const modelSchema = z.object({
  vit: z.looseObject({
    patchSize: int(1, 64),
    embedDim: int(1, 8192),
    depth: int(1, 128),
    numHeads: int(1, 256),
    mlpRatio: z.number().positive().max(64),
    imgSize: int(1, 4096),
    stem: z.array(int(1, 8192)).min(1).max(6).optional(),
    posEmbed: z.enum(POS_EMBED_KINDS).optional(),
  }),
  head: z.looseObject({
    hiddenDim: int(1, 65536),
    bottleneckDim: int(1, 65536),
    outDim: int(1, 1 << 20),
    nlayers: int(1, 16),
    normLastLayer: z.boolean(),
  }),
  crops: z.looseObject({
    globalSize: int(1, 4096),
    localSize: int(1, 4096),
    nLocal: int(0, 256),
    globalScale: range,
    localScale: range,
    jitterStrength: z.number().min(0).max(100).optional(),
    grayscaleP: fraction.optional(),
  }),
});

export const trainerOptionsSchema = z.looseObject({
  model: modelSchema,
  batchSize: int(1, 1 << 16),
  baseLr: finite,
  minLr: finite,
  warmupSteps: int(0, Number.MAX_SAFE_INTEGER),
  totalSteps: int(1, Number.MAX_SAFE_INTEGER),
  weightDecay: finite,
  weightDecayEnd: finite,
  momentumTeacher: fraction,
  momentumTeacherEnd: fraction.optional(),
  warmupTeacherTemp: z.number().positive().finite(),
  teacherTemp: z.number().positive().finite(),
  warmupTeacherTempSteps: int(0, Number.MAX_SAFE_INTEGER),
  studentTemp: z.number().positive().finite(),
  centerMomentum: fraction,
  centering: z.enum(CENTERINGS),
  clipGrad: z.number().min(0).finite(),
  freezeLastLayerSteps: int(0, Number.MAX_SAFE_INTEGER),
  koleoWeight: z.number().min(0).finite().optional(),
  koleoSchedule: z.enum(KOLEO_SCHEDULES).optional(),
  dropPathRate: z.number().min(0).lt(1).optional(),
  seed: int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
}) satisfies z.ZodType<TrainerOptions>;

const trainerMetaSchema = z.looseObject({
  trainer: trainerOptionsSchema,
  optimizerSteps: z.record(z.string(), int(0, Number.MAX_SAFE_INTEGER)).optional(),
  extra: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The size checks of the model a checkpoint describes against the tensors it stores: every dimension that sizes a
 * parameter must be the one the stored student has. A header can then not ask for a model (or a head of
 * `outDim` prototypes) larger than the file.
 */
function modelShapeProblem(opts: TrainerOptions, tensors: LoadedCheckpoint['tensors']): string | null {
  const { vit, head } = opts.model;
  if (vit.imgSize % vit.patchSize !== 0) return `model.vit.imgSize ${vit.imgSize} is not a multiple of patchSize ${vit.patchSize}`;
  if (vit.embedDim % vit.numHeads !== 0) return `model.vit.embedDim ${vit.embedDim} is not divisible by numHeads ${vit.numHeads}`;
  const D = vit.embedDim;
  const grid = vit.imgSize / vit.patchSize;
  const headDims = head.nlayers === 1 ? [D, head.bottleneckDim] : [D, head.hiddenDim, head.bottleneckDim];
  const stem = vit.stem;
  if (stem && 2 ** stem.length !== vit.patchSize) return `model.vit.stem of ${stem.length} stride-2 convolutions does not make patchSize ${vit.patchSize}`;
  // the tokenizer: a convolutional stem (3x3 convolutions, then a 1x1 to D) or the official patch embedding
  const tokenizer: [string, number[]][] = stem
    ? [...stem.map((c, i): [string, number[]] => [`backbone.stem.convs.${i}.weight`, [9 * (i === 0 ? 3 : stem[i - 1]!), c]]), ['backbone.stem.proj.weight', [stem[stem.length - 1]!, D]]]
    : [['backbone.patch_embed.proj.weight', [vit.patchSize * vit.patchSize * 3, D]]];
  const expected: [string, number[]][] = [
    ...tokenizer,
    ['backbone.pos_embed', [1, 1 + grid * grid, D]],
    [`backbone.blocks.${vit.depth - 1}.norm1.weight`, [D]],
    ['backbone.blocks.0.mlp.fc1.weight', [D, Math.round(D * vit.mlpRatio)]],
    ['head.mlp.0.weight', headDims.slice(0, 2)],
    [`head.mlp.${2 * (head.nlayers - 1)}.weight`, headDims.slice(-2)],
    ['head.last_layer.weight_v', [head.bottleneckDim, head.outDim]],
  ];
  for (const [name, shape] of expected) {
    const t = tensors.get(`student.${name}`);
    if (!t) return `the header describes a model with student.${name} [${shape}], the file holds no such tensor`;
    if (t.shape.join('x') !== shape.join('x')) return `the header describes student.${name} as [${shape}], the file holds [${t.shape}]`;
  }
  if (tensors.has(`student.backbone.blocks.${vit.depth}.norm1.weight`)) return `the header says depth ${vit.depth}, the file holds more blocks`;
  return null;
}

/**
 * The trainer's checks of a decoded checkpoint (CheckpointStore's `validate`): its metadata against the schema,
 * the model it describes against the tensors stored. Throws CheckpointError.
 */
export function validateTrainerCheckpoint(ckpt: LoadedCheckpoint): void {
  const parsed = trainerMetaSchema.safeParse(ckpt.header.meta);
  if (!parsed.success) throw new CheckpointError(ckpt.file, `invalid trainer metadata: ${firstIssue(parsed.error, 'meta')}`);
  const problem = modelShapeProblem(parsed.data.trainer, ckpt.tensors);
  if (problem) throw new CheckpointError(ckpt.file, problem);
}
