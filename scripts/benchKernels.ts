/**
 * Kernel benchmark at the bench-tiny shapes (batch 32: 2 global crops 64px + 4 local 32px, patch 8 -> 65 and
 * 17 tokens; dim 192, 3 heads, MLP 768). Each configuration runs in its own child process (the wasm thread
 * count is fixed at backend init): stock wasm with 1 XNNPACK thread, threaded wasm, and wasm + native kernels.
 * Prints ms (median after warm-up) and GFLOPS per kernel.
 *
 *   npm run bench:kernels [-- --runs 9] [-- --modes wasm1,native] [-- --json out.json]
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';

import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../src/backend/selectBackend';
import { median } from '../src/util/median';

type Mode = 'wasm1' | 'wasmT' | 'native';
const MODES: Record<Mode, { label: string; opts: Parameters<typeof selectBackend>[0] }> = {
  wasm1: { label: 'wasm 1 thread', opts: { backend: 'wasm', threads: 1, native: false } },
  wasmT: { label: 'wasm threaded', opts: { backend: 'wasm', native: false } },
  native: { label: 'native', opts: { backend: 'wasm', native: true } },
};

interface Case {
  name: string;
  shape: string;
  flops: number | null;
  /** Builds inputs once; returns the timed body (outputs are disposed by the harness). */
  make(native: boolean): () => tf.TensorContainer;
}

const D = 192, H = 3, HD = 64, MLP = 768;
const G_TOK = 64 * 65; // 2 global crops x 32 images x 65 tokens
const L_TOK = 128 * 17; // 4 local crops x 32 images x 17 tokens

const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', 7);
const kernel = (name: string, inputs: tf.NamedTensorMap, attrs: object = {}) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];

function matmul(M: number, K: number, N: number, tA: boolean, tB: boolean, bias = false, label = ''): Case {
  return {
    name: `matMul${bias ? '+bias' : ''}${tA ? ' tA' : ''}${tB ? ' tB' : ''}${label ? ` (${label})` : ''}`,
    shape: `[${M},${K}]x[${K},${N}]`,
    flops: 2 * M * N * K,
    make: () => {
      const a = randn(tA ? [K, M] : [M, K]), b = randn(tB ? [N, K] : [K, N]), c = randn([N]);
      return bias
        ? () => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: tA, transposeB: tB, bias: c })
        : () => tf.matMul(a, b, tA, tB);
    },
  };
}

const geluComposite = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));

function layerNormComposite(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), g), b);
}

function attentionComposite(qkv: tf.Tensor, B: number, T: number) {
  const r = tf.transpose(tf.reshape(qkv, [B, T, 3, H, HD]), [2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(r, 0);
  const probs = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HD)));
  return tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [B * T, D]);
}

function elementwise(name: string, n: number, rows: number, body: (native: boolean, x: tf.Tensor) => tf.TensorContainer): Case {
  return {
    name, shape: `[${rows},${n / rows}]`, flops: null,
    make: (native) => {
      const x = randn([rows, n / rows]);
      return () => body(native, x);
    },
  };
}

function attention(B: number, T: number, backward: boolean): Case {
  const attrs = { batch: B, tokens: T, heads: H, scale: 1 / Math.sqrt(HD) };
  return {
    name: backward ? 'attention fwd+bwd' : 'attention fwd',
    shape: `B=${B} T=${T} H=${H} hd=${HD}`,
    flops: (backward ? 3 : 1) * 4 * B * H * T * T * HD,
    make: (native) => {
      const qkv = randn([B * T, 3 * D]), dout = randn([B * T, D]);
      if (!backward) return native ? () => kernel('DinoAttention', { qkv }, attrs) : () => attentionComposite(qkv, B, T);
      if (native) {
        return () => {
          const [out, probs] = kernel('DinoAttention', { qkv }, attrs) as tf.Tensor[];
          return [out, kernel('DinoAttentionGrad', { dout, qkv, probs }, attrs)];
        };
      }
      return () => tf.grad((x: tf.Tensor) => attentionComposite(x, B, T))(qkv, dout);
    },
  };
}

