import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import sharp from 'sharp';
import type { Frame } from '../../streams/Frame';
import type { Logger } from '../../src/util/Logger';
import { EVENT_ID, EventStore, type EventStoreOptions } from '../../src/events/EventStore';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 11, 7, 10, 15, 30, 123);

/** A frame of one colour (so a decoded JPEG can be checked against it). */
function solid(streamId: string, rgb: [number, number, number], size = 32, index = 0): Frame {
  const px = new Uint8Array(size * size * 3);
  for (let i = 0; i < px.length; i += 3) px.set(rgb, i);
  return { streamId, t: T0 + index, index, width: size, height: size, rgb: px };
}

async function meanColour(jpeg: Buffer): Promise<{ size: [number, number]; rgb: number[] }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  const sums = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) for (let c = 0; c < 3; c++) sums[c]! += data[i + c]!;
  const n = data.length / info.channels;
  return { size: [info.width, info.height], rgb: sums.map((s) => Math.round(s / n)) };
}

function recordingLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

const tmpDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'dino-events-'));
const opts = (dir: string, o: Partial<EventStoreOptions> = {}): EventStoreOptions => ({ dir, maxCount: 100, maxBytes: 1 << 30, maxAgeDays: 30, log: recordingLogger().log, ...o });
const novelty = (streamId: string, t: number) => ({ type: 'novelty', streamId, t, score: 0.4, calibrated: 0.999, threshold: 0.995 });

