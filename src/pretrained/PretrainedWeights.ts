import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from './Safetensors';
import { TorchTensor, readTorchFile } from './TorchFile';
import { PyDict, type PyValue } from './Unpickler';
import { WeightLayoutError, list, mapDino, mapHfDinov2, type Layout, type MappedStateDict, type MappedTensor, type SourceTensor } from './officialLayouts';
import type { HeadConfig, ModelConfig, PosEmbedInterpolation, ViTConfig } from '../model/modelSizes';
import { MODEL_SIZES } from '../model/modelSizes';
import type { Module } from '../model/Module';

/** The architecture a weight file implies (the number of heads it cannot tell: it comes from the model preset). */
export interface PretrainedArch {
  vit: Omit<ViTConfig, 'numHeads'>;
  /** Present when the file has a DINO head (a full training checkpoint). */
  head?: HeadConfig;
}

export interface PretrainedWeights {
  file: string;
  format: 'pth' | 'safetensors';
  layout: Layout;
  arch: PretrainedArch;
  /** Our names (`backbone.*`, `head.*`) for the student; the teacher's are the same map unless the file has both. */
  student: Map<string, MappedTensor>;
  teacher: Map<string, MappedTensor>;
  ignored: string[];
}

/** A weight file that cannot initialise the model: the user's to fix (the CLI prints it and exits 2). */
export class PretrainedError extends Error {
  constructor(file: string, message: string) {
    super(`--init ${file}: ${message}`);
    this.name = 'PretrainedError';
  }
}

