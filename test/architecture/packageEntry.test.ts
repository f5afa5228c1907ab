/**
 * `dino-stream` as another project sees it: a package linked into a fresh node_modules, imported by name from
 * TypeScript (types from dist/src/index.d.ts) and from plain Node. Needs `npm run build` (npm test runs it first).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../..');

const CONSUMER = `
import { Agent, configSchema, NoveltyDetector, MMDDriftDetector, ADWIN, PageHinkley, CollapseMonitor, encodeBinary, decodeBinary,
  DinoClient, type AgentConfig, type EmbeddingMessage, type AgentEvent } from 'dino-stream';

const config: AgentConfig = configSchema.parse({ model: { size: 'micro' } });
const agent: Agent = new Agent(config);
const message: EmbeddingMessage = { streamId: 'cam', t: 1, frameIndex: 2, teacherStep: 3, dim: 2, embedding: new Float32Array([0.6, 0.8]) };
const back: number = decodeBinary(encodeBinary(message)).teacherStep;
const novelty = new NoveltyDetector({ k: 1 });
const drift = new MMDDriftDetector({ refSize: 10, recentSize: 5 });
const client = new DinoClient({ url: 'http://127.0.0.1:8080' });
const events = client.events({ types: ['drift'] }).subscribe((e: AgentEvent) => e.type);
export { agent, back, novelty, drift, events, ADWIN, PageHinkley, CollapseMonitor };
`;

const RUNTIME = `
const d = require('dino-stream');
const names = ['Agent', 'configSchema', 'resolveConfig', 'NoveltyDetector', 'MMDDriftDetector', 'ADWIN', 'PageHinkley', 'CollapseMonitor',
  'encodeBinary', 'decodeBinary', 'encodeJson', 'decodeJson', 'DinoClient', 'Random', 'createLogger'];
const missing = names.filter((n) => d[n] === undefined);
const m = { streamId: 'cam', t: 1.5, frameIndex: 2, teacherStep: 3, dim: 2, embedding: new Float32Array([0.6, 0.8]) };
const back = d.decodeBinary(d.encodeBinary(m));
const novelty = new d.NoveltyDetector({ k: 1, minCalibration: 1 });
novelty.update([1, 0]);
const score = novelty.update([0, 1]).score;
console.log(JSON.stringify({ missing, back: [back.streamId, back.frameIndex, back.teacherStep, Array.from(back.embedding)], score,
  defaults: d.configSchema.parse({}).train.batchSize }));
`;

describe("the package entry ('dino-stream')", () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(path.join(root, 'dist/src/index.d.ts'))) throw new Error('dist/src/index.d.ts missing: run npm run build (npm test does)');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dino-consumer-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'dino-stream'), 'dir');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('exports the agent, its config schema, the detectors, the codec and the client, with working values', () => {
    fs.writeFileSync(path.join(dir, 'runtime.js'), RUNTIME);
    const out = JSON.parse(execFileSync(process.execPath, ['runtime.js'], { cwd: dir, encoding: 'utf8' }));
    expect(out.missing).toEqual([]);
    expect(out.back).toEqual(['cam', 2, 3, [Math.fround(0.6), Math.fround(0.8)]]);
    expect(out.score).toBeCloseTo(1, 6); // cosine distance of orthogonal unit vectors
    expect(out.defaults).toBe(16);
  });

  test('its types let a TypeScript project use them by name (strict)', () => {
    fs.writeFileSync(path.join(dir, 'consumer.ts'), CONSUMER);
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'commonjs', '--moduleResolution', 'node', '--target', 'ES2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules/@types'), 'consumer.ts'];
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, ...args], { cwd: dir, encoding: 'utf8' });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(output).toBe('');
  });
});
