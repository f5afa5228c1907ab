import { decodeEmbeddedFrame, encodeEmbeddedFrame } from '../../src/scale/EmbeddedFrameCodec';
import { decodeFrame, encodeFrame, FrameCodecError } from '../../src/scale/FrameCodec';
import { decodeTeacher, encodeTeacher, TeacherBlobError } from '../../src/scale/TeacherBlob';
import { decodeAttention, decodeEvent, decodeStats, decodeThumbnail, encodeAttention, encodeEvent, encodeThumbnail } from '../../src/scale/UiFeedCodec';
import type { Frame } from '../../streams/Frame';

const frame = (streamId = 'cam.1', index = 7): Frame => ({
  streamId,
  index,
  t: 1_700_000_000_123.5,
  width: 3,
  height: 2,
  rgb: Uint8Array.from({ length: 18 }, (_, i) => i * 13),
});

describe('FrameCodec', () => {
  test('a frame comes back byte for byte, ids with dots and non-ASCII included, and padded to 4 bytes', () => {
    for (const id of ['cam.1', 'a', 'caméra-ü']) {
      const bytes = encodeFrame(frame(id, 123456789));
      const back = decodeFrame(bytes);
      expect(back).toEqual({ ...frame(id, 123456789), rgb: frame().rgb });
      const idBytes = new TextEncoder().encode(id).length;
      expect(bytes.length).toBe(32 + idBytes + ((4 - (idBytes % 4)) % 4) + 18);
    }
  });

  test('decoding a frame inside a larger buffer (a Node Buffer view) copies only its pixels', () => {
    const inner = encodeFrame(frame());
    const big = Buffer.alloc(inner.length + 10);
    big.set(inner, 5);
    const back = decodeFrame(big.subarray(5, 5 + inner.length));
    expect(Array.from(back.rgb)).toEqual(Array.from(frame().rgb));
    big.fill(0);
    expect(back.rgb[1]).toBe(13); // not a view of the message buffer
  });

  test('malformed messages are refused naming what is wrong', () => {
    const good = encodeFrame(frame());
    expect(() => decodeFrame(good.subarray(0, 20))).toThrow(/bad magic or too short/);
    expect(() => decodeFrame(good.subarray(0, good.length - 1))).toThrow(/header .* says/);
    const badVersion = good.slice();
    badVersion[4] = 9;
    expect(() => decodeFrame(badVersion)).toThrow(/version 9/);
    const notMagic = good.slice();
    notMagic[0] = 0;
    expect(() => decodeFrame(notMagic)).toThrow(FrameCodecError);
    expect(() => encodeFrame({ ...frame(), rgb: new Uint8Array(5) })).toThrow(/5 RGB bytes for 3x2/);
  });
});

