import sharp from 'sharp';
import type { Frame } from '../../streams/Frame';

/** A frame as a JPEG (quality 80), for the dashboard's live view and its attention overlay. */
export function frameJpeg(f: Frame): Promise<Buffer> {
  return sharp(Buffer.from(f.rgb.buffer, f.rgb.byteOffset, f.rgb.byteLength), { raw: { width: f.width, height: f.height, channels: 3 } })
    .jpeg({ quality: 80 })
    .toBuffer();
}
