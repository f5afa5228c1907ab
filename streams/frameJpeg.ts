import sharp from 'sharp';
import type { Frame } from './Frame';

/** A frame's pixels as a JPEG (the dashboard's thumbnails, attention overlays and event snapshots). */
export function frameJpeg(f: Frame, quality = 80): Promise<Buffer> {
  return sharp(Buffer.from(f.rgb.buffer, f.rgb.byteOffset, f.rgb.byteLength), { raw: { width: f.width, height: f.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}
