import { accessSync, constants } from 'fs';
import { delimiter, join } from 'path';

/**
 * Which ffmpeg binary to run: an explicit path wins, then `ffmpeg` on PATH (the system build is newer and
 * has the RTSP/TLS options we use), then the static build shipped by @ffmpeg-installer/ffmpeg.
 */
export function resolveFfmpegPath(explicit?: string): string {
  if (explicit) return explicit;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'ffmpeg');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    throw new Error('no ffmpeg found: install ffmpeg (apt-get install ffmpeg) or @ffmpeg-installer/ffmpeg, or pass ffmpegPath');
  }
}
