import { configSchema } from '../../config/schema';
import { REEMBED_CHUNK, StreamDetectors } from '../../src/agent/StreamDetectors';
import type { Frame } from '../../streams/Frame';

const frame = (index: number): Frame => ({ streamId: 'cam', t: 1000 + index * 200, index, width: 2, height: 2, rgb: new Uint8Array(12) });
/** A unit embedding that encodes the frame index and the teacher (the angle), so a mix-up shows. */
const emb = (index: number, teacher: number) => Float32Array.of(Math.cos(index * 0.01 + teacher), Math.sin(index * 0.01 + teacher));

describe('StreamDetectors.reembed', () => {
  it('re-embeds the kept frames in chunks with the event loop running between them, in order', async () => {
    const d = new StreamDetectors(configSchema.parse({}).detect);
    const n = 80;
    for (let i = 0; i < n; i++) d.observe(frame(i), emb(i, 0), 1);
    const calls: number[][] = [];
    let immediates = 0;
    let spinning = true;
    const spin = () => {
      if (!spinning) return;
      immediates++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const turnsAt: number[] = [];
    await d.reembed(async (frames) => {
      calls.push(frames.map((f) => f.index));
      turnsAt.push(immediates);
      return frames.map((f) => emb(f.index, 1));
    }, 2);
    spinning = false;
    expect(calls.length).toBeGreaterThan(2);
    expect(Math.max(...calls.map((c) => c.length))).toBeLessThanOrEqual(REEMBED_CHUNK);
    // every chunk starts after the loop went round at least once
    for (let i = 1; i < turnsAt.length; i++) expect(turnsAt[i]).toBeGreaterThan(turnsAt[i - 1]!);
    // the novelty bank and the drift windows got back every frame they keep, each once, oldest first
    const bank = d['streams'].get('cam')!.novelty.bankPayloads().map((f) => f!.index);
    const { ref, recent } = d['streams'].get('cam')!.drift.windowPayloads();
    const kept = [...bank, ...[...ref, ...recent].map((f) => f!.index)];
    expect(calls.flat()).toEqual(kept);
    // a frame scored now compares with the new teacher's embeddings (its neighbours a few hundredths of a radian
    // away); against the old ones it would be a radian away (cosine distance ~0.46)
    const again = d.observe(frame(n - 1), emb(n - 1, 1), 2);
    expect(again.novelty.score).toBeLessThan(0.01);
  });
});
