/** selectBackend: auto order with the tfjs-node and webgpu skips, forced-backend errors, idempotence, native toggles. */
import * as tf from '@tensorflow/tfjs';

import { BackendInfo, selectBackend } from '../../src/backend/selectBackend';
import { nativeKernelsActive } from '../../src/backend/nativeKernels';
import { nativeAvailable } from './helpers';

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const tfjsNodeInstalled = resolvable('@tensorflow/tfjs-node') || resolvable('@tensorflow/tfjs-node-gpu');
const itNoTfjsNode = tfjsNodeInstalled ? it.skip : it;

describe('selectBackend', () => {
  itNoTfjsNode('forced tensorflow fails with an error naming the backend and why', async () => {
    const lines: string[] = [];
    await expect(selectBackend({ backend: 'tensorflow', log: (m) => lines.push(m) }))
      .rejects.toThrow(/backend 'tensorflow' cannot be loaded: .*@tensorflow\/tfjs-node.*Cannot find module/);
    expect(lines.some((l) => l.includes('skipped @tensorflow/tfjs-node-gpu'))).toBe(true);
  });

  itNoTfjsNode('auto skips tfjs-node-gpu, tfjs-node and webgpu without a hardware adapter, logs them, and settles on wasm with one choice line', async () => {
    const lines: string[] = [];
    const info = await selectBackend({ log: (m) => lines.push(m) });
    expect(lines.filter((l) => /skipped @tensorflow\/tfjs-node(-gpu)? \(/.test(l))).toHaveLength(2);
    if (info.name === 'webgpu') {
      // a machine with a GPU stops here (test/backend/webgpu.test.ts checks that choice); these machines have none
      expect(info.gpu).toBe(true);
      return;
    }
    expect(lines.filter((l) => l.startsWith('backend: skipped webgpu ('))).toHaveLength(1);
    const choice = lines.filter((l) => l.startsWith('backend: wasm'));
    expect(choice).toHaveLength(1);
    expect(choice[0]).not.toContain('\n');
    expect(info).toMatchObject({ name: 'wasm', simd: true, gpu: false, native: nativeAvailable });
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('is idempotent: same options give the cached info without logging or re-initialising', async () => {
    const first = await selectBackend({ backend: 'wasm', log: () => undefined });
    const lines: string[] = [];
    const again = await selectBackend({ backend: 'wasm', log: (m) => lines.push(m) });
    expect(again).toBe(first);
    expect(lines).toEqual([]);
  });

  it('native: false leaves the stock wasm kernels; native: true installs the addon kernels', async () => {
    const off = await selectBackend({ backend: 'wasm', native: false, log: () => undefined });
    expect(off.native).toBe(false);
    expect(off.detail).toMatch(/native kernels off/);
    expect(nativeKernelsActive()).toBe(false);
    expect(tf.getKernel('DinoAttention', 'wasm')).toBeUndefined();
    const on: BackendInfo = await selectBackend({ backend: 'wasm', native: true, log: () => undefined });
    expect(on.native).toBe(nativeAvailable);
    expect(tf.getKernel('DinoAttention', 'wasm') != null).toBe(nativeAvailable);
  });

  it('DINO_NATIVE=0 disables the native kernels', async () => {
    const prev = process.env.DINO_NATIVE;
    process.env.DINO_NATIVE = '0';
    try {
      const info = await selectBackend({ backend: 'wasm', log: () => undefined });
      expect(info.native).toBe(false);
      expect(info.detail).toContain('DINO_NATIVE=0');
      expect(nativeKernelsActive()).toBe(false);
    } finally {
      if (prev === undefined) delete process.env.DINO_NATIVE;
      else process.env.DINO_NATIVE = prev;
    }
    const info = await selectBackend({ backend: 'wasm', log: () => undefined });
    expect(info.native).toBe(nativeAvailable);
  });

  it('forced cpu works and a later call switches back to wasm', async () => {
    const cpu = await selectBackend({ backend: 'cpu', log: () => undefined });
    expect(cpu).toMatchObject({ name: 'cpu', native: false, gpu: false });
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await selectBackend({ backend: 'wasm', log: () => undefined });
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects bad options', async () => {
    await expect(selectBackend({ backend: 'metal' as never })).rejects.toThrow(/unknown backend 'metal'/);
    await expect(selectBackend({ threads: 0 })).rejects.toThrow(/threads/);
  });
});