function cases(): Case[] {
  const ln = (backward: boolean): Case => ({
    name: backward ? 'layerNorm fwd+bwd' : 'layerNorm fwd', shape: `[${G_TOK},${D}]`, flops: null,
    make: (native) => {
      const x = randn([G_TOK, D]), g = tf.ones([D]), b = tf.zeros([D]), dy = randn([G_TOK, D]);
      if (native && !backward) return () => kernel('DinoLayerNorm', { x, gamma: g, beta: b }, { epsilon: 1e-6 });
      if (native) {
        return () => {
          const [y, mean, rstd] = kernel('DinoLayerNorm', { x, gamma: g, beta: b }, { epsilon: 1e-6 }) as tf.Tensor[];
          return [y, kernel('DinoLayerNormGrad', { dy, x, gamma: g, mean, rstd })];
        };
      }
      if (!backward) return () => layerNormComposite(x, g, b);
      return () => tf.grads((a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => layerNormComposite(a, c, e))([x, g, b], dy);
    },
  });
  return [
    matmul(G_TOK, D, 3 * D, false, false, true, 'qkv'),
    matmul(G_TOK, D, D, false, false, true, 'proj'),
    matmul(G_TOK, D, MLP, false, false, true, 'fc1'),
    matmul(G_TOK, MLP, D, false, false, true, 'fc2'),
    matmul(L_TOK, D, 3 * D, false, false, true, 'qkv local'),
    matmul(3 * D, G_TOK, D, true, false, false, 'dW qkv'),
    matmul(MLP, G_TOK, D, true, false, false, 'dW fc2'),
    matmul(D, G_TOK, MLP, true, false, false, 'dW fc1'),
    matmul(G_TOK, 3 * D, D, false, true, false, 'dX qkv'),
    matmul(G_TOK, MLP, D, false, true, false, 'dX fc1'),
    matmul(G_TOK, D, MLP, false, true, false, 'dX fc2'),
    attention(64, 65, false),
    attention(128, 17, false),
    attention(64, 65, true),
    attention(128, 17, true),
    elementwise('gelu fwd', G_TOK * MLP, G_TOK, (n, x) => (n ? kernel('DinoGelu', { x }) : geluComposite(x))),
    elementwise('gelu fwd+bwd', G_TOK * MLP, G_TOK, (n, x) => (n
      ? [kernel('DinoGelu', { x }), kernel('DinoGeluGrad', { dy: x, x })]
      : tf.grad((v: tf.Tensor) => geluComposite(v))(x, x))),
    ln(false),
    ln(true),
    {
      name: 'adamW step', shape: '3.6M params (one tensor)', flops: null,
      make: (native) => {
        const n = 3_600_000;
        const p = randn([n]), g = randn([n]), m = tf.zeros([n]), v = tf.ones([n]);
        const attrs = { lr: 5e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.04, step: 3 };
        if (native) return () => kernel('DinoAdamW', { param: p, grad: g, m, v }, attrs);
        const bc1 = 1 - 0.9 ** 3, bc2 = Math.sqrt(1 - 0.999 ** 3);
        return () => {
          const m2 = tf.add(tf.mul(m, 0.9), tf.mul(g, 0.1));
          const v2 = tf.add(tf.mul(v, 0.999), tf.mul(tf.square(g), 0.001));
          const denom = tf.add(tf.div(tf.sqrt(v2), bc2), 1e-8);
          return [tf.sub(tf.mul(p, 1 - 5e-4 * 0.04), tf.mul(tf.div(m2, denom), 5e-4 / bc1)), m2, v2];
        };
      },
    },
    {
      name: 'sum over rows (bias grad)', shape: `[${G_TOK},${3 * D}] axis 0`, flops: null,
      make: () => {
        const x = randn([G_TOK, 3 * D]);
        return () => tf.sum(x, 0);
      },
    },
  ];
}


/** CPU seconds used by the whole machine (Linux /proc/stat), to tell how busy other processes kept it. */
function machineBusySeconds(): number | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq] = f;
    return (user + nice + system + irq + softirq) / 100;
  } catch {
    return null;
  }
}

