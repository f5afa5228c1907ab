import * as tf from '@tensorflow/tfjs';
import { attention, attentionForward, type AttentionShape } from '../../src/ops/attention';
import { setFusedKernelsEnabled } from '../../src/ops/kernels';
import { gradientMismatches, OP_PATHS, read, tensorsLeft, values, worstRatio } from './opHarness';
import * as ref from './reference';

const [B, T, H, HD] = [2, 3, 2, 2];
const D = H * HD;
const shape: AttentionShape = { batch: B, tokens: T, heads: H, scale: HD ** -0.5 };

describe.each(OP_PATHS)('attention ($name)', ({ setUp }) => {
  beforeAll(setUp);
  afterAll(() => setFusedKernelsEnabled(true));
  const qkvValues = values(B * T * 3 * D, 51, 2);
  const qkv = () => tf.tensor2d(qkvValues, [B * T, 3 * D]);

  test('is softmax(q k^T * scale) v per sequence and head, from the packed qkv layout, with those probabilities beside it', async () => {
    const want = ref.attention(qkvValues, B, T, H, HD, shape.scale);
    const out = await read(() => attentionForward(qkv(), shape).out);
    const probs = await read(() => attentionForward(qkv(), shape).probs);
    expect(worstRatio(out!, want.out, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    expect(worstRatio(probs!, want.probs, 1e-6, 1e-4)).toBeLessThanOrEqual(1);
    const same = await read(() => attention(qkv(), shape));
    expect(worstRatio(same, out!, 0, 0)).toBeLessThanOrEqual(1);
  });

  test('its gradient with respect to qkv equals central finite differences, element by element', async () => {
    const x = qkv();
    expect(await gradientMismatches((t) => attention(t as tf.Tensor2D, shape), [x])).toEqual([]);
    x.dispose();
  });

  test('leaves no tensor behind, forward or backward', () => {
    const x = qkv();
    expect(tensorsLeft(() => tf.dispose(tf.grads((t: tf.Tensor) => tf.sum(attention(t as tf.Tensor2D, shape)))([x])))).toBe(0);
    expect(tensorsLeft(() => tf.dispose(Object.values(attentionForward(x, shape))))).toBe(0);
    x.dispose();
  });
});
