import { decodeBinary, decodeJson, EMBEDDING_FIXED_HEADER_BYTES, encodeBinary, encodeJson, isBinaryEmbedding } from '../../src/protocol/EmbeddingCodec';
import { embedding } from '../serve/fakeHub';

describe('EmbeddingCodec', () => {
  it('lays the binary header out as documented', () => {
    const m = embedding('cam-é', 123456, 3, { novelty: 0.75, t: 1700000000123.25 });
    m.teacherStep = 77;
    const b = encodeBinary(m, { raw: true });
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const idLen = Buffer.byteLength('cam-é'); // 6 bytes of UTF-8
    const head = 40 + idLen + 2; // padded to a multiple of 4
    expect(Buffer.from(b.subarray(0, 4)).toString('ascii')).toBe('DSEM');
    expect(b[4]).toBe(1); // version
    expect(b[5]).toBe(0b11); // raw + novelty
    expect(dv.getUint16(6, true)).toBe(idLen);
    expect(dv.getUint32(8, true)).toBe(3);
    expect(dv.getUint32(12, true)).toBe(123456);
    expect(dv.getUint32(16, true)).toBe(77);
    expect(dv.getUint32(20, true)).toBe(0);
    expect(dv.getFloat64(24, true)).toBe(1700000000123.25);
    expect(dv.getFloat64(32, true)).toBe(0.75);
    expect(Buffer.from(b.subarray(40, 40 + idLen)).toString('utf8')).toBe('cam-é');
    expect([...b.subarray(40 + idLen, head)]).toEqual([0, 0]);
    expect(b.length).toBe(head + 2 * 3 * 4);
    expect(dv.getFloat32(head, true)).toBe(m.embedding[0]);
    expect(dv.getFloat32(head + 12, true)).toBe(m.raw![0]);
    expect(EMBEDDING_FIXED_HEADER_BYTES).toBe(40);
  });

  it('decodes binary and JSON to the same numbers; raw and novelty only when present and asked for', () => {
    const m = embedding('cam1', 5, 192, { novelty: 0.123456789 });
    for (const raw of [false, true]) {
      const fromBin = decodeBinary(encodeBinary(m, { raw }));
      const fromJson = decodeJson(encodeJson(m, { raw }));
      expect(fromBin).toEqual(fromJson);
      expect(fromBin.embedding).toEqual(m.embedding);
      expect(fromBin.novelty).toBe(0.123456789);
      if (raw) expect(fromBin.raw).toEqual(m.raw);
      else expect(fromBin.raw).toBeUndefined();
    }
    const plain = embedding('x', 1, 4, { raw: false });
    const d = decodeBinary(encodeBinary(plain, { raw: true })); // asked for raw, message has none
    expect(d.raw).toBeUndefined();
    expect(d.novelty).toBeUndefined();
    expect(JSON.parse(encodeJson(plain, { raw: true }))).not.toHaveProperty('raw');
  });

  it('decodes from an unaligned buffer, and rejects malformed frames', () => {
    const b = encodeBinary(embedding('cam1', 1, 8));
    const shifted = Buffer.alloc(b.length + 1);
    shifted.set(b, 1);
    expect(decodeBinary(shifted.subarray(1)).embedding).toEqual(decodeBinary(b).embedding);
    expect(isBinaryEmbedding(b)).toBe(true);
    expect(() => decodeBinary(b.subarray(0, b.length - 4))).toThrow(/header says/);
    expect(() => decodeBinary(new Uint8Array(50))).toThrow(/magic/);
    const v2 = b.slice();
    v2[4] = 2;
    expect(() => decodeBinary(v2)).toThrow(/version 2/);
    expect(() => encodeBinary({ ...embedding('a', 1, 4), dim: 5 })).toThrow(/dim/);
  });

  it('decodes by hand exactly as PROTOCOL.md shows', () => {
    const m = embedding('door', 42, 5, { novelty: 0.5 });
    const b = Buffer.from(encodeBinary(m, { raw: true }));
    // --- the snippet from PROTOCOL.md ---
    if (b.toString('ascii', 0, 4) !== 'DSEM' || b[4] !== 1) throw new Error('not a v1 embedding frame');
    const flags = b[5]!;
    const idLen = b.readUInt16LE(6);
    const dim = b.readUInt32LE(8);
    const frameIndex = b.readUInt32LE(12);
    const teacherStep = b.readUInt32LE(16);
    const t = b.readDoubleLE(24);
    const novelty = flags & 2 ? b.readDoubleLE(32) : undefined;
    const streamId = b.toString('utf8', 40, 40 + idLen);
    const h = 40 + idLen + ((4 - (idLen % 4)) % 4);
    const embeddingValues = new Float32Array(dim);
    for (let i = 0; i < dim; i++) embeddingValues[i] = b.readFloatLE(h + 4 * i);
    const raw = flags & 1 ? Float32Array.from({ length: dim }, (_, i) => b.readFloatLE(h + 4 * (dim + i))) : undefined;
    // ---
    expect({ streamId, t, frameIndex, teacherStep, dim, embedding: embeddingValues, raw, novelty }).toEqual(decodeBinary(b));
  });
});
