/**
 * The official key layouts of DINO and DINOv2 weights, mapped onto our parameter names (which are DINO's own, with
 * nn.Linear weights stored [in, out] and the patch convolution as a patchify matmul). Any key that is not part of a
 * layout is refused by name: a file of another model must not half-load.
 */

/** A tensor of the file under our name and in our layout; `read` decodes and rearranges it when asked. */
export interface MappedTensor {
  shape: number[];
  read(): Float32Array;
}

/** A tensor as the file holds it. */
export interface SourceTensor {
  shape: number[];
  read(): Float32Array;
}

export type Layout = 'dino' | 'hf-dinov2';

export interface MappedStateDict {
  /** Our names: `backbone.<...>` and, when the file has a DINO head, `head.<...>`. */
  tensors: Map<string, MappedTensor>;
  /** Keys that are known but carry nothing our model uses (mask token, a classifier). */
  ignored: string[];
}

export class WeightLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightLayoutError';
  }
}

/** nn.Linear weight [out, in] -> ours [in, out]. */
function transposed(t: SourceTensor): MappedTensor {
  const [o, i] = t.shape as [number, number];
  return {
    shape: [i, o],
    read: () => {
      const v = t.read();
      const out = new Float32Array(v.length);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) out[c * o + r] = v[r * i + c]!;
      return out;
    },
  };
}

/** Conv2d weight [D, 3, p, p] -> ours [(row, col, channel), D]. */
function patchConv(t: SourceTensor): MappedTensor {
  const [D, C, p, q] = t.shape as [number, number, number, number];
  if (t.shape.length !== 4 || p !== q) throw new WeightLayoutError(`patch embedding weight has shape [${t.shape}], expected [D, 3, p, p]`);
  return {
    shape: [p * p * C, D],
    read: () => {
      const v = t.read();
      const out = new Float32Array(v.length);
      for (let d = 0; d < D; d++) {
        for (let c = 0; c < C; c++) for (let r = 0; r < p; r++) for (let s = 0; s < p; s++) out[((r * p + s) * C + c) * D + d] = v[((d * C + c) * p + r) * p + s]!;
      }
      return out;
    },
  };
}

const same = (t: SourceTensor): MappedTensor => t;
const flat = (t: SourceTensor): MappedTensor => ({ shape: [t.shape.reduce((a, b) => a * b, 1)], read: () => t.read() });

function check(t: SourceTensor, rank: number, key: string): SourceTensor {
  if (t.shape.length !== rank) throw new WeightLayoutError(`"${key}" has shape [${t.shape}], expected ${rank} dimensions`);
  return t;
}

/** Our name and layout for one key of a DINO head (`mlp.N.*`, `last_layer.weight_v/_g`), or null. */
function headKey(rest: string, t: SourceTensor, key: string): [string, MappedTensor] | null {
  let m = /^mlp\.(\d+)\.(weight|bias)$/.exec(rest);
  if (m) return [`head.mlp.${m[1]}.${m[2]}`, m[2] === 'weight' ? transposed(check(t, 2, key)) : same(t)];
  m = /^last_layer\.weight_(v|g)$/.exec(rest);
  if (m) return [`head.last_layer.weight_${m[1]}`, m[1] === 'v' ? transposed(check(t, 2, key)) : flat(t)];
  return null;
}

/**
 * facebookresearch/dino and /dinov2 state dicts (backbone-only files, or a full checkpoint's `student`/`teacher`
 * with `module.` and `backbone.`/`head.` prefixes; DINOv2's chunked blocks): the names are ours already; Linear and
 * conv weights change layout.
 */
export function mapDino(sd: Map<string, SourceTensor>): MappedStateDict {
  const tensors = new Map<string, MappedTensor>();
  const ignored: string[] = [];
  const unknown: string[] = [];
  const hasDinoHead = [...sd.keys()].some((k) => /(^|\.)head\.(mlp|last_layer)\./.test(k));
  for (const [key, t] of sd) {
    let k = key.replace(/^module\./, '');
    if (k.startsWith('head.') && hasDinoHead) {
      const h = headKey(k.slice(5), t, key);
      if (h) tensors.set(h[0], h[1]);
      else unknown.push(key);
      continue;
    }
    // DINOv2's training checkpoints group blocks in chunks (blocks.<chunk>.<block>., the block index global)
    k = k.replace(/^backbone\./, '').replace(/^blocks\.\d+\.(\d+)\./, 'blocks.$1.');
    let m: RegExpExecArray | null;
    if (['cls_token', 'pos_embed', 'register_tokens', 'norm.weight', 'norm.bias', 'patch_embed.proj.bias'].includes(k)) tensors.set(`backbone.${k}`, same(t));
    else if (k === 'patch_embed.proj.weight') tensors.set(`backbone.${k}`, patchConv(t));
    else if (k === 'mask_token' || (!hasDinoHead && /^head\.(weight|bias)$/.test(k))) ignored.push(key);
    else if ((m = /^blocks\.(\d+)\.(attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)$/.exec(k))) {
      tensors.set(`backbone.${k}`, m[3] === 'weight' ? transposed(check(t, 2, key)) : same(t));
    } else if (/^blocks\.\d+\.(norm1|norm2)\.(weight|bias)$/.test(k) || /^blocks\.\d+\.ls[12]\.gamma$/.test(k)) tensors.set(`backbone.${k}`, same(t));
    else unknown.push(key);
  }
  if (unknown.length) throw new WeightLayoutError(`keys that are not part of a DINO ViT or DINOHead: ${list(unknown)}`);
  return { tensors, ignored };
}

