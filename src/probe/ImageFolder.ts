/**
 * Reader for the evaluation layout `DIR/train/<class>/*` and `DIR/test/<class>/*` (jpg, jpeg, png).
 * Classes are the sorted sub-folders of train (code-point order, like torchvision's ImageFolder), so class
 * indices agree between splits. Layout problems are found up front by `open()` and thrown as
 * ImageFolderError with a code and the offending path, rather than surfacing as a crash halfway through
 * an evaluation; undecodable images are found by `load()`, which can skip and count them instead.
 * Hidden entries (.DS_Store, .git) and files with other extensions are ignored.
 */
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';

export type ImageSplit = 'train' | 'test';

export type ImageFolderErrorCode =
  | 'MISSING_DIR'
  | 'MISSING_SPLIT'
  | 'NO_CLASSES'
  | 'UNKNOWN_CLASS'
  | 'EMPTY_CLASS'
  | 'CORRUPT_IMAGE';

export class ImageFolderError extends Error {
  constructor(
    readonly code: ImageFolderErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ImageFolderError';
  }
}

export interface ImageFile {
  path: string;
  label: number;
  className: string;
}

export interface ImageLoadOptions {
  /** Output is size x size RGB (aspect ratio not kept, as a resize to a square crop size would). */
  size: number;
  /** Skip undecodable images and report them in `skipped` instead of throwing (default false). */
  skipCorrupt?: boolean;
  /** Load at most this many files per class (first in sorted order), for quick runs. */
  limitPerClass?: number;
  /** Images decoded at once (default 4; sharp has its own thread pool). */
  concurrency?: number;
}

export interface LoadedImages {
  /** One size*size*3 RGB buffer per loaded image, row-major, in `files` order. */
  images: Uint8Array[];
  labels: number[];
  files: ImageFile[];
  skipped: { path: string; error: string }[];
  size: number;
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

export class ImageFolder {
  private constructor(
    readonly root: string,
    readonly classes: string[],
    private readonly splits: Map<ImageSplit, ImageFile[]>,
  ) {}

  /** Lists and validates the folder; throws ImageFolderError on a bad layout. */
  static open(root: string, opts: { splits?: ImageSplit[] } = {}): ImageFolder {
    const splits = opts.splits ?? ['train', 'test'];
    if (!isDir(root)) throw new ImageFolderError('MISSING_DIR', root, `image folder not found: ${root}`);
    const classDirs = new Map<ImageSplit, string[]>();
    for (const split of new Set<ImageSplit>(['train', ...splits])) {
      const dir = path.join(root, split);
      if (!isDir(dir)) {
        throw new ImageFolderError('MISSING_SPLIT', dir, `missing split folder "${split}" in ${root} (expected ${root}/${split}/<class>/*)`);
      }
      classDirs.set(split, visible(dir).filter((e) => isDir(path.join(dir, e))).sort());
    }
    const classes = classDirs.get('train')!;
    if (classes.length === 0) throw new ImageFolderError('NO_CLASSES', path.join(root, 'train'), `no class folders in ${root}/train`);

    const files = new Map<ImageSplit, ImageFile[]>();
    for (const split of splits) {
      const list: ImageFile[] = [];
      for (const className of classDirs.get(split)!) {
        const dir = path.join(root, split, className);
        const label = classes.indexOf(className);
        if (label < 0) {
          throw new ImageFolderError('UNKNOWN_CLASS', dir, `class "${className}" is in ${split} but not in train (${root}/train)`);
        }
        const images = visible(dir)
          .filter((f) => IMAGE_EXT.has(path.extname(f).toLowerCase()) && !isDir(path.join(dir, f)))
          .sort();
        if (images.length === 0) throw new ImageFolderError('EMPTY_CLASS', dir, `class folder has no jpg/jpeg/png images: ${dir}`);
        for (const f of images) list.push({ path: path.join(dir, f), label, className });
      }
      files.set(split, list);
    }
    return new ImageFolder(root, classes, files);
  }

  files(split: ImageSplit): ImageFile[] {
    const list = this.splits.get(split);
    if (!list) throw new ImageFolderError('MISSING_SPLIT', path.join(this.root, split), `split "${split}" was not opened`);
    return list;
  }

  /** Decodes a split to RGB at size x size. */
  async load(split: ImageSplit, opts: ImageLoadOptions): Promise<LoadedImages> {
    const { size } = opts;
    if (!Number.isInteger(size) || size < 1) throw new Error(`ImageFolder.load: bad size ${size}`);
    let list = this.files(split);
    if (opts.limitPerClass !== undefined) {
      const taken = new Map<number, number>();
      list = list.filter((f) => {
        const n = taken.get(f.label) ?? 0;
        taken.set(f.label, n + 1);
        return n < opts.limitPerClass!;
      });
    }
    const decoded: (Uint8Array | null)[] = new Array(list.length).fill(null);
    const skipped: { path: string; error: string }[] = [];
    let next = 0;
    let failed = false; // stops the other workers once one has thrown
    const worker = async (): Promise<void> => {
      while (next < list.length && !failed) {
        const i = next++;
        const file = list[i]!;
        try {
          decoded[i] = await decodeRgb(file.path, size);
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          if (!opts.skipCorrupt) {
            failed = true;
            throw new ImageFolderError('CORRUPT_IMAGE', file.path, `cannot decode image ${file.path}: ${error}`);
          }
          skipped.push({ path: file.path, error });
        }
      }
    };
    const workers = Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker);
    await Promise.all(workers);
    const out: LoadedImages = { images: [], labels: [], files: [], skipped, size };
    list.forEach((f, i) => {
      const img = decoded[i];
      if (!img) return;
      out.images.push(img);
      out.labels.push(f.label);
      out.files.push(f);
    });
    skipped.sort((a, b) => (a.path < b.path ? -1 : 1));
    return out;
  }
}

async function decodeRgb(file: string, size: number): Promise<Uint8Array> {
  // toColourspace('srgb') turns grayscale into 3 channels; removeAlpha drops a PNG's alpha.
  const { data, info } = await sharp(file)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== size * size * 3) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function visible(dir: string): string[] {
  return fs.readdirSync(dir).filter((e) => !e.startsWith('.'));
}
