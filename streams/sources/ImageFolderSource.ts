import { promises as fs } from 'fs';
import { extname, join, relative, sep } from 'path';
import { Observable } from 'rxjs';
import { Frame } from '../Frame';
import { Random } from '../../src/util/Random';
import { defaultLogger, Logger } from '../../src/util/Logger';
import { decodeToRgb, Fit } from './decodeImage';

export interface ImageFolderSourceOptions {
  streamId: string;
  dir: string;
  width: number;
  height: number;
  fit?: Fit;
  /** Walk subfolders (default true). `DIR/<class>/*` is the usual layout; the class becomes the frame's label. */
  recursive?: boolean;
  /** sorted (default, by path) or shuffled with `seed` (reshuffled each pass, deterministically). */
  order?: 'sorted' | 'shuffled';
  seed?: number;
  /** Start again after the last image (default false: complete). */
  loop?: boolean;
  /** Frames per second; unset = as fast as decoding goes. */
  fps?: number;
  extensions?: string[];
  logger?: Logger;
}

/** A frame from an image file; still a Frame, plus where it came from. */
export interface ImageFrame extends Frame {
  readonly path: string;
  /** First folder below dir (the class in `DIR/<class>/*`), undefined for files directly in dir. */
  readonly label: string | undefined;
}

export interface ImageEntry {
  path: string;
  label: string | undefined;
}

export interface ImageFolderStats {
  emitted: number;
  /** Files that could not be decoded (skipped). */
  errors: number;
  lastError: string | undefined;
}

const DEFAULT_EXTENSIONS = ['.jpg', '.jpeg', '.png'];

/** Image files under dir, sorted by path, with their class label. */
export async function listImages(dir: string, recursive = true, extensions = DEFAULT_EXTENSIONS): Promise<ImageEntry[]> {
  const exts = new Set(extensions.map((e) => e.toLowerCase()));
  const out: ImageEntry[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fs.readdir(d, { withFileTypes: true });
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (recursive) await walk(p);
      } else if (exts.has(extname(e.name).toLowerCase())) {
        const rel = relative(dir, p).split(sep);
        out.push({ path: p, label: rel.length > 1 ? rel[0] : undefined });
      }
    }
  };
  await walk(dir);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return out;
}

/**
 * Images from a folder as a stream of frames, decoded and resized with sharp. Cold: each subscription walks the
 * folder again from the start. Unreadable files are logged, counted and skipped; a pass in which nothing
 * decodes is an error (otherwise a looping source would spin forever on broken files).
 */
export class ImageFolderSource {
  readonly frames$: Observable<ImageFrame>;
  private readonly st: ImageFolderStats = { emitted: 0, errors: 0, lastError: undefined };
  private readonly log: Logger;

  constructor(private readonly o: ImageFolderSourceOptions) {
    if (o.fps !== undefined && !(o.fps > 0)) throw new Error(`ImageFolderSource ${o.streamId}: fps must be > 0`);
    this.log = o.logger ?? defaultLogger();
    this.frames$ = new Observable<ImageFrame>((subscriber) => {
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const wait = (ms: number) => new Promise<void>((r) => (timer = setTimeout(r, ms)));
      const run = async () => {
        const files = await listImages(o.dir, o.recursive ?? true, o.extensions ?? DEFAULT_EXTENSIONS);
        if (files.length === 0) throw new Error(`ImageFolderSource ${o.streamId}: no images in ${o.dir}`);
        const rng = new Random(o.seed ?? 0);
        const period = o.fps ? 1000 / o.fps : 0;
        let due = Date.now();
        let index = 0;
        do {
          const order = o.order === 'shuffled' ? rng.shuffle([...files]) : files;
          let decodedThisPass = 0;
          for (const entry of order) {
            if (stopped) return;
            let rgb: Uint8Array;
            try {
              rgb = await decodeToRgb(entry.path, { width: o.width, height: o.height, fit: o.fit });
            } catch (e) {
              this.st.errors++;
              this.st.lastError = `${entry.path}: ${(e as Error).message}`;
              this.log.warn({ streamId: o.streamId, path: entry.path, err: (e as Error).message }, 'unreadable image skipped');
              continue;
            }
            decodedThisPass++;
            if (period) {
              const ms = due - Date.now();
              if (ms > 0) await wait(ms);
              // Never try to catch up after a slow decode: a burst would defeat the rate limit.
              due = Math.max(due + period, Date.now());
            }
            if (stopped) return;
            this.st.emitted++;
            subscriber.next({
              streamId: o.streamId,
              t: Date.now(),
              index: index++,
              width: o.width,
              height: o.height,
              rgb,
              path: entry.path,
              label: entry.label,
            });
          }
          if (decodedThisPass === 0) {
            throw new Error(`ImageFolderSource ${o.streamId}: none of ${files.length} files in ${o.dir} could be decoded (${this.st.lastError})`);
          }
        } while (o.loop && !stopped);
        subscriber.complete();
      };
      run().catch((e) => subscriber.error(e));
      return () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      };
    });
  }

  get stats(): Readonly<ImageFolderStats> {
    return { ...this.st };
  }
}