describe('EmbeddedFrameCodec', () => {
  const embedding = {
    streamId: 'cam.1', t: 1_700_000_000_123.5, frameIndex: 7, teacherStep: 42, dim: 4,
    embedding: Float32Array.from([0.5, -0.5, 0.5, -0.5]), raw: Float32Array.from([1, 2, 3, 4]),
  };

  test('the embedding (with its raw CLS and teacher step) and its frame come back together', () => {
    const back = decodeEmbeddedFrame(encodeEmbeddedFrame({ embedding, frame: frame() }));
    expect(back.embedding.teacherStep).toBe(42);
    expect(Array.from(back.embedding.embedding)).toEqual([0.5, -0.5, 0.5, -0.5]);
    expect(Array.from(back.embedding.raw!)).toEqual([1, 2, 3, 4]);
    expect(back.frame.index).toBe(7);
    expect(Array.from(back.frame.rgb)).toEqual(Array.from(frame().rgb));
  });

  test('an embedding paired with another frame, or a truncated message, is refused', () => {
    expect(() => decodeEmbeddedFrame(encodeEmbeddedFrame({ embedding, frame: frame('cam.1', 8) }))).toThrow(/embedding of cam\.1#7 with frame cam\.1#8/);
    const bytes = encodeEmbeddedFrame({ embedding, frame: frame() });
    expect(() => decodeEmbeddedFrame(bytes.subarray(0, 30))).toThrow(FrameCodecError);
    expect(() => decodeEmbeddedFrame(new Uint8Array(2))).toThrow(/shorter than 4 bytes/);
  });
});

describe('TeacherBlob', () => {
  const snapshot = {
    step: 12,
    params: [
      { name: 'backbone.a', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      { name: 'backbone.b', shape: [3], values: Float32Array.from([-1, 0.25, 1e-8]) },
    ],
  };

  test('a snapshot comes back exactly, with its model name, from an unaligned buffer too', () => {
    const bytes = encodeTeacher(snapshot, 'micro');
    const shifted = Buffer.alloc(bytes.length + 1);
    shifted.set(bytes, 1);
    const back = decodeTeacher(shifted.subarray(1));
    expect(back.step).toBe(12);
    expect(back.model).toBe('micro');
    expect(back.params.map((p) => [p.name, p.shape, Array.from(p.values)])).toEqual(snapshot.params.map((p) => [p.name, p.shape, Array.from(p.values)]));
  });

  test('truncated, padded, mislabelled or hostile objects are refused before any value is read', () => {
    const bytes = encodeTeacher(snapshot, 'micro');
    expect(() => decodeTeacher(bytes.subarray(0, bytes.length - 4))).toThrow(/parameters need/);
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => decodeTeacher(longer)).toThrow(/parameters need/);
    const header = (h: unknown) => {
      const j = new TextEncoder().encode(JSON.stringify(h));
      const out = new Uint8Array(12 + j.length + 64);
      out.set([0x44, 0x53, 0x54, 0x43, 1], 0);
      new DataView(out.buffer).setUint32(8, j.length, true);
      out.set(j, 12);
      return out;
    };
    expect(() => decodeTeacher(header({ step: -1, model: 'x', params: [{ name: 'a', shape: [1] }] }))).toThrow(/step/);
    expect(() => decodeTeacher(header({ step: 1, model: 'x', params: [{ name: 'a', shape: [1e9, 1e9] }] }))).toThrow(/parameters need/);
    expect(() => decodeTeacher(header({ step: 1, model: 'x', params: [], extra: 1 }))).toThrow(TeacherBlobError);
    expect(() => encodeTeacher({ step: 1, params: [{ name: 'a', shape: [2], values: new Float32Array(3) }] }, 'm')).toThrow(/3 values for shape \[2\]/);
  });
});

describe('UiFeedCodec', () => {
  test('thumbnails, attention maps, stats and events come back as sent', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 1, 2, 3]);
    const th = decodeThumbnail(encodeThumbnail({ streamId: 's', t: 5, frameIndex: 1, width: 64, height: 64, jpeg }));
    expect(th).toEqual({ streamId: 's', t: 5, frameIndex: 1, width: 64, height: 64, jpeg });
    const maps = Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i / 18);
    const at = decodeAttention(encodeAttention({ streamId: 's', t: 5, frameIndex: 1, teacherStep: 3, grid: 3, heads: 2, maps, jpeg }));
    expect(Array.from(at.maps)).toEqual(Array.from(maps));
    expect(at.jpeg).toEqual(jpeg);
    const ev = { type: 'drift' as const, streamId: 's', t: 5, statistic: 0.3, pValue: 0.001, alpha: 0.01, method: 'mmd', teacherStep: 3 };
    expect(decodeEvent(encodeEvent(ev))).toEqual(ev);
  });

  test('a feed message with missing fields, an unknown event type or wrong sizes is refused', () => {
    const pack = (meta: unknown) => {
      const j = new TextEncoder().encode(JSON.stringify(meta));
      const out = new Uint8Array(4 + j.length);
      new DataView(out.buffer).setUint32(0, j.length, true);
      out.set(j, 4);
      return out;
    };
    expect(() => decodeEvent(pack({ type: 'launch', t: 1 }))).toThrow(/unknown type launch/);
    expect(() => decodeStats(pack({ t: 1, step: 'x', loss: 1 }))).toThrow(/step is not a number/);
    expect(() => decodeThumbnail(pack({ streamId: 's', t: 1, frameIndex: 1, width: 1, height: 1 }))).toThrow(/truncated/);
    const maps = new Float32Array(5);
    expect(() => decodeAttention(encodeAttention({ streamId: 's', t: 5, frameIndex: 1, teacherStep: 3, grid: 3, heads: 2, maps, jpeg: Buffer.alloc(1) }))).toThrow(/20 bytes of maps for 2 heads of 3x3/);
    expect(() => decodeEvent(new Uint8Array([255, 255, 255, 255]))).toThrow(/truncated/);
  });
});
