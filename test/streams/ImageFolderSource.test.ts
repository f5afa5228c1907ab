import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';
import { lastValueFrom, take, toArray } from 'rxjs';
import sharp from 'sharp';
import { ImageFolderSource, ImageFrame, listImages } from '../../streams/sources/ImageFolderSource';
import { silentLogger } from '../../src/util/Logger';
import { sharedData } from '../helpers/sharedData';

const CIFAR = sharedData('cifar10/test');

describe('ImageFolderSource', () => {
  let dir: string;

  beforeAll(async () => {
    // DIR/<class>/*: 3 cats, 2 ships (one as PNG, one grey), a corrupt file and a non-image
    dir = mkdtempSync(join(tmpdir(), 'imgsrc-'));
    mkdirSync(join(dir, 'cat'));
    mkdirSync(join(dir, 'ship'));
    for (const i of ['0000', '0001', '0002']) copyFileSync(join(CIFAR, 'cat', `${i}.jpg`), join(dir, 'cat', `${i}.jpg`));
    await sharp(join(CIFAR, 'ship', '0000.jpg')).png().toFile(join(dir, 'ship', 'a.png'));
    await sharp(join(CIFAR, 'ship', '0001.jpg')).grayscale().jpeg().toFile(join(dir, 'ship', 'b_grey.jpg'));
    writeFileSync(join(dir, 'ship', 'broken.jpg'), readFileSync(join(CIFAR, 'ship', '0002.jpg')).subarray(0, 100));
    writeFileSync(join(dir, 'ship', 'notes.txt'), 'not an image');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists images with their class label', async () => {
    const files = await listImages(dir);
    expect(files.map((f) => [f.path.slice(dir.length + 1), f.label])).toEqual([
      ['cat/0000.jpg', 'cat'],
      ['cat/0001.jpg', 'cat'],
      ['cat/0002.jpg', 'cat'],
      ['ship/a.png', 'ship'],
      ['ship/b_grey.jpg', 'ship'],
      ['ship/broken.jpg', 'ship'],
    ]);
  });

  it('decodes every readable image to width x height RGB in order, skips and counts the broken one', async () => {
    const src = new ImageFolderSource({ streamId: 'cifar', dir, width: 24, height: 16, logger: silentLogger });
    const frames = await lastValueFrom(src.frames$.pipe(toArray()));
    expect(frames.map((f) => f.path.slice(dir.length + 1))).toEqual(['cat/0000.jpg', 'cat/0001.jpg', 'cat/0002.jpg', 'ship/a.png', 'ship/b_grey.jpg']);
    expect(frames.map((f) => f.label)).toEqual(['cat', 'cat', 'cat', 'ship', 'ship']);
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2, 3, 4]);
    for (const f of frames) expect([f.streamId, f.width, f.height, f.rgb.length]).toEqual(['cifar', 24, 16, 24 * 16 * 3]);
    const grey = frames[4]!.rgb;
    for (let i = 0; i < grey.length; i += 3) expect(grey[i]).toBe(grey[i + 1]); // grey JPEG became 3 equal channels
    expect(src.stats.errors).toBe(1);
    expect(src.stats.emitted).toBe(5);
    expect(src.stats.lastError).toMatch(/broken\.jpg: .*(premature end|corrupt|truncated)/i);
  });

  it('shuffles deterministically per seed, loops, and paces to fps', async () => {
    const order = async (seed: number) =>
      (await lastValueFrom(new ImageFolderSource({ streamId: 's', dir, width: 8, height: 8, order: 'shuffled', seed, loop: true, logger: silentLogger }).frames$.pipe(take(10), toArray()))).map(
        (f: ImageFrame) => f.path,
      );
    const a = await order(1);
    expect(await order(1)).toEqual(a);
    expect(await order(2)).not.toEqual(a);
    // two passes over the 5 readable images: each pass a permutation of them
    expect(new Set(a.slice(0, 5)).size).toBe(5);
    expect(new Set(a.slice(5, 10)).size).toBe(5);

    const t0 = Date.now();
    const paced = await lastValueFrom(new ImageFolderSource({ streamId: 'p', dir, width: 8, height: 8, loop: true, fps: 20, logger: silentLogger }).frames$.pipe(take(8), toArray()));
    const ms = Date.now() - t0;
    expect(paced.length).toBe(8);
    expect(ms).toBeGreaterThanOrEqual(7 * 50 - 10);
    expect(ms).toBeLessThan(1500);
  });

  it('errors when nothing in the folder decodes (instead of spinning)', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'imgsrc-bad-'));
    writeFileSync(join(bad, 'x.jpg'), 'nope');
    try {
      const src = new ImageFolderSource({ streamId: 'b', dir: bad, width: 8, height: 8, loop: true, logger: silentLogger });
      await expect(lastValueFrom(src.frames$)).rejects.toThrow(/none of 1 files/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