async function child(mode: Mode, runs: number): Promise<void> {
  const busy0 = machineBusySeconds(), cpu0 = process.cpuUsage(), wall0 = performance.now();
  const info = await selectBackend({ ...MODES[mode].opts, log: () => undefined });
  const native = mode === 'native' && info.native;
  const results: Record<string, number> = {};
  for (const c of cases()) {
    const body = c.make(native);
    const once = () => {
      const t0 = performance.now();
      const out = tf.tidy(body);
      const dt = performance.now() - t0; // wasm kernels are synchronous: done when the op returns
      tf.dispose(out);
      return dt;
    };
    once();
    once();
    const times: number[] = [];
    const budget = performance.now() + 4000;
    for (let r = 0; r < runs && (r < 3 || performance.now() < budget); r++) times.push(once());
    results[`${c.name}|${c.shape}`] = median(times);
  }
  tf.disposeVariables();
  const busy1 = machineBusySeconds(), cpu = process.cpuUsage(cpu0), wall = (performance.now() - wall0) / 1000;
  const foreign = busy0 !== null && busy1 !== null ? (busy1 - busy0 - (cpu.user + cpu.system) / 1e6) / wall : null;
  process.stdout.write(`${JSON.stringify({ mode, detail: info.detail, foreignCpu: foreign, results })}\n`);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function parent(): void {
  const runs = Number(arg('runs') ?? 7);
  const modes = (arg('modes') ?? 'wasm1,wasmT,native').split(',') as Mode[];
  const all: Record<string, { detail: string; foreignCpu: number | null; results: Record<string, number> }> = {};
  for (const mode of modes) {
    if (!(mode in MODES)) throw new Error(`unknown mode ${mode}`);
    process.stderr.write(`running ${MODES[mode].label}...\n`);
    const env = { ...process.env };
    delete env.JEST_WORKER_ID;
    const r = spawnSync(process.execPath, [__filename, '--child', mode, '--runs', String(runs)], {
      encoding: 'utf8', env, maxBuffer: 16 << 20,
    });
    const line = (r.stdout || '').trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${mode} failed: ${r.stderr}`);
    const parsed = JSON.parse(line);
    all[mode] = parsed;
  }
  const cs = caseKeys();
  const fmt = (ms: number | undefined, flops: number | null) =>
    ms === undefined ? ['-', '-'] : [ms.toFixed(2), flops ? (flops / ms / 1e6).toFixed(1) : '-'];
  console.log(`# kernel benchmark (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}), median of up to ${runs} runs`);
  for (const m of modes) {
    const f = all[m].foreignCpu;
    const busy = f === null || f === undefined ? '' : `; other processes used ${Math.max(0, f * 100).toFixed(0)}% of a core meanwhile`;
    console.log(`# ${MODES[m].label}: ${all[m].detail}${busy}`);
  }
  const header = ['kernel', 'shape', ...modes.flatMap((m) => [`${MODES[m].label} ms`, 'GFLOPS'])];
  if (modes.includes('native') && modes.includes('wasm1')) header.push('native vs wasm 1T');
  const rows = [header];
  for (const { key, name, shape, flops } of cs) {
    const row = [name, shape, ...modes.flatMap((m) => fmt(all[m].results[key], flops))];
    if (modes.includes('native') && modes.includes('wasm1')) {
      row.push(`${(all.wasm1.results[key] / all.native.results[key]).toFixed(1)}x`);
    }
    rows.push(row);
  }
  printTable(rows);
  const jsonOut = arg('json');
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ runs, modes: all }, null, 2));
}

function caseKeys() {
  return cases().map((c) => ({ key: `${c.name}|${c.shape}`, name: c.name, shape: c.shape, flops: c.flops }));
}

function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

const childMode = arg('child') as Mode | undefined;
if (childMode) {
  child(childMode, Number(arg('runs') ?? 7)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  parent();
}
