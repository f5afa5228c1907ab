/**
 * What a weight file cannot do: run code (a pickle that calls os.system is refused before anything is called, and
 * Python itself shows the same bytes would have run it), reach outside its own bytes (safetensors offsets, torch
 * storages), or half-load a model (unknown, missing or misshapen keys are named and no weight changes).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { useBackend } from '../helpers/backend';
import { unpickle, PyDict } from '../../src/pretrained/Unpickler';
import { readTorchFile, TorchTensor } from '../../src/pretrained/TorchFile';
import { readSafetensors } from '../../src/pretrained/Safetensors';
import { loadWeights, modelForWeights, readPretrained } from '../../src/pretrained/PretrainedWeights';
import { MultiCropWrapper } from '../../src/model/MultiCropWrapper';
import { modelSize } from '../../src/model/modelSizes';
import { safetensorsBytes } from './safetensorsBytes';

const DIR = path.join(__dirname, '../fixtures/pretrained');

/** Protocol-2 pickle of {'w': os.system(<cmd>)}, as pickle.dumps writes it for an object whose __reduce__ calls it. */
function hostilePickle(cmd: string): Uint8Array {
  const enc = (s: string) => Buffer.from(s, 'utf8');
  const str = (s: string) => Buffer.concat([Buffer.from([0x58]), Buffer.from(Uint32Array.of(enc(s).length).buffer), enc(s)]);
  return Buffer.concat([
    Buffer.from([0x80, 0x02, 0x7d, 0x28]), // PROTO 2, EMPTY_DICT, MARK
    str('w'),
    Buffer.from('cposix\nsystem\n', 'latin1'), // GLOBAL posix.system (os.system on Linux)
    str(cmd),
    Buffer.from([0x85, 0x52, 0x75, 0x2e]), // TUPLE1, REDUCE, SETITEMS, STOP
  ]);
}

function python(): string | null {
  const r = spawnSync('python3', ['-c', 'import pickle'], { encoding: 'utf8' });
  return r.status === 0 ? 'python3' : null;
}

