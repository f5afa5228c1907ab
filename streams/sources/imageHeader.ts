/**
 * What a JPEG or PNG says about itself before a single pixel is decoded: its size, sample depth and channels,
 * and for PNG whether it is animated. Read from the header alone, so a decompression bomb (a few KB declaring
 * 20000x20000) is refused without the decoder allocating anything.
 */
export interface ImageHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  /** Bits per sample: 1-16 (PNG), 8 or 12 (JPEG). */
  bitDepth: number;
  /** Channels the decoder produces (a palette expands to RGB, or RGBA with a tRNS chunk). */
  channels: number;
  /** APNG: an acTL chunk before the image data. */
  animated: boolean;
}

export class ImageHeaderError extends Error {}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

export function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v);
}

export function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/** The header of a JPEG or PNG; throws ImageHeaderError when it is missing, truncated or inconsistent. */
export function readImageHeader(b: Uint8Array): ImageHeader {
  if (isPng(b)) return readPng(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (isJpeg(b)) return readJpeg(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  throw new ImageHeaderError('neither a JPEG nor a PNG');
}

function readPng(b: Buffer): ImageHeader {
  // IHDR must be the first chunk: length 13, then width, height, depth, colour type, compression, filter, interlace.
  if (b.length < 33 || b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') {
    throw new ImageHeaderError('PNG without a complete IHDR chunk first');
  }
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const bitDepth = b[24]!;
  const colorType = b[25]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) throw new ImageHeaderError(`PNG declares ${width}x${height}`);
  if (!PNG_DEPTHS[colorType]?.includes(bitDepth)) throw new ImageHeaderError(`PNG colour type ${colorType} with bit depth ${bitDepth} is not valid`);
  let channels = PNG_CHANNELS[colorType]!;
  let animated = false;
  // Walk the chunks up to the image data: acTL (animation) and tRNS (palette transparency) come before IDAT.
  for (let off = 33; off + 8 <= b.length; ) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'acTL') animated = true;
    if (type === 'tRNS' && (colorType === 0 || colorType === 2 || colorType === 3)) channels = colorType === 0 ? 2 : 4;
    off += 12 + len;
  }
  return { format: 'png', width, height, bitDepth, channels, animated };
}

// SOF0-SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
const isSof = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function readJpeg(b: Buffer): ImageHeader {
  let off = 2;
  while (off < b.length) {
    if (b[off] !== 0xff) throw new ImageHeaderError(`JPEG marker expected at byte ${off}`);
    let marker = b[off + 1];
    while (marker === 0xff) marker = b[++off + 1]; // fill bytes
    if (marker === undefined) break;
    off += 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // no length
    if (marker === 0xd9 || marker === 0xda) throw new ImageHeaderError('JPEG reaches its image data without a frame header (SOF)');
    if (off + 2 > b.length) break;
    const len = b.readUInt16BE(off);
    if (len < 2) throw new ImageHeaderError(`JPEG segment of length ${len}`);
    if (isSof(marker)) {
      if (off + 8 > b.length) break;
      const bitDepth = b[off + 2]!;
      const height = b.readUInt16BE(off + 3);
      const width = b.readUInt16BE(off + 5);
      const channels = b[off + 7]!;
      // Height 0 defers the size to a DNL marker after the first scan: the decoder cannot be held to a budget.
      if (width === 0 || height === 0) throw new ImageHeaderError(`JPEG declares ${width}x${height}`);
      if (channels < 1 || channels > 4) throw new ImageHeaderError(`JPEG with ${channels} components`);
      return { format: 'jpeg', width, height, bitDepth, channels, animated: false };
    }
    off += len;
  }
  throw new ImageHeaderError('JPEG truncated before its frame header (SOF)');
}
