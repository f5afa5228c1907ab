/**
 * Checkpoint header fuzz: headers mutated (wrong types, missing and extra fields, hostile sizes, broken JSON) with
 * the SHA-256 recomputed, so that only the header checks stand between the file and the reader.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../helpers/backend';
import { Random } from '../../src/util/Random';
import { Trainer } from '../../src/train/Trainer';
import { CheckpointStore } from '../../src/train/CheckpointStore';
import { CheckpointError, CheckpointMismatchError } from '../../src/train/Checkpoint';
import { resumeFrameTrainer, saveTrainer } from '../../src/train/TrainerCheckpoint';
import { validateTrainerCheckpoint } from '../../src/train/TrainerCheckpointSchema';
import { resumeOptions, runSteps } from './resumeRun';
import { tmpDir } from './checkpointFixtures';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The parts of a checkpoint file, to rebuild it around another header. */
function split(buf: Buffer): { fixed: Buffer; header: Json; payload: Buffer } {
  const headerEnd = 16 + buf.readUInt32LE(12);
  const payloadStart = headerEnd + ((4 - (headerEnd % 4)) % 4);
  return { fixed: buf.subarray(0, 16), header: JSON.parse(buf.subarray(16, headerEnd).toString('utf8')) as Json, payload: buf.subarray(payloadStart, buf.length - 32) };
}

