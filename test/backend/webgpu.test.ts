/**
 * The webgpu backend (Dawn): selection order and reasons, the adapter named in the log, kernels and hand-written
 * gradients against the cpu backend, and the clear error for synchronous reads of GPU buffers.
 */
import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../../src/backend/selectBackend';
import { takeWebGPUErrors } from '../../src/backend/webgpuBackend';
import { linear } from '../../src/ops/linear';
import { layerNorm } from '../../src/ops/layerNorm';
import { gelu } from '../../src/ops/gelu';
import { attention } from '../../src/ops/attention';
import { expectClose } from '../helpers/backend';
import { describeWithWebGPU, probeBackend, webgpuHere } from '../helpers/webgpu';

/** No driver of either kind can be found with these: glvnd finds no EGL vendor, the Vulkan loader no ICD. */
const NO_DRIVERS = { __EGL_VENDOR_LIBRARY_FILENAMES: '/nonexistent/egl.json', VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };

describe('webgpu selection without an adapter', () => {
  test('forced webgpu fails naming each Dawn backend tried and why', () => {
    const r = probeBackend('webgpu', NO_DRIVERS);
    expect(r.ok).toBe(false);
    expect(r.reason).toMatch(/^backend 'webgpu' cannot be loaded: /);
    // with the packages installed the reason is per Dawn backend; without them, that they are not installed
    expect(r.reason).toMatch(/vulkan: no adapter.*opengles: no adapter|not installed/);
  });

  test('auto logs why webgpu was skipped and goes on to the next backend', () => {
    const r = probeBackend('auto', NO_DRIVERS);
    expect(r.ok).toBe(true);
    expect(r.name).not.toBe('webgpu');
    const skipped = r.lines.filter((l) => l.startsWith('backend: skipped webgpu ('));
    expect(skipped).toHaveLength(1);
    const chosen = r.lines.indexOf(`backend: ${r.detail}`);
    expect(chosen).toBeGreaterThan(r.lines.indexOf(skipped[0]!));
  });
});

describeWithWebGPU('webgpu backend (Dawn)', () => {
  const here = webgpuHere();

  test('auto takes a hardware adapter, and a software one only when webgpu is named', () => {
    const r = probeBackend('auto');
    if (here.adapter!.software) {
      expect(r.name).not.toBe('webgpu');
      expect(r.lines).toContainEqual(expect.stringMatching(
        new RegExp(`^backend: skipped webgpu \\(.*only the software adapter ${here.adapter!.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(force it with --backend webgpu\\)`),
      ));
    } else {
      expect(r.name).toBe('webgpu');
    }
  });

  test('forced webgpu names the adapter, its vendor and Dawn backend in the one choice line', async () => {
    const lines: string[] = [];
    const info = await selectBackend({ backend: 'webgpu', log: (m) => lines.push(m) });
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.name).toBe('webgpu');
    const a = info.adapter!;
    expect(['vulkan', 'opengles']).toContain(a.backendType);
    expect(a.name.length).toBeGreaterThan(0);
    expect(info.gpu).toBe(!a.software);
    expect(lines).toEqual([`backend: ${info.detail}`]);
    expect(info.detail).toContain(`Dawn ${a.backendType}: ${a.name}, vendor `);
    expect(info.detail).toContain(a.software ? 'software adapter' : 'hardware adapter');
  });

  test('a switch to cpu and back reuses the backend and its device', async () => {
    const first = await selectBackend({ backend: 'webgpu', log: () => undefined });
    const backend = tf.backend();
    await selectBackend({ backend: 'cpu', log: () => undefined });
    expect(tf.backend()).not.toBe(backend);
    const again = await selectBackend({ backend: 'webgpu', log: () => undefined });
    expect(again.adapter).toEqual(first.adapter);
    expect(tf.backend()).toBe(backend);
  });

  test('the hand-written ops (layerNorm, linear, attention, gelu) and their gradients equal the cpu backend', async () => {
    const x = [...Array(6 * 8)].map((_, i) => Math.sin(i * 0.7) * 2);
    const w = [...Array(8 * 12)].map((_, i) => Math.cos(i * 0.3) * 0.5);
    const b = [...Array(12)].map((_, i) => 0.1 * i - 0.2);
    const g = [...Array(8)].map((_, i) => 1 + 0.05 * i);
    const be = [...Array(8)].map((_, i) => -0.02 * i);
    const run = async () => {
      const before = tf.memory().numTensors;
      const t = [tf.tensor2d(x, [6, 8]), tf.tensor2d(w, [8, 12]), tf.tensor1d(b), tf.tensor1d(g), tf.tensor1d(be)] as const;
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, gg: tf.Tensor, bbe: tf.Tensor) =>
        tf.sum(tf.square(gelu(attention(
          linear(layerNorm(xx as tf.Tensor2D, gg as tf.Tensor1D, bbe as tf.Tensor1D, 1e-6), ww as tf.Tensor2D, bb as tf.Tensor1D),
          { batch: 2, tokens: 3, heads: 2, scale: 0.5 },
        ))));
      const { value, grads } = tf.valueAndGrads(f)([...t]);
      const out = { value: await value.data(), grads: await Promise.all(grads.map((gr) => gr.data())) };
      tf.dispose([value, ...grads, ...t]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    await selectBackend({ backend: 'webgpu', log: () => undefined });
    const gpu = await run();
    await selectBackend({ backend: 'cpu', log: () => undefined });
    const cpu = await run();
    expectClose(gpu.value, cpu.value, 1e-5, 1e-5, 'value');
    for (const [i, gr] of gpu.grads.entries()) expectClose(gr, cpu.grads[i]!, 1e-5, 1e-4, `gradient ${i}`);
    expect(takeWebGPUErrors()).toEqual([]);
  });

  test('dataSync of a GPU result says to read it with await data()', async () => {
    await selectBackend({ backend: 'webgpu', log: () => undefined });
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => tf.matMul(tf.ones([4, 4]), tf.ones([4, 4])));
    expect(() => y.dataSync()).toThrow(/use await tensor\.data\(\)/);
    expect(Array.from(await y.data())).toEqual(new Array(16).fill(4));
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