describe('EventStore', () => {
  test('the picture and JSON exist on disk when record() resolves; the JPEG is the frame that raised the event', async () => {
    const dir = tmpDir();
    const store = new EventStore(opts(dir));
    await store.open();
    const rec = await store.record(novelty('door', T0), { snapshot: solid('door', [200, 40, 30]) });
    expect(rec.id).toMatch(EVENT_ID);
    expect(rec.id.startsWith('20261207T101530123Z-')).toBe(true);
    expect(rec).toMatchObject({ type: 'novelty', streamId: 'door', t: T0, score: 0.4, snapshot: `/api/events/${rec.id}/snapshot.jpg` });
    expect(rec.before).toBeUndefined();
    expect(fs.readdirSync(dir).sort()).toEqual([`${rec.id}.jpg`, `${rec.id}.json`]);
    const pic = await store.picture(rec.id, 'snapshot');
    const m = await meanColour(pic!);
    expect(m.size).toEqual([32, 32]);
    for (const [got, want] of m.rgb.map((v, i) => [v, [200, 40, 30][i]!])) expect(Math.abs(got! - want)).toBeLessThanOrEqual(3);
    expect(JSON.parse(fs.readFileSync(path.join(dir, `${rec.id}.json`), 'utf8'))).toEqual(rec);
    expect(store.size.bytes).toBe(fs.statSync(path.join(dir, `${rec.id}.jpg`)).size + fs.statSync(path.join(dir, `${rec.id}.json`)).size);
  });

  test('a drift event carries the scene before the change and the frame after it', async () => {
    const store = new EventStore(opts(tmpDir()));
    await store.open();
    const rec = await store.record(
      { type: 'drift', streamId: 'yard', t: T0, statistic: 0.3, pValue: 0 },
      { before: solid('yard', [0, 0, 255]), snapshot: solid('yard', [0, 255, 0]) },
    );
    expect(rec.before).toBe(`/api/events/${rec.id}/before.jpg`);
    expect((await meanColour((await store.picture(rec.id, 'before'))!)).rgb[2]).toBeGreaterThan(240);
    expect((await meanColour((await store.picture(rec.id, 'snapshot'))!)).rgb[1]).toBeGreaterThan(240);
  });

  test('list filters by stream, type and since, newest first, with a limit', async () => {
    const store = new EventStore(opts(tmpDir()));
    await store.open();
    const a = await store.record(novelty('a', T0), {});
    const b = await store.record(novelty('b', T0 + 1000), {});
    const c = await store.record({ type: 'drift', streamId: 'a', t: T0 + 2000 }, {});
    const d = await store.record(novelty('a', T0 + 3000), {});
    const ids = (q: Parameters<EventStore['list']>[0]) => store.list(q).map((r) => r.id);
    expect(ids({})).toEqual([d.id, c.id, b.id, a.id]);
    expect(ids({ stream: 'a' })).toEqual([d.id, c.id, a.id]);
    expect(ids({ type: 'novelty', stream: 'a' })).toEqual([d.id, a.id]);
    expect(ids({ since: T0 + 1000 })).toEqual([d.id, c.id, b.id]);
    expect(ids({ limit: 2 })).toEqual([d.id, c.id]);
    expect(store.get(b.id)).toEqual(b);
    expect(store.get('../../etc/passwd')).toBeUndefined();
    expect(await store.picture(a.id, 'snapshot')).toBeUndefined(); // recorded without a picture
  });

  test('a restart finds the stored events; temp files, pictures without JSON and unreadable JSON are dealt with', async () => {
    const dir = tmpDir();
    const first = new EventStore(opts(dir));
    await first.open();
    const kept = await first.record(novelty('cam', T0), { snapshot: solid('cam', [10, 20, 30]) });
    fs.writeFileSync(path.join(dir, `.${kept.id}.json.123.456.tmp`), 'half a file');
    fs.writeFileSync(path.join(dir, '20261207T101531000Z-abcdef.jpg'), 'a picture whose JSON was never written');
    fs.writeFileSync(path.join(dir, '20261207T101532000Z-abcdef.json'), '{"id": "truncated');
    const { log, lines } = recordingLogger();
    const second = new EventStore(opts(dir, { log }));
    await second.open();
    expect(second.list()).toEqual([kept]);
    expect((await second.picture(kept.id, 'snapshot'))!.length).toBeGreaterThan(100);
    expect(fs.readdirSync(dir).sort()).toEqual([`${kept.id}.jpg`, `${kept.id}.json`, '20261207T101532000Z-abcdef.json'].sort());
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual(['event store: skipping an unreadable event file']);
  });

  test('retention by count: the oldest go, the newest stay, on disk too', async () => {
    const dir = tmpDir();
    const store = new EventStore(opts(dir, { maxCount: 3 }));
    await store.open();
    const recs = [];
    for (let i = 0; i < 5; i++) recs.push(await store.record(novelty('cam', T0 + i * 1000), { snapshot: solid('cam', [i * 40, 0, 0]) }));
    expect(store.list().map((r) => r.id)).toEqual(recs.slice(2).reverse().map((r) => r.id));
    expect(fs.readdirSync(dir).length).toBe(6);
    expect(store.pruned).toBe(2);
  });

  test('retention by bytes keeps the total under maxBytes, but never drops the event just written', async () => {
    const dir = tmpDir();
    const probe = new EventStore(opts(tmpDir()));
    await probe.open();
    await probe.record(novelty('cam', T0), { snapshot: solid('cam', [1, 2, 3], 64) });
    const one = probe.size.bytes;
    const store = new EventStore(opts(dir, { maxBytes: Math.floor(one * 2.5) }));
    await store.open();
    for (let i = 0; i < 4; i++) await store.record(novelty('cam', T0 + i), { snapshot: solid('cam', [1, 2, 3], 64) });
    expect(store.size.count).toBe(2);
    expect(store.size.bytes).toBeLessThanOrEqual(one * 2.5);
    const tiny = new EventStore(opts(tmpDir(), { maxBytes: 10 }));
    await tiny.open();
    const only = await tiny.record(novelty('cam', T0), { snapshot: solid('cam', [1, 2, 3]) });
    expect(tiny.list().map((r) => r.id)).toEqual([only.id]);
  });

  test('retention by age, at open and on each record', async () => {
    const dir = tmpDir();
    let now = T0;
    const store = new EventStore(opts(dir, { maxAgeDays: 2, now: () => now }));
    await store.open();
    const old = await store.record(novelty('cam', T0 - 3 * DAY), {});
    expect(store.list()).toEqual([old]); // the one just written is kept even when already too old
    const recent = await store.record(novelty('cam', T0 - DAY), {});
    expect(store.list()).toEqual([recent]);
    now = T0 + 2 * DAY;
    const reopened = new EventStore(opts(dir, { maxAgeDays: 2, now: () => now }));
    await reopened.open();
    expect(reopened.list()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  describe('a full disk', () => {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-events-full-'));
    let mounted = false;
    let why = 'not root, so no tmpfs can be mounted';
    beforeAll(() => {
      if (process.getuid?.() !== 0) return;
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
        mounted = true;
      } catch (e) {
        why = `mount -t tmpfs failed: ${(e as Error).message.split('\n')[0]}`;
      }
    });
    afterAll(() => {
      if (mounted) execFileSync('umount', [mnt]);
    });

    test('gets a clear error, the event is still returned and listed, stored events are untouched, writing resumes once space is freed', async () => {
      if (!mounted) {
        if (process.env.CI) throw new Error(`the full-disk test needs a small tmpfs: ${why}`);
        console.warn(`skipping the full-disk test: ${why}`);
        return;
      }
      const { log, lines } = recordingLogger();
      const store = new EventStore(opts(mnt, { log }));
      await store.open();
      const before = await store.record(novelty('cam', T0), { snapshot: solid('cam', [90, 90, 90], 64) });
      const stored = fs.readFileSync(path.join(mnt, `${before.id}.jpg`));
      // fill the disk to the last byte
      const filler = path.join(mnt, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096));
      } catch (e) {
        expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
      }
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(1));
      } catch {
        /* full */
      }
      fs.closeSync(fd);

      const lost = await store.record(novelty('cam', T0 + 1000), { snapshot: solid('cam', [250, 0, 0], 64) });
      expect(lost.snapshot).toBeUndefined();
      expect(lost.snapshotError).toMatch(/^not stored: the disk is full \(ENOSPC/);
      expect(store.failures).toBe(1);
      const err = lines.find((l) => l.level === 'error')!;
      expect(err.msg).toMatch(/cannot write novelty event .* it is published without a picture \(free space or lower events.maxBytes\)/);
      expect(store.list().map((r) => r.id)).toEqual([lost.id, before.id]);
      expect(fs.readdirSync(mnt).sort()).toEqual([`${before.id}.jpg`, `${before.id}.json`, 'filler'].sort());
      expect(fs.readFileSync(path.join(mnt, `${before.id}.jpg`)).equals(stored)).toBe(true);

      fs.rmSync(filler);
      const after = await store.record(novelty('cam', T0 + 2000), { snapshot: solid('cam', [0, 0, 250], 64) });
      expect(after.snapshot).toBeDefined();
      expect(await store.picture(after.id, 'snapshot')).toBeDefined();
      const reopened = new EventStore(opts(mnt));
      await reopened.open();
      expect(reopened.list().map((r) => r.id)).toEqual([after.id, before.id]);
    });
  });
});