/** A file around `headerText` with a correct hash; `headerBytes` and `version` as given (default: the true ones). */
function assemble(fixed: Buffer, headerText: string, payload: Buffer, o: { headerBytes?: number; version?: number } = {}): Buffer {
  const header = Buffer.from(headerText, 'utf8');
  const f = Buffer.from(fixed);
  f.writeUInt32LE(o.version ?? 1, 8);
  f.writeUInt32LE(o.headerBytes ?? header.length, 12);
  const pad = Buffer.alloc((4 - ((16 + header.length) % 4)) % 4, 0x20);
  const body = Buffer.concat([f, header, pad, payload]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

const HOSTILE: Json[] = [
  null, true, false, '', 'x', '5', -1, 0, 1, 1.5, 3, 64, 1e6, 2 ** 31, 2 ** 32 + 1, 2 ** 53 + 2, 1e308, -1e308,
  [], [1e9, 1e9], [-1], [1, 'a'], {}, { a: 1 }, 'A'.repeat(10_000), [[[[[[[[1]]]]]]]],
];

/** Every path in a JSON value (objects by key, arrays by index), interior nodes included. */
function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function mutate(header: Json, rng: Random): Json {
  const h = structuredClone(header) as Json;
  const all = paths(h).filter((p) => p.length > 0);
  const p = all[rng.int(all.length)]!;
  let parent = h as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const last = p[p.length - 1]!;
  const op = rng.int(4);
  if (op === 0 && !Array.isArray(parent)) delete parent[last];
  else if (op === 1 && Array.isArray(parent)) (parent as Json[]).push(structuredClone(parent[last]!));
  else if (op === 2 && typeof parent[last] === 'number') parent[last] = (parent[last] as number) * (rng.int(2) ? 1000 : -1) + rng.int(3);
  else parent[last] = HOSTILE[rng.int(HOSTILE.length)]!;
  return h;
}

/** Bytes of Float32Arrays constructed while `fn` runs (the reader's allocations). */
async function float32BytesDuring<T>(fn: () => Promise<T>): Promise<{ bytes: number; result: T | undefined; error: unknown }> {
  const Orig = globalThis.Float32Array;
  let bytes = 0;
  const Counting: Float32ArrayConstructor = new Proxy(Orig, {
    construct(target, args, newTarget): object {
      const a = args[0] as unknown;
      if (typeof a === 'number') bytes += a * 4;
      else if (a && typeof a === 'object' && !(a instanceof ArrayBuffer) && !(a instanceof SharedArrayBuffer)) bytes += ((a as ArrayLike<number>).length ?? 0) * 4;
      return Reflect.construct(target, args, newTarget === Counting ? target : newTarget) as object;
    },
  });
  globalThis.Float32Array = Counting;
  let result: T | undefined;
  let error: unknown;
  try {
    result = await fn();
  } catch (e) {
    error = e;
  } finally {
    globalThis.Float32Array = Orig;
  }
  return { bytes, result, error };
}

describe('checkpoint header fuzz (hash recomputed)', () => {
  beforeAll(() => useBackend('cpu'));

  test('every mutated header is a CheckpointError or a sound checkpoint; resume falls back to the good file; the reader allocates at most 2x the file', async () => {
    const src = tmpDir();
    const t = new Trainer(resumeOptions());
    runSteps(t, 1);
    const goodStore = new CheckpointStore(src, { keep: 10 });
    const good = await saveTrainer(goodStore, t);
    runSteps(t, 1);
    const newer = await saveTrainer(goodStore, t);
    t.dispose();
    const { fixed, header, payload } = split(fs.readFileSync(newer));
    const headerText = JSON.stringify(header);
    const rng = new Random(33);
    const tensors0 = tf.memory().numTensors;

    const cases: { name: string; file: Buffer }[] = [];
    const h = header as { meta: { trainer: { model: { head: { outDim: number } } } }; tensors: { size: number; shape: number[] }[] };
    const edit = (name: string, f: (x: typeof h) => void) => {
      const x = structuredClone(h);
      f(x);
      cases.push({ name, file: assemble(fixed, JSON.stringify(x), payload) });
    };
    // the reported ones: valid JSON of wrong types, and a header asking for any number of prototypes
    edit('tensors is a string', (x) => ((x as unknown as Record<string, Json>)['tensors'] = 'x'));
    edit('meta.trainer is null', (x) => ((x.meta as unknown as Record<string, Json>)['trainer'] = null));
    edit('outDim 1e6', (x) => (x.meta.trainer.model.head.outDim = 1e6));
    edit('outDim 2^31', (x) => (x.meta.trainer.model.head.outDim = 2 ** 31));
    edit('a tensor of 1e10 floats', (x) => ((x.tensors[0]!.shape = [1e5, 1e5]), (x.tensors[0]!.size = 1e10)));
    cases.push({ name: 'headerBytes past the end', file: assemble(fixed, headerText, payload, { headerBytes: 2 ** 32 - 1 }) });
    cases.push({ name: 'headerBytes short', file: assemble(fixed, headerText, payload, { headerBytes: 10 }) });
    cases.push({ name: 'version 2', file: assemble(fixed, headerText, payload, { version: 2 }) });
    cases.push({ name: 'header cut', file: assemble(fixed, headerText.slice(0, headerText.length / 2), payload) });
    for (let i = 0; i < 300; i++) cases.push({ name: `random mutation ${i}`, file: assemble(fixed, JSON.stringify(mutate(header, rng)), payload) });
    for (let i = 0; i < 40; i++) {
      const bytes = Buffer.from(headerText, 'utf8');
      for (let k = 0; k < 1 + rng.int(4); k++) bytes[rng.int(bytes.length)] = rng.int(256);
      cases.push({ name: `byte flips ${i}`, file: assemble(fixed, bytes.toString('latin1'), payload) });
    }

    // the counter sees the reader's copy of the payload (so a bound on it means something)
    const seen = await float32BytesDuring(() => new CheckpointStore(src).load(good));
    const goodSize = fs.statSync(good).size;
    expect(seen.bytes).toBeGreaterThan(0.8 * goodSize);
    expect(seen.bytes).toBeLessThan(goodSize);

    const outcomes: Record<string, number> = {};
    const count = (k: string) => (outcomes[k] = (outcomes[k] ?? 0) + 1);
    for (const c of cases) {
      const dir = tmpDir('dino-fuzz-');
      fs.copyFileSync(good, path.join(dir, path.basename(good)));
      const fuzzed = path.join(dir, path.basename(newer));
      fs.writeFileSync(fuzzed, c.file);
      const logs: string[] = [];
      const store = new CheckpointStore(dir, { validate: validateTrainerCheckpoint, log: (m) => logs.push(m) });
      const read = await float32BytesDuring(() => store.load(fuzzed));
      expect({ case: c.name, allocatedWithin2x: read.bytes <= 2 * c.file.length }).toEqual({ case: c.name, allocatedWithin2x: true });
      if (read.error) {
        expect({ case: c.name, error: String(read.error), isCheckpointError: read.error instanceof CheckpointError }).toEqual({ case: c.name, error: expect.stringMatching(/^CheckpointError: checkpoint .+: /), isCheckpointError: true });
        count('refused on reading');
        // the fallback: the newest file that verifies is the good one
        expect((await store.loadLatest())!.file).toBe(path.join(dir, path.basename(good)));
        continue;
      }
      // it verifies: resuming either takes it, falls back past it, or refuses a sound checkpoint of another model
      let resumed;
      try {
        resumed = await resumeFrameTrainer(store, resumeOptions(), (m) => logs.push(m));
      } catch (e) {
        expect({ case: c.name, mismatch: e instanceof CheckpointMismatchError }).toEqual({ case: c.name, mismatch: true });
        expect(String(e)).toMatch(/trained with a different model \(.+\)/);
        count('refused: another model');
        continue;
      }
      expect(resumed).not.toBeNull();
      // the model built from the header holds no more parameters than the file stores
      const params = resumed!.frameTrainer.trainer.student.numParameters() + resumed!.frameTrainer.trainer.teacher.numParameters();
      expect({ case: c.name, modelWithinFile: params * 4 <= c.file.length }).toEqual({ case: c.name, modelWithinFile: true });
      resumed!.frameTrainer.dispose();
      count(resumed!.ckpt.file === fuzzed ? 'resumed the mutated file' : 'fell back on restoring');
    }
    expect(tf.memory().numTensors).toBe(tensors0);
    // the fuzz reached every branch: refusals on reading, harmless mutations that resume
    expect(outcomes['refused on reading']).toBeGreaterThan(cases.length / 2);
    expect(outcomes['resumed the mutated file']).toBeGreaterThan(0);
    console.log(`checkpoint header fuzz: ${cases.length} cases: ${JSON.stringify(outcomes)}`);
  });
});
