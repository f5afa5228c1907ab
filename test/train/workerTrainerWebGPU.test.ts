/**
 * The agent's trainer worker on webgpu: the worker thread makes its own Dawn device, and its steps (views, DINO step,
 * AdamW, EMA, centre) and teacher snapshots equal the same trainer run in-process on the cpu backend.
 * The worker runs the compiled script (npm run build).
 */
import * as fs from 'node:fs';

import * as tf from '@tensorflow/tfjs';

import { WorkerTrainer } from '../../src/train/WorkerTrainer';
import { TrainerService } from '../../src/train/TrainerService';
import { modelSize } from '../../src/model/modelSizes';
import { recipe } from '../../src/train/recipes';
import { Random } from '../../src/util/Random';
import type { Frame } from '../../streams/Frame';
import { expectClose } from '../helpers/backend';
import { describeWithWebGPU } from '../helpers/webgpu';

jest.setTimeout(300_000);

function frames(n: number, size: number, seed: number): Frame[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, (_, i) => {
    const rgb = new Uint8Array(size * size * 3);
    for (let j = 0; j < rgb.length; j++) rgb[j] = Math.floor(rng.next() * 256);
    return { streamId: 'cam', t: i * 100, index: i, width: size, height: size, rgb };
  });
}

describeWithWebGPU('trainer worker on webgpu', () => {
  test('two steps and the teacher snapshot equal the in-process cpu trainer', async () => {
    const trainer = recipe('stream', { model: modelSize('micro'), batchSize: 4, horizonSteps: 50, seed: 3 });
    const batches = [frames(4, 24, 1), frames(4, 24, 2)];
    const logs: string[] = [];
    const worker = await WorkerTrainer.start({ trainer, backend: { backend: 'webgpu' } }, (m) => logs.push(m));
    let gpuSteps;
    let gpuSnap;
    try {
      expect(worker.ready.info.name).toBe('webgpu');
      expect(logs).toContainEqual(expect.stringMatching(/^backend: webgpu \(Dawn (vulkan|opengles): /));
      gpuSteps = [];
      for (const b of batches) gpuSteps.push(await worker.step(b));
      gpuSnap = await worker.snapshot();
    } finally {
      await worker.close();
    }
    // Dawn dlcloses libEGL with the worker's instance; EGL's thread-exit destructors would then point into unmapped
    // code (keepEglLoaded pins it; this process has not opened EGL on its own thread)
    if (worker.ready.info.adapter?.backendType === 'opengles') {
      expect(fs.readFileSync('/proc/self/maps', 'utf8')).toMatch(/\/libEGL\.so[.\s]/);
    }

    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const { service } = await TrainerService.create({ trainer, backend: { backend: 'cpu' } }, () => undefined);
    for (const [i, b] of batches.entries()) {
      const cpu = await service.trainStep(b);
      expect(gpuSteps[i]!.step).toBe(cpu.step);
      expect(Math.abs(gpuSteps[i]!.loss - cpu.loss)).toBeLessThan(1e-4 * Math.abs(cpu.loss));
      expect(Math.abs(gpuSteps[i]!.teacherEntropy - cpu.teacherEntropy)).toBeLessThan(1e-4 * cpu.teacherEntropy);
      expect(Math.abs(gpuSteps[i]!.embeddingStd - cpu.embeddingStd)).toBeLessThan(1e-4);
    }
    const cpuSnap = await service.snapshot();
    expect(gpuSnap.step).toBe(cpuSnap.step);
    expect(gpuSnap.params.map((p) => p.name)).toEqual(cpuSnap.params.map((p) => p.name));
    for (const [i, p] of gpuSnap.params.entries()) expectClose(p.values, cpuSnap.params[i]!.values, 5e-5, 1e-4, `teacher ${p.name}`);
    service.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