/** Hugging Face Dinov2Model / Dinov2WithRegistersModel (facebook/dinov2-*): separate q, k, v; LayerScale lambda1. */
export function mapHfDinov2(sd: Map<string, SourceTensor>): MappedStateDict {
  const tensors = new Map<string, MappedTensor>();
  const ignored: string[] = [];
  const unknown: string[] = [];
  const qkv = new Map<string, Partial<Record<'query' | 'key' | 'value', SourceTensor>>>();
  const direct: Record<string, string> = {
    'embeddings.cls_token': 'cls_token',
    'embeddings.position_embeddings': 'pos_embed',
    'embeddings.register_tokens': 'register_tokens',
    'embeddings.patch_embeddings.projection.bias': 'patch_embed.proj.bias',
    'layernorm.weight': 'norm.weight',
    'layernorm.bias': 'norm.bias',
  };
  for (const [key, t] of sd) {
    const k = key.replace(/^dinov2\./, '');
    let m: RegExpExecArray | null;
    if (direct[k]) tensors.set(`backbone.${direct[k]}`, same(t));
    else if (k === 'embeddings.patch_embeddings.projection.weight') tensors.set('backbone.patch_embed.proj.weight', patchConv(t));
    else if (k === 'embeddings.mask_token' || k.startsWith('classifier.')) ignored.push(key);
    else if ((m = /^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(k))) {
      const slot = `${m[1]}.${m[3]}`;
      qkv.set(slot, { ...qkv.get(slot), [m[2]!]: t });
    } else if ((m = /^encoder\.layer\.(\d+)\.(norm1|norm2)\.(weight|bias)$/.exec(k))) tensors.set(`backbone.blocks.${m[1]}.${m[2]}.${m[3]}`, same(t));
    else if ((m = /^encoder\.layer\.(\d+)\.layer_scale([12])\.lambda1$/.exec(k))) tensors.set(`backbone.blocks.${m[1]}.ls${m[2]}.gamma`, same(t));
    else if ((m = /^encoder\.layer\.(\d+)\.(attention\.output\.dense|mlp\.fc1|mlp\.fc2)\.(weight|bias)$/.exec(k))) {
      const ours = m[2] === 'attention.output.dense' ? 'attn.proj' : m[2];
      tensors.set(`backbone.blocks.${m[1]}.${ours}.${m[3]}`, m[3] === 'weight' ? transposed(check(t, 2, key)) : same(t));
    } else if (/^encoder\.layer\.\d+\.mlp\.weights_(in|out)\./.test(k)) {
      throw new WeightLayoutError(`"${key}": a SwiGLU MLP (DINOv2 giant), which this ViT does not have`);
    } else unknown.push(key);
  }
  if (unknown.length) throw new WeightLayoutError(`keys that are not part of a Hugging Face DINOv2 model: ${list(unknown)}`);
  for (const [slot, parts] of qkv) {
    const [layer, kind] = slot.split('.') as [string, 'weight' | 'bias'];
    const missing = (['query', 'key', 'value'] as const).filter((p) => !parts[p]);
    if (missing.length) throw new WeightLayoutError(`layer ${layer} has no attention ${missing.join(', ')} ${kind}`);
    const [q, kk, v] = [parts.query!, parts.key!, parts.value!];
    // our packed qkv Linear: output units q (all heads), then k, then v, exactly the three Linears side by side
    const packed: SourceTensor = {
      shape: kind === 'weight' ? [3 * q.shape[0]!, q.shape[1]!] : [3 * q.shape[0]!],
      read: () => {
        const parts3 = [q.read(), kk.read(), v.read()];
        const out = new Float32Array(parts3.reduce((n, a) => n + a.length, 0));
        parts3.reduce((o, a) => (out.set(a, o), o + a.length), 0);
        return out;
      },
    };
    if ([q, kk, v].some((x) => x.shape.join() !== q.shape.join())) throw new WeightLayoutError(`layer ${layer}: query, key and value ${kind}s differ in shape`);
    tensors.set(`backbone.blocks.${layer}.attn.qkv.${kind}`, kind === 'weight' ? transposed(check(packed, 2, `layer ${layer} qkv`)) : packed);
  }
  return { tensors, ignored };
}

export function list(keys: string[], max = 12): string {
  return keys.length <= max ? keys.join(', ') : `${keys.slice(0, max).join(', ')} and ${keys.length - max} more`;
}
