/**
 * Threaded wasm in Node, run in child processes (a test must see the process exit on its own: pthread workers
 * left ref'd would keep it alive). src/backend is transpiled to a temp dir for the child.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ts from 'typescript';

import { loadNativeAddon } from '../../src/backend/nativeAddon';

const root = path.resolve(__dirname, '..', '..');
let outDir = '';

beforeAll(() => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-wasm-threads-test-'));
  const srcDir = path.join(root, 'src', 'backend');
  for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts'))) {
    const out = ts.transpileModule(fs.readFileSync(path.join(srcDir, f), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    fs.writeFileSync(path.join(outDir, f.replace(/\.ts$/, '.js')), out.outputText);
  }
});

afterAll(() => {
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

const CHILD = `
const tf = require('@tensorflow/tfjs');
const { selectBackend } = require(process.env.DINO_OUT + '/selectBackend.js');
const { wasmThreadState } = require(process.env.DINO_OUT + '/wasmThreads.js');
(async () => {
  const logs = [];
  const info = await selectBackend({ backend: 'wasm', threads: 2, native: process.env.DINO_TEST_NATIVE === '1', log: (m) => logs.push(m) });
  const heapIsShared = tf.backend().wasm.wasmMemory ? tf.backend().wasm.wasmMemory.buffer instanceof SharedArrayBuffer : false;
  const n = 300;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1), b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const c = await tf.matMul(a, b).data();
  const A = await a.data(), B = await b.data();
  let err = 0;
  for (let i = 0; i < n; i += 7) for (let j = 0; j < n; j += 11) {
    let s = 0;
    for (let k = 0; k < n; k++) s += A[i * n + k] * B[k * n + j];
    err = Math.max(err, Math.abs(s - c[i * n + j]));
  }
  console.log(JSON.stringify({ info, state: wasmThreadState(), err, logs, heapIsShared }));
})().catch((e) => { console.error(e); process.exit(3); });
`;

function runChild(extraEnv: Record<string, string>) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: path.join(root, 'node_modules'), DINO_OUT: outDir, ...extraEnv };
  delete env.JEST_WORKER_ID;
  const r = spawnSync(process.execPath, ['-e', CHILD], { env, encoding: 'utf8', timeout: 90000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { status: r.status, signal: r.signal, stderr: r.stderr, out: line.startsWith('{') ? JSON.parse(line) : null };
}

describe('threaded SIMD wasm in Node', () => {
  it('runs XNNPACK on 2 threads, computes correctly, and the process exits by itself', () => {
    const r = runChild({});
    expect(r.signal).toBeNull(); // not killed by the timeout: no ref'd worker kept it alive
    expect(r.status).toBe(0);
    expect(r.out).not.toBeNull();
    expect(r.out.state).toMatchObject({ threaded: true, threads: 2 });
    expect(r.out.info).toMatchObject({ name: 'wasm', threads: 2, simd: true });
    expect(r.out.err).toBeLessThan(1e-3);
  });

  const addonPath = loadNativeAddon().path;
  (addonPath ? it : it.skip)('native kernels run on the SharedArrayBuffer heap of the threaded build', () => {
    const r = runChild({ DINO_TEST_NATIVE: '1', DINO_NATIVE_PATH: addonPath ?? '' });
    expect(r.status).toBe(0);
    expect(r.out.heapIsShared).toBe(true);
    expect(r.out.info).toMatchObject({ name: 'wasm', native: true });
    expect(r.out.state).toMatchObject({ threaded: true, threads: 2 });
    expect(r.out.err).toBeLessThan(1e-3);
  });

  it('falls back to single-threaded SIMD when the worker script cannot be written, and still exits', () => {
    const r = runChild({ TMPDIR: path.join(outDir, 'does', 'not', 'exist') });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.out.state).toMatchObject({ threaded: false, threads: 1 });
    expect(r.out.info).toMatchObject({ name: 'wasm', threads: 1 });
    expect(r.out.logs.some((l: string) => /falling back to single-threaded SIMD/.test(l))).toBe(true);
    expect(r.out.err).toBeLessThan(1e-3);
  });
});
