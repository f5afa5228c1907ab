/** The flop counts printed beside ms/step: the ViT's matmuls counted by hand for bench-tiny. */
import { headForwardFlops, trainStepFlops, vitForwardFlops } from '../../scripts/benchFlops';
import { modelSize } from '../../src/model/modelSizes';

describe('matmul flops of the benchmarks', () => {
  const tiny = modelSize('tiny');

  test('ViT forward: patch embedding, then per block 24 D^2 per token (qkv, proj, fc1, fc2) and 4 T D (attention)', () => {
    const D = 192, T = 65, images = 64;
    const patchEmbed = 2 * images * 64 * (8 * 8 * 3) * D;
    const perBlock = images * T * (24 * D * D + 4 * T * D);
    expect(vitForwardFlops(tiny.vit, images, 64)).toBe(patchEmbed + 6 * perBlock);
  });

  test('head: 192 -> 512 -> 512 -> 128 MLP and the 128 -> 4096 last layer', () => {
    expect(headForwardFlops(tiny, 10)).toBe(2 * 10 * (192 * 512 + 512 * 512 + 512 * 128 + 128 * 4096));
  });

  test('a bench-tiny step: teacher forward + 3x the student forward - the patch embedding input gradient = 130.9 GFLOP', () => {
    const student = vitForwardFlops(tiny.vit, 64, 64) + vitForwardFlops(tiny.vit, 128, 32) + headForwardFlops(tiny, 192);
    const teacher = vitForwardFlops(tiny.vit, 64, 64) + headForwardFlops(tiny, 64);
    const patchInputGrad = 2 * (64 * 64 + 128 * 16) * 192 * 192;
    expect(trainStepFlops(tiny, 32)).toBe(teacher + 3 * student - patchInputGrad);
    expect(trainStepFlops(tiny, 32) / 1e9).toBeCloseTo(130.9, 1);
  });
});
