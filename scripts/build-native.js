#!/usr/bin/env node
/**
 * Builds the optional native kernels (native/ -> native/build/Release/dino_native.node) with node-gyp.
 * Runs at `npm install`; it must never fail the install: on any failure it prints one warning line and exits 0,
 * and the wasm kernels remain. DINO_NATIVE=0 skips the build; DINO_NATIVE_STRICT=1 makes failures fatal (CI).
 */
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');
const strict = process.env.DINO_NATIVE_STRICT === '1';

function warn(msg) {
  console.warn(`dino-stream: native kernels not built (${msg}); the wasm kernels will be used.`);
  process.exit(strict ? 1 : 0);
}

/** node-gyp: npm exports its bundled copy as npm_config_node_gyp; else a local or npm-bundled one. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a local dependency */
  }
  const npmCli = process.env.npm_execpath;
  if (npmCli) candidates.push(path.join(path.dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && fs.existsSync(c)) || null;
}

/** Headers of the running node: npm's nodedir setting, else the install prefix when it ships include/node. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  return []; // node-gyp downloads headers (needs network)
}

function main() {
  if (['0', 'false', 'off', 'no'].includes(String(process.env.DINO_NATIVE || '').toLowerCase())) {
    console.log('dino-stream: DINO_NATIVE=0, skipping the native kernels build');
    return;
  }
  if (!fs.existsSync(path.join(nativeDir, 'binding.gyp'))) return warn('native/binding.gyp missing');
  const gyp = findNodeGyp();
  if (!gyp) return warn('node-gyp not found');
  const args = [gyp, 'rebuild', '--release', ...nodedirArgs()];
  const jobs = Math.max(1, require('os').cpus().length);
  const r = spawnSync(process.execPath, args, {
    cwd: nativeDir,
    encoding: 'utf8',
    env: { ...process.env, JOBS: String(jobs) },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) return warn(r.error.message);
  if (r.status !== 0) {
    const out = `${r.stdout || ''}\n${r.stderr || ''}`;
    const logFile = path.join(nativeDir, 'build-error.log');
    try {
      fs.writeFileSync(logFile, out);
    } catch {
      /* read-only tree */
    }
    const firstError = out.split('\n').find((l) => /error/i.test(l)) || `node-gyp exited with ${r.status}`;
    return warn(`${firstError.trim().slice(0, 200)}; full log in native/build-error.log`);
  }
  // Load it once here so that a broken binary is reported at install rather than at the first training step.
  const built = path.join(nativeDir, 'build', 'Release', 'dino_native.node');
  const check = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(built)}); console.log(a.isa, a.getThreads())`], {
    encoding: 'utf8',
  });
  if (check.status !== 0) return warn(`built addon does not load: ${(check.stderr || '').split('\n')[0]}`);
  fs.rmSync(path.join(nativeDir, 'build-error.log'), { force: true });
  const [isa, threads] = check.stdout.trim().split(' ');
  console.log(`dino-stream: native kernels built (${isa}, ${threads} threads)`);
}

try {
  main();
} catch (e) {
  warn(e && e.message ? e.message : String(e));
}
