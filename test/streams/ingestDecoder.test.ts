import sharp from 'sharp';
import * as decodeImage from '../../streams/sources/decodeImage';
import { readImageHeader } from '../../streams/sources/imageHeader';
import { defaultMaxInputPixels, encodeRawRgb, IngestDecoder, IngestProblem } from '../../streams/sources/IngestDecoder';
import { apngOf as apng, jpegDeclaring, pngDeclaring } from '../../scripts/ingestFuzz';

const solid = (w: number, h: number, channels: 3 | 4 = 3) => sharp({ create: { width: w, height: h, channels, background: { r: 10, g: 200, b: 30, alpha: 1 } } });

async function problemOf(d: IngestDecoder, msg: Buffer): Promise<IngestProblem> {
  try {
    await d.decode(msg);
  } catch (e) {
    if (e instanceof IngestProblem) return e;
    throw e;
  }
  throw new Error('decoded');
}

describe('IngestDecoder: the pixel budget is checked in the header, before decoding', () => {
  const decoder = new IngestDecoder({ width: 64, height: 64 }); // the agent's default frame size
  let spy: jest.SpyInstance;
  beforeEach(() => (spy = jest.spyOn(decodeImage, 'decodeToRgb')));
  afterEach(() => spy.mockRestore());

  it('ties the default budget to the frame size: 1024 x its pixels, at least 1 MP', () => {
    expect(decoder.maxInputPixels).toBe(64 * 64 * 1024);
    expect(defaultMaxInputPixels(16, 16)).toBe(1 << 20);
    expect(defaultMaxInputPixels(1024, 1024)).toBe(40_000_000);
  });

  it('refuses bombs (a real 4000x4000 PNG and JPEG, 20000x20000 and 65535x65535 headers) without calling the decoder', async () => {
    const png4k = await solid(4000, 4000).png({ compressionLevel: 9 }).toBuffer();
    const jpeg4k = await solid(4000, 4000).jpeg({ quality: 50 }).toBuffer();
    expect(png4k.length).toBeLessThan(100_000); // ~1000x amplification
    const small = await solid(16, 16).png().toBuffer();
    const smallJpeg = await solid(16, 16).jpeg().toBuffer();
    const bombs: [string, Buffer, RegExp][] = [
      ['png 4000', png4k, /PNG declares 4000x4000 \(16\.0 megapixels\); frames here are 64x64.*at most 4\.2 megapixels/],
      ['jpeg 4000', jpeg4k, /JPEG declares 4000x4000/],
      ['png 20000', pngDeclaring(small, 20000, 20000), /PNG declares 20000x20000 \(400\.0 megapixels\)/],
      ['png 65535', pngDeclaring(small, 65535, 65535), /65535x65535/],
      ['png 2^31-1 wide', pngDeclaring(small, 0x7fffffff, 1), /2147483647x1/],
      ['jpeg 65535', jpegDeclaring(smallJpeg, 65535, 65535), /JPEG declares 65535x65535/],
      ['raw 65535x65535 header on 3 bytes', encodeRawRgb(1, 1, new Uint8Array(3)).fill(0xff, 4, 8), /RGB0 header declares 65535x65535 .* but 3 bytes follow/],
    ];
    for (const [name, msg, message] of bombs) {
      const p = await problemOf(decoder, msg);
      expect({ name, code: p.code }).toEqual({ name, code: name.startsWith('raw') ? 'size_mismatch' : 'too_many_pixels' });
      expect(p.message).toMatch(message);
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it('counts 16-bit samples twice: a 2048x2048 RGBA PNG of 16 bits is refused, 8 bits passes, a small 16-bit PNG decodes', async () => {
    const deep = await solid(2048, 2048, 4).toColourspace('rgb16').png().toBuffer();
    expect(readImageHeader(deep)).toMatchObject({ width: 2048, height: 2048, bitDepth: 16, channels: 4 });
    const p = await problemOf(decoder, deep);
    expect(p.code).toBe('too_many_pixels');
    expect(p.message).toMatch(/4 channels of 16 bits decodes to 33\.6 MB; the limit is 16\.8 MB/);
    expect(spy).not.toHaveBeenCalled();
    const rgb = await decoder.decode(await solid(2048, 2048, 4).png().toBuffer());
    expect(rgb.length).toBe(64 * 64 * 3);
    const small16 = await decoder.decode(await solid(32, 32).toColourspace('rgb16').png().toBuffer());
    expect([small16[0], small16[1], small16[2]]).toEqual([10, 200, 30]);
  });

  it('refuses APNG, truncated and inconsistent headers with their own codes, before decoding', async () => {
    const small = await solid(16, 16).png().toBuffer();
    expect(readImageHeader(apng(small)).animated).toBe(true);
    expect((await problemOf(decoder, apng(small))).code).toBe('unsupported_image');
    const jpeg = await solid(16, 16).jpeg().toBuffer();
    const cases: [Buffer, RegExp][] = [
      [small.subarray(0, 20), /PNG without a complete IHDR/],
      [pngDeclaring(small, 0, 16), /PNG declares 0x16/],
      [Buffer.concat([small.subarray(0, 24), Buffer.from([16, 3]), small.subarray(26)]), /colour type 3 with bit depth 16/],
      [jpeg.subarray(0, 6), /JPEG truncated before its frame header/],
      [jpegDeclaring(jpeg, 16, 0), /JPEG declares 16x0/],
      [Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]), /without a frame header/],
    ];
    for (const [msg, re] of cases) {
      const p = await problemOf(decoder, msg);
      expect(p.code).toBe('bad_header');
      expect(p.message).toMatch(re);
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it('decodes what fits: a 1080p camera JPEG, a grey PNG, raw RGB of another size', async () => {
    const hd = await solid(1920, 1080).jpeg().toBuffer();
    const rgb = await decoder.decode(hd);
    expect(rgb.length).toBe(64 * 64 * 3);
    expect(Math.abs(rgb[1]! - 200)).toBeLessThan(4);
    const grey = await decoder.decode(await sharp({ create: { width: 100, height: 50, channels: 3, background: '#808080' } }).greyscale().png().toBuffer());
    expect(grey[0]).toBe(grey[1]);
    const raw = await decoder.decode(encodeRawRgb(32, 32, new Uint8Array(32 * 32 * 3).fill(90)));
    expect(raw[5]).toBe(90);
    expect(spy).toHaveBeenCalledTimes(3);
  });

  it('a smaller budget (server.maxInputPixels) applies the same way', async () => {
    const tight = new IngestDecoder({ width: 64, height: 64, maxInputPixels: 100 * 100 });
    expect((await problemOf(tight, await solid(101, 100).png().toBuffer())).code).toBe('too_many_pixels');
    expect((await tight.decode(await solid(100, 100).png().toBuffer())).length).toBe(64 * 64 * 3);
  });
});
