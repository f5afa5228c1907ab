import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { ImageFolder, ImageFolderError } from '../../src/probe/ImageFolder';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10');

async function png(file: string, channels: 1 | 3 | 4, value: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(Buffer.alloc(8 * 8 * channels, value), { raw: { width: 8, height: 8, channels } }).png().toFile(file);
}

/** Expects `fn` to throw an ImageFolderError with this code whose path ends with `pathEnd`. */
async function expectError(fn: () => unknown, code: string, pathEnd: string): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ImageFolderError);
  const err = caught as ImageFolderError;
  expect(err.code).toBe(code);
  expect(err.path.endsWith(pathEnd)).toBe(true);
  expect(err.message).toContain(pathEnd);
}

describe('ImageFolder on the real CIFAR-10 folder', () => {
  test('lists sorted classes and all files', () => {
    const f = ImageFolder.open(CIFAR);
    expect(f.classes).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(f.files('train')).toHaveLength(5000);
    expect(f.files('test')).toHaveLength(1000);
    const first = f.files('test')[0]!;
    expect(first.className).toBe('airplane');
    expect(first.label).toBe(0);
    expect(f.files('test')[999]!.label).toBe(9);
  });

  test('loads RGB at the requested size, labels aligned with files', async () => {
    const f = ImageFolder.open(CIFAR);
    const out = await f.load('test', { size: 16, limitPerClass: 2 });
    expect(out.images).toHaveLength(20);
    expect(out.labels).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
    expect(out.images.every((im) => im.length === 16 * 16 * 3)).toBe(true);
    expect(out.skipped).toEqual([]);
    // Real pixels, not a zero buffer.
    expect(out.images[0]!.some((v) => v > 0)).toBe(true);
  });
});

describe('ImageFolder on broken folders', () => {
  let root: string;
  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'imagefolder-'));
    await png(path.join(root, 'train/cat/a.png'), 3, 100);
    await png(path.join(root, 'train/cat/b.png'), 4, 150); // alpha dropped
    await png(path.join(root, 'train/dog/a.png'), 1, 200); // grayscale becomes 3 channels
    await png(path.join(root, 'test/cat/a.png'), 3, 50);
    await png(path.join(root, 'test/dog/a.png'), 3, 60);
    fs.writeFileSync(path.join(root, 'train/cat/notes.txt'), 'ignored');
    fs.writeFileSync(path.join(root, 'train/.DS_Store'), 'ignored');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('a good small folder opens and loads (grayscale and RGBA to RGB)', async () => {
    const f = ImageFolder.open(root);
    expect(f.classes).toEqual(['cat', 'dog']);
    expect(f.files('train').map((x) => path.basename(x.path))).toEqual(['a.png', 'b.png', 'a.png']);
    const out = await f.load('train', { size: 4 });
    expect(out.labels).toEqual([0, 0, 1]);
    expect(out.images.every((im) => im.length === 4 * 4 * 3)).toBe(true);
    expect(Array.from(out.images[2]!.slice(0, 3))).toEqual([200, 200, 200]);
  });

  test('missing directory', async () => {
    await expectError(() => ImageFolder.open(path.join(root, 'nope')), 'MISSING_DIR', 'nope');
  });

  test('missing split', async () => {
    fs.rmSync(path.join(root, 'test'), { recursive: true });
    await expectError(() => ImageFolder.open(root), 'MISSING_SPLIT', 'test');
    expect(ImageFolder.open(root, { splits: ['train'] }).files('train')).toHaveLength(3);
  });

  test('class present in test but not in train', async () => {
    await png(path.join(root, 'test/bird/a.png'), 3, 10);
    await expectError(() => ImageFolder.open(root), 'UNKNOWN_CLASS', 'bird');
  });

  test('class in train but not in test is fine', () => {
    fs.rmSync(path.join(root, 'test/dog'), { recursive: true });
    expect(ImageFolder.open(root).files('test')).toHaveLength(1);
  });

  test('empty class folder (no images, other files ignored)', async () => {
    fs.mkdirSync(path.join(root, 'train/fish'));
    fs.writeFileSync(path.join(root, 'train/fish/readme.md'), 'no images here');
    await expectError(() => ImageFolder.open(root), 'EMPTY_CLASS', 'fish');
  });

  test('no class folders at all', async () => {
    fs.rmSync(path.join(root, 'train'), { recursive: true });
    fs.mkdirSync(path.join(root, 'train'));
    fs.rmSync(path.join(root, 'test'), { recursive: true });
    fs.mkdirSync(path.join(root, 'test'));
    await expectError(() => ImageFolder.open(root), 'NO_CLASSES', 'train');
  });

  test('corrupt images: error naming the file, or skipped and counted', async () => {
    fs.writeFileSync(path.join(root, 'train/dog/broken.jpg'), Buffer.from('this is not a jpeg'));
    await expectError(() => ImageFolder.open(root).load('train', { size: 8 }), 'CORRUPT_IMAGE', 'broken.jpg');
    const good = fs.readFileSync(path.join(CIFAR, 'train/cat/0000.jpg'));
    fs.writeFileSync(path.join(root, 'train/cat/truncated.jpg'), good.subarray(0, 300));
    const f = ImageFolder.open(root); // listing does not decode
    expect(f.files('train')).toHaveLength(5);
    const out = await f.load('train', { size: 8, skipCorrupt: true });
    expect(out.images).toHaveLength(3);
    expect(out.labels).toEqual([0, 0, 1]);
    expect(out.skipped.map((s) => path.basename(s.path))).toEqual(['truncated.jpg', 'broken.jpg']); // in file order: cat/ before dog/
    expect(out.skipped.every((s) => s.error.length > 0)).toBe(true);
  });
});
