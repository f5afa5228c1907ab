/**
 * The webgpu backend (Dawn): selection order and reasons, the adapter named in the log, the device kept across
 * backend switches, and the clear error for synchronous reads of GPU buffers (the ops and their gradients on webgpu:
 * test/ops; the whole DINO step: test/train/pytorchReference.test.ts).
 */
import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';

import { selectBackend } from '../../src/backend/selectBackend';
import { takeWebGPUErrors } from '../../src/backend/webgpuBackend';
import { describeWithWebGPU, probeBackend } from '../helpers/webgpu';

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
  test('auto takes a hardware adapter, and a software one only when webgpu is named', () => {
    const here = probeBackend('webgpu');
    expect(here.reason).toBeUndefined();
    const r = probeBackend('auto');
    if (here.adapter!.software) {
      expect(r.name).not.toBe('webgpu');
      // with a GPU device node the software adapter is opened and declined; without one it is not even opened, so
      // Dawn writes nothing on stderr (it warns about limits when it opens llvmpipe)
      const name = here.adapter!.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const nodes = (dir: string, re: RegExp) => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => re.test(f));
      const noDevice = !nodes('/dev/dri', /^renderD\d+$/) && !nodes('/dev', /^(nvidia\d+|dxg)$/);
      const why = noDevice ? 'opengles: no GPU device \\(/dev/dri/renderD\\*, /dev/nvidia\\*, /dev/dxg\\): only a software adapter could open' : `only the software adapter ${name}`;
      expect(r.lines).toContainEqual(expect.stringMatching(new RegExp(`^backend: skipped webgpu \\(.*${why} \\(force it with --backend webgpu\\)`)));
      if (noDevice) expect(r.stderr).not.toMatch(/Warning/);
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

  test('dataSync of a GPU result says to read it with await data(); no device error on the way', async () => {
    await selectBackend({ backend: 'webgpu', log: () => undefined });
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => tf.matMul(tf.ones([4, 4]), tf.ones([4, 4])));
    expect(() => y.dataSync()).toThrow(/use await tensor\.data\(\)/);
    expect(Array.from(await y.data())).toEqual(new Array(16).fill(4));
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(takeWebGPUErrors()).toEqual([]);
  });
});