describe('weight files are data: hostile and malformed files are refused', () => {
  let tmp: string;
  beforeAll(async () => {
    await useBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weights-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('a .pth whose pickle calls os.system is refused naming posix.system, and the command never runs', () => {
    const marker = path.join(tmp, 'pwned');
    const pkl = hostilePickle(`touch ${marker}`);
    const file = path.join(tmp, 'evil.pth');
    fs.writeFileSync(file, zipSync({ 'evil/data.pkl': [pkl, { level: 0 }], 'evil/version': [Buffer.from('3\n'), { level: 0 }] }));
    expect(() => readPretrained(file)).toThrow(/refused: the pickle names the global posix\.system.*nothing was executed/);
    expect(fs.existsSync(marker)).toBe(false);
    // the same bytes are truly hostile: Python's own unpickler runs the command
    const py = python();
    if (!py) {
      if (process.env['CI']) throw new Error('python3 is required in CI to show the pickle is hostile');
      console.warn('python3 missing: not showing that Python would run the hostile pickle');
      return;
    }
    const r = spawnSync(py, ['-c', 'import pickle,sys; pickle.loads(sys.stdin.buffer.read())'], { input: Buffer.from(pkl) });
    expect(r.status).toBe(0);
    expect(fs.existsSync(marker)).toBe(true);
  });

  test('other code paths of pickle are refused by name: INST, an unlisted REDUCE target, a non-storage persistent id', () => {
    const hooks = { callables: { 'collections.OrderedDict': () => new PyDict() } };
    expect(() => unpickle(Buffer.from('(ios\nsystem\nS"x"\n.', 'latin1'), hooks)).toThrow(/opcode INST \(0x69\) at byte 1/);
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x63, ...Buffer.from('builtins\neval\n'), 0x2e]), hooks)).toThrow(/global builtins\.eval/);
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x4e, 0x29, 0x52, 0x2e]), hooks)).toThrow(/REDUCE on object/);
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x4e, 0x51, 0x2e]), hooks)).toThrow(/persistent id/);
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f]), hooks)).toThrow(/truncated pickle/);
  });

  test('a torch storage shorter than its tensor claims, or a tensor view beyond its storage, is refused', () => {
    const good = fs.readFileSync(path.join(DIR, 'dino_vit_p8.pth'));
    expect(readTorchFile(good)).toBeInstanceOf(PyDict);
    // cut the zip short: the archive no longer reads
    expect(() => readTorchFile(good.subarray(0, good.length - 200))).toThrow(/zip|storage/);
    // a tensor of 4 elements over a 2-element storage
    const pkl = Buffer.concat([
      Buffer.from([0x80, 0x02, 0x7d, 0x28, 0x58, 1, 0, 0, 0, 0x77]), // {'w':
      Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n(', 'latin1'),
      Buffer.from('(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQ', 'latin1'),
      Buffer.from([0x4b, 0, 0x4b, 4, 0x85, 0x4b, 1, 0x85, 0x89, 0x4e, 0x74, 0x52, 0x75, 0x2e]), // 0, (4,), (1,), False, None) }
    ]);
    const zip = zipSync({ 'x/data.pkl': [pkl, { level: 0 }], 'x/data/0': [new Uint8Array(8), { level: 0 }] });
    const obj = readTorchFile(zip) as PyDict;
    expect(() => (obj.get('w') as TorchTensor).data('w')).toThrow(/"w" of shape \[4\] reaches beyond its storage of 2 elements/);
    // compressed entries would allocate what the header claims: refused
    const deflated = zipSync({ 'x/data.pkl': [pkl, { level: 6 }] });
    expect(() => readTorchFile(deflated)).toThrow(/compressed/);
  });

  test('safetensors: header length, offsets, gaps and dtypes outside the file or the spec are refused', () => {
    const ok = safetensorsBytes({ a: { dtype: 'F32', shape: [2], data: new Uint8Array(8) } });
    expect(readSafetensors(ok).get('a')!.read()).toEqual(new Float32Array(2));
    const huge = Buffer.from(ok);
    huge.writeBigUInt64LE(1n << 40n, 0);
    expect(() => readSafetensors(huge)).toThrow(/header length 1099511627776 exceeds the file/);
    const beyond = safetensorsBytes({ a: { dtype: 'F32', shape: [1 << 20], data: new Uint8Array(8), offsets: [0, 4 << 20] } });
    expect(() => readSafetensors(beyond)).toThrow(/"a": bytes 0-4194304 lie outside/);
    const gap = safetensorsBytes({ a: { dtype: 'F32', shape: [1], data: new Uint8Array(8), offsets: [4, 8] } });
    expect(() => readSafetensors(gap)).toThrow(/starts at byte 4 .*gap or an overlap/);
    const ints = safetensorsBytes({ a: { dtype: 'I64', shape: [1], data: new Uint8Array(8) } });
    expect(() => readSafetensors(ints)).toThrow(/dtype "I64" is not read/);
  });

  test('a file of another shape than the preset is refused naming the preset that fits', () => {
    const w = readPretrained(path.join(DIR, 'dino_full_checkpoint_micro.pth'));
    expect(() => modelForWeights(modelSize('small'), w, 'small')).toThrow(/the file is a ViT with embedDim 16 \(model small: 96\), depth 2 \(model small: 4\); use --model micro/);
    const v2 = readPretrained(path.join(DIR, 'hf_dinov2_p14_bf16.safetensors'));
    expect(() => modelForWeights(modelSize('micro'), v2, 'micro')).toThrow(/patchSize 14 \(model micro: 4\); no model preset has that shape/);
  });

  test('unknown, missing and misshapen keys are named, and nothing is loaded', () => {
    const src = readSafetensors(fs.readFileSync(path.join(DIR, 'dino_vit_p8.safetensors')));
    const entries = Object.fromEntries([...src].map(([k, t]) => [k, { dtype: 'F32', shape: t.shape, data: new Uint8Array(t.read().buffer) }]));
    const write = (name: string, e: typeof entries) => {
      const f = path.join(tmp, name);
      fs.writeFileSync(f, safetensorsBytes(e));
      return f;
    };
    const { ['blocks.1.mlp.fc2.bias']: _dropped, ...missing } = entries;
    const extra = { ...entries, 'blocks.0.attn.relative_position_bias': entries['cls_token']! };
    expect(() => readPretrained(write('extra.safetensors', extra))).toThrow(/keys that are not part of a DINO ViT or DINOHead: blocks\.0\.attn\.relative_position_bias/);
    expect(() => readPretrained(write('text.safetensors', {}).replace('.safetensors', '.txt'))).toThrow(/cannot read it \(ENOENT\)/);
    fs.writeFileSync(path.join(tmp, 'notes.pth'), 'just some text');
    expect(() => readPretrained(path.join(tmp, 'notes.pth'))).toThrow(/not a PyTorch file/);

    const before = tf.memory().numTensors;
    const full = readPretrained(path.join(DIR, 'dino_vit_p8.safetensors'));
    const micro = modelSize('micro');
    const model = new MultiCropWrapper({ ...micro, vit: { ...full.arch.vit, numHeads: 2 }, head: micro.head });
    const snapshot = () => model.namedParameters().map(([, v]) => Array.from(v.dataSync()));
    const initial = snapshot();
    const w = readPretrained(write('missing.safetensors', missing));
    expect(() => loadWeights(w, [{ module: model, tensors: 'student' }])).toThrow(/nothing was loaded\): missing backbone\.blocks\.1\.mlp\.fc2\.bias/);
    // a tensor of the right name and the wrong shape: the position grid of another file
    w.student.set('backbone.blocks.1.mlp.fc2.bias', { shape: [17], read: () => new Float32Array(17) });
    expect(() => loadWeights(w, [{ module: model, tensors: 'student' }])).toThrow(/shapes differ: backbone\.blocks\.1\.mlp\.fc2\.bias \[17\] \(model \[16\]\)/);
    expect(snapshot()).toEqual(initial);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