/** Read a .pth / .pt (torch.save) or .safetensors file and map it onto our names; reads no tensor values yet. */
export function readPretrained(file: string): PretrainedWeights {
  const fail = (m: string) => new PretrainedError(file, m);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw fail(`cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const safetensors = buf.length > 9 && buf[8] === 0x7b; // '{' after the 8-byte header length
    const dicts = safetensors ? { student: asSource(readSafetensors(buf)) } : stateDicts(readTorchFile(buf));
    const layout: Layout = [...dicts.student.keys()].some((k) => /^(dinov2\.)?(embeddings|encoder)\./.test(k)) ? 'hf-dinov2' : 'dino';
    const map = layout === 'hf-dinov2' ? mapHfDinov2 : mapDino;
    const student = map(dicts.student);
    const teacher = dicts.teacher ? map(dicts.teacher) : student;
    const arch = inferArch(student, layout);
    if (teacher !== student) sameKeys(student.tensors, teacher.tensors);
    return { file, format: safetensors ? 'safetensors' : 'pth', layout, arch, student: student.tensors, teacher: teacher.tensors, ignored: student.ignored };
  } catch (e) {
    if (e instanceof PretrainedError) throw e;
    throw fail((e as Error).message);
  }
}

function asSource(m: Map<string, { shape: number[]; read(): Float32Array }>): Map<string, SourceTensor> {
  return new Map([...m].map(([k, t]) => [k, { shape: t.shape, read: () => t.read() }]));
}

/** The state dict(s) of a torch.save object: a plain one, a `state_dict`/`model` entry, or DINO's student and teacher. */
function stateDicts(obj: PyValue): { student: Map<string, SourceTensor>; teacher?: Map<string, SourceTensor> } {
  if (!(obj instanceof PyDict)) throw new WeightLayoutError('the file holds no dict of tensors');
  const tensors = (d: PyValue, where: string): Map<string, SourceTensor> => {
    if (!(d instanceof PyDict)) throw new WeightLayoutError(`${where} is not a dict of tensors`);
    const out = new Map<string, SourceTensor>();
    for (const [k, v] of d.map) {
      if (!(v instanceof TorchTensor)) throw new WeightLayoutError(`${where}["${String(k)}"] is not a tensor`);
      const name = String(k);
      out.set(name, { shape: v.shape, read: () => v.data(name).read() });
    }
    return out;
  };
  const s = obj.get('student');
  const t = obj.get('teacher');
  if (s instanceof PyDict || t instanceof PyDict) {
    const student = tensors(s ?? t!, s ? 'student' : 'teacher');
    return { student, teacher: s && t ? tensors(t, 'teacher') : undefined };
  }
  for (const key of ['state_dict', 'model']) if (obj.get(key) instanceof PyDict) return { student: tensors(obj.get(key)!, key) };
  return { student: tensors(obj, 'the file') };
}

function sameKeys(a: Map<string, MappedTensor>, b: Map<string, MappedTensor>): void {
  const diff = [...a.keys()].filter((k) => b.get(k)?.shape.join() !== a.get(k)!.shape.join());
  if (diff.length) throw new WeightLayoutError(`student and teacher differ in ${list(diff)}`);
}

function need(m: Map<string, MappedTensor>, key: string): number[] {
  const t = m.get(key);
  if (!t) throw new WeightLayoutError(`no ${key.replace(/^backbone\./, '')} (a ViT needs one)`);
  return t.shape;
}

function inferArch(sd: MappedStateDict, layout: Layout): PretrainedArch {
  const m = sd.tensors;
  const [pp3, D] = need(m, 'backbone.patch_embed.proj.weight') as [number, number];
  const p = Math.round(Math.sqrt(pp3 / 3));
  const blocks = new Set([...m.keys()].map((k) => /^backbone\.blocks\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined).map(Number));
  const depth = blocks.size;
  if (depth === 0 || Math.max(...blocks) !== depth - 1) throw new WeightLayoutError(`blocks are not numbered 0..${depth - 1}`);
  const hidden = need(m, 'backbone.blocks.0.mlp.fc1.weight')[1]!;
  if (!m.has('backbone.blocks.0.attn.qkv.bias')) throw new WeightLayoutError('attention without qkv bias, which this ViT does not have');
  const pos = need(m, 'backbone.pos_embed');
  const g0 = Math.round(Math.sqrt(pos[1]! - 1));
  if (g0 * g0 !== pos[1]! - 1) throw new WeightLayoutError(`pos_embed has ${pos[1]! - 1} patch positions, not a square grid`);
  const registers = m.get('backbone.register_tokens')?.shape[1] ?? 0;
  const vit: PretrainedArch['vit'] = { patchSize: p, embedDim: D, depth, mlpRatio: hidden / D, imgSize: g0 * p };
  // DINOv2 trains LayerScale from 1e-5; the value only matters for a fresh model, the file's vectors replace it
  if (m.has('backbone.blocks.0.ls1.gamma')) vit.layerScale = 1e-5;
  if (registers > 0) vit.numRegisterTokens = registers;
  const interp: PosEmbedInterpolation = layout === 'dino' ? 'offset' : registers > 0 ? 'size-antialias' : 'size';
  if (interp !== 'offset') vit.posEmbedInterpolation = interp;
  const heads = [...m.keys()].filter((k) => /^head\.mlp\.\d+\.weight$/.test(k)).sort((a, b) => layerIndex(a) - layerIndex(b));
  if (heads.length === 0) return { vit };
  const v = need(m, 'head.last_layer.weight_v') as [number, number];
  const g = m.get('head.last_layer.weight_g');
  const head: HeadConfig = {
    hiddenDim: m.get(heads[0]!)!.shape[1]!,
    bottleneckDim: v[0],
    outDim: v[1],
    nlayers: heads.length,
    // the official norm_last_layer fills weight_g with 1 and never trains it
    normLastLayer: !g || g.read().every((x) => x === 1),
  };
  return { vit, head };
}

const layerIndex = (k: string) => Number(/mlp\.(\d+)/.exec(k)![1]);

const CORE: (keyof PretrainedArch['vit'])[] = ['patchSize', 'embedDim', 'depth', 'mlpRatio'];

/**
 * The model to build for these weights: the preset's crops and number of heads, the file's ViT (its position grid,
 * LayerScale, registers) and, when it has one, its head. A preset of another shape is refused, naming the preset
 * that fits if there is one.
 */
export function modelForWeights(model: ModelConfig, w: PretrainedWeights, presetName: string): ModelConfig {
  const differ = CORE.filter((k) => model.vit[k] !== w.arch.vit[k]);
  if (differ.length) {
    const fits = Object.entries(MODEL_SIZES).filter(([, m]) => CORE.every((k) => (m.vit as ViTConfig)[k] === w.arch.vit[k])).map(([n]) => n);
    const what = differ.map((k) => `${k} ${w.arch.vit[k]} (model ${presetName}: ${model.vit[k]})`).join(', ');
    throw new PretrainedError(w.file, `the file is a ViT with ${what}; ${fits.length ? `use --model ${fits.join(' or ')}` : 'no model preset has that shape'}`);
  }
  if (w.arch.vit.embedDim % model.vit.numHeads !== 0) throw new PretrainedError(w.file, `embedDim ${w.arch.vit.embedDim} is not divisible by ${model.vit.numHeads} heads`);
  return { ...model, vit: { ...w.arch.vit, numHeads: model.vit.numHeads }, head: w.arch.head ?? model.head };
}

/**
 * Copy the weights into modules built by modelForWeights, all or nothing: every name and shape is checked and every
 * value decoded before the first one is assigned. A head the file does not have keeps its fresh initialisation.
 */
export function loadWeights(w: PretrainedWeights, targets: { module: Module; tensors: 'student' | 'teacher' }[]): void {
  const plans = targets.map(({ module, tensors }) => plan(w, module, w[tensors]));
  const values = plans.map((p) => p.map(([v, t]) => [v, t.read()] as const));
  for (const vs of values) for (const [v, data] of vs) tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
}

function plan(w: PretrainedWeights, module: Module, tensors: Map<string, MappedTensor>): [tf.Variable, MappedTensor][] {
  const hasHead = [...tensors.keys()].some((k) => k.startsWith('head.'));
  const params = module.namedParameters().filter(([n]) => hasHead || !n.startsWith('head.'));
  const missing: string[] = [];
  const shapes: string[] = [];
  const out: [tf.Variable, MappedTensor][] = [];
  for (const [name, v] of params) {
    const t = tensors.get(name);
    // the mask token only serves the masked-patch objective: it keeps its zeros (iBOT's init) when a file has none
    if (!t && name === 'backbone.mask_token') continue;
    if (!t) missing.push(name);
    else if (t.shape.join() !== v.shape.join()) shapes.push(`${name} [${t.shape}] (model [${v.shape}])`);
    else out.push([v, t]);
  }
  const known = new Set(params.map(([n]) => n));
  const unknown = [...tensors.keys()].filter((k) => !known.has(k));
  const problems = [
    missing.length ? `missing ${list(missing)}` : '',
    shapes.length ? `shapes differ: ${list(shapes)}` : '',
    unknown.length ? `not in the model: ${list(unknown)}` : '',
  ].filter(Boolean);
  if (problems.length) throw new PretrainedError(w.file, `does not fit the model (nothing was loaded): ${problems.join('; ')}`);
  return out;
}

/** One line for the log: what the file is and what was taken from it. */
export function describeWeights(w: PretrainedWeights): string {
  const v = w.arch.vit;
  const extras = [v.layerScale !== undefined ? 'LayerScale' : '', v.numRegisterTokens ? `${v.numRegisterTokens} registers` : ''].filter(Boolean);
  const head = w.arch.head ? `with its DINO head (${w.arch.head.outDim} prototypes)` : 'backbone only (a fresh head)';
  const two = w.student !== w.teacher ? ', student and teacher' : '';
  return `${path.basename(w.file)}: ${w.layout === 'hf-dinov2' ? 'Hugging Face DINOv2' : 'DINO'} ${w.format}, ViT patch ${v.patchSize}, dim ${v.embedDim}, depth ${v.depth}, position grid ${v.imgSize / v.patchSize}${extras.length ? `, ${extras.join(', ')}` : ''}; ${head}${two}${w.ignored.length ? `; unused: ${list(w.ignored)}` : ''}`;
}
