/**
 * One decoded video frame, the unit every source emits.
 * Pixels are packed RGB, row-major, 3 bytes per pixel (HWC), exactly width*height*3 bytes.
 */
export interface Frame {
  /** Which camera / feed this frame came from (unique per source). */
  readonly streamId: string;
  /** Capture (or arrival) time, milliseconds since the Unix epoch. */
  readonly t: number;
  /** 0-based position of this frame within its stream since the source started. */
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

/** Throws a clear error when the pixel buffer does not match the declared size. */
export function assertFrame(f: Frame): void {
  if (!Number.isInteger(f.width) || !Number.isInteger(f.height) || f.width <= 0 || f.height <= 0) {
    throw new Error(`frame of stream "${f.streamId}": width and height must be positive integers, got ${f.width}x${f.height}`);
  }
  const want = f.width * f.height * 3;
  if (f.rgb.length !== want) {
    throw new Error(
      `frame of stream "${f.streamId}": expected ${want} RGB bytes for ${f.width}x${f.height}, got ${f.rgb.length}`,
    );
  }
}
