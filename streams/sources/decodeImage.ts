import sharp from 'sharp';

export type Fit = 'stretch' | 'cover';

export interface DecodeOptions {
  width: number;
  height: number;
  /** stretch (default): distort to width x height; cover: keep aspect ratio and centre-crop. */
  fit?: Fit;
  /** Refuse images with more pixels than this before decoding them (decompression bombs). */
  maxInputPixels?: number;
}

/** Raw packed RGB bytes of a known size, already in memory (e.g. an 'RGB0' websocket message). */
export interface RawRgb {
  raw: Uint8Array;
  width: number;
  height: number;
}

/**
 * Decodes JPEG/PNG bytes or a file (or resizes raw RGB) to exactly width*height*3 bytes of packed RGB.
 * Grey and alpha inputs come out as 3-channel sRGB. Throws sharp's error on corrupt input.
 */
export async function decodeToRgb(input: Buffer | Uint8Array | string | RawRgb, o: DecodeOptions): Promise<Uint8Array> {
  const limitInputPixels = o.maxInputPixels ?? 50_000_000;
  let img: sharp.Sharp;
  if (typeof input === 'object' && 'raw' in input) {
    img = sharp(input.raw, { raw: { width: input.width, height: input.height, channels: 3 }, limitInputPixels });
  } else {
    // failOn 'warning': a truncated JPEG is an error, not a half-grey frame.
    img = sharp(input as Buffer | string, { failOn: 'warning', limitInputPixels });
  }
  const { data, info } = await img
    .removeAlpha()
    .toColourspace('srgb')
    .resize(o.width, o.height, { fit: o.fit === 'cover' ? 'cover' : 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const want = o.width * o.height * 3;
  if (info.channels === 3 && data.length === want) {
    // Copy out of sharp's Buffer so frames never pin a larger pooled allocation.
    return new Uint8Array(data);
  }
  if (info.channels === 1 && data.length === o.width * o.height) {
    const rgb = new Uint8Array(want);
    for (let i = 0; i < data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i]!;
    return rgb;
  }
  throw new Error(`decoder returned ${info.width}x${info.height}x${info.channels}, expected ${o.width}x${o.height}x3`);
}
