import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Subscription } from 'rxjs';
import { configSchema } from '../../config/schema';
import type { Frame } from '../../streams/Frame';
import type { Logger } from '../../src/util/Logger';
import { WebSocketIngest } from '../../streams/sources/WebSocketIngest';
import { SourceSet } from '../../src/agent/SourceSet';
import { ApiError } from '../../src/types/ApiError';
import { sleep, waitFor } from '../streams/waitFor';

function recordingLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

const LEFT_HALF: [number, number][][] = [[[0, 0], [0.5, 0], [0.5, 1], [0, 1]]];
const config = () => configSchema.parse({ train: { frameSize: 16 }, sources: [{ kind: 'synthetic', id: 'syn', fps: 30, mask: LEFT_HALF }] });

async function refused(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected a ApiError');
}

describe('SourceSet: sources added and removed at run time', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-sources-'));
  const stateFile = path.join(dir, 'state', 'sources.json');
  const ingest = new WebSocketIngest({ width: 16, height: 16 });
  let sub: Subscription | undefined;
  afterEach(() => sub?.unsubscribe());

  test('masks each source right after it, adds and removes sources while frames flow, refuses bad specs with the field named, persists every change', async () => {
    const { log, lines } = recordingLogger();
    const set = new SourceSet(config(), log, stateFile);
    set.open();
    const frames: Frame[] = [];
    sub = set.frames$.subscribe((f) => frames.push(f));
    await waitFor(() => frames.some((f) => f.streamId === 'syn'), 5000, 'frames of the configured source');
    const f = frames.find((x) => x.streamId === 'syn')!;
    for (let row = 0; row < 16; row++) {
      for (let col = 0; col < 16; col++) {
        const px = f.rgb.subarray((row * 16 + col) * 3, (row * 16 + col) * 3 + 3);
        if (col < 8) expect([row, col, ...px]).toEqual([row, col, 0, 0, 0]);
      }
    }
    expect(f.rgb.subarray(0, 16 * 16 * 3).some((v, i) => Math.floor(i / 3) % 16 >= 8 && v > 0)).toBe(true); // the right half is the scene

    const info = await set.add({ kind: 'synthetic', id: 'added', fps: 30, seed: 7 });
    expect(info).toMatchObject({ id: 'added', kind: 'synthetic', origin: 'runtime', live: false, mask: [] });
    await waitFor(() => frames.some((x) => x.streamId === 'added'), 5000, 'frames of the added source');
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8'))).toMatchObject({ version: 1, added: [{ kind: 'synthetic', id: 'added', seed: 7 }], removed: [] });

    const bad = await refused(set.add({ kind: 'url' }));
    expect([bad.status, bad.code, bad.problems]).toEqual([400, 'bad_source', ['url: Invalid input: expected string, received undefined']]);
    expect((await refused(set.add({ kind: 'carrier-pigeon' }))).message).toBe("invalid source: kind: Invalid discriminator value. Expected 'url' | 'file' | 'folder' | 'ws' | 'synthetic'");
    expect((await refused(set.add({ kind: 'synthetic', fps: 'fast' }))).problems).toEqual(['fps: Invalid input: expected number, received string']);
    expect((await refused(set.add({ kind: 'file', path: '/nonexistent/clip.mp4' }))).message).toBe('invalid source: path: "/nonexistent/clip.mp4" does not exist on the agent\'s machine');
    expect((await refused(set.add({ kind: 'url', url: 'file:///etc/passwd' }))).status).toBe(400);
    expect((await refused(set.add({ kind: 'synthetic', id: 'added' }))).status).toBe(409);
    expect((await refused(set.add({ kind: 'synthetic', mask: [[[0, 0], [2, 0], [0, 1]]] }))).problems).toEqual(['mask.0.1.0: Too big: expected number to be <=1']);
    const url = await set.add({ kind: 'url', id: 'door', url: 'rtsp://admin:hunter22@127.0.0.1:1/live', maxAttempts: 1 });
    expect(url).toMatchObject({ live: true, config: { url: 'rtsp://***@127.0.0.1:1/live' } }); // redactSecrets, as everywhere
    expect(set.urlOf('door')).toBe('rtsp://admin:hunter22@127.0.0.1:1/live');

    // the configured source goes: its frames stop, the others go on
    expect(await set.remove('syn')).toBe(true);
    expect(await set.remove('syn')).toBe(false);
    const n = frames.length;
    await sleep(300);
    const later = frames.slice(n);
    expect(later.some((x) => x.streamId === 'added')).toBe(true);
    expect(later.some((x) => x.streamId === 'syn')).toBe(false);
    expect(set.list().map((s) => [s.id, s.origin])).toEqual([['added', 'runtime'], ['door', 'runtime']]);
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8')).removed).toEqual(['syn']);
    // the door camera (port 1 refuses) fails on its own: only its errors may show, the other sources go on
    expect(lines.filter((l) => l.level === 'error' && (l.obj as { streamId?: string }).streamId !== 'door')).toEqual([]);
    sub.unsubscribe();
    set.stop();

    // a restart with the same configuration and state file has the same sources
    const again = new SourceSet(config(), recordingLogger().log, stateFile);
    again.open();
    expect(again.list().map((s) => [s.id, s.origin])).toEqual([['added', 'runtime'], ['door', 'runtime']]);
    expect(await again.remove('door')).toBe(true);
    const back = await again.add({ kind: 'synthetic', id: 'syn', fps: 30 });
    expect(back.origin).toBe('runtime');
    expect(JSON.parse(fs.readFileSync(stateFile, 'utf8'))).toMatchObject({ added: [{ id: 'added' }, { id: 'syn' }], removed: [] });
    again.stop();
  });

  test('a change that cannot be written is refused and nothing changes; an invalid state file is set aside at start', async () => {
    const blocker = path.join(dir, 'not-a-dir');
    fs.writeFileSync(blocker, 'x');
    const set = new SourceSet(config(), recordingLogger().log, path.join(blocker, 'sources.json'));
    set.open();
    const e = await refused(set.add({ kind: 'synthetic', id: 'x' }));
    expect([e.status, e.code]).toEqual([507, 'not_persisted']);
    expect(e.message).toMatch(/^the change was not made: cannot write the sources state file .*not-a-dir\/sources\.json: /);
    expect(set.list().map((s) => s.id)).toEqual(['syn']);
    set.stop();

    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ version: 1, added: [{ kind: 'url' }], removed: [] }));
    const { log, lines } = recordingLogger();
    const fresh = new SourceSet(config(), log, bad);
    fresh.open();
    expect(fresh.list().map((s) => s.id)).toEqual(['syn']);
    expect(lines.find((l) => l.level === 'error')).toMatchObject({
      msg: 'sources: the state file is invalid; starting from the configured sources',
      obj: { err: expect.stringMatching(/^sources state file .*bad\.json: added\.0\.url: Invalid input/) },
    });
    expect(fs.existsSync(bad)).toBe(false);
    expect(fs.readdirSync(dir).some((n) => n.startsWith('bad.json.invalid-'))).toBe(true);
    fresh.stop();
  });
});
