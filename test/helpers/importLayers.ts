import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

/**
 * The project's layers and what each may import. Data flows sources -> views -> trainer -> teacher -> detectors ->
 * publishers; imports point the same way, down this list, never back up. Shared types live in `src/types`, which
 * imports nothing of ours, so two layers that exchange data both import it instead of each other.
 */
export const LAYERS: Record<string, readonly string[]> = {
  'src/types': [],
  'src/util': [],
  // the wire formats both ends of a websocket share (the server and src/client): beside the message types
  'src/protocol': ['src/types'],
  config: ['src/types', 'src/util'],
  'src/backend': ['src/util'],
  'src/ops': ['src/backend', 'src/util'],
  'src/model': ['src/ops', 'src/backend', 'src/util', 'src/types'],
  'src/pretrained': ['src/model', 'src/ops', 'src/backend', 'src/util', 'src/types'],
  streams: ['src/types', 'src/util'],
  'src/views': ['streams', 'src/ops', 'src/backend', 'src/util', 'src/types'],
  'src/train': ['src/views', 'src/pretrained', 'src/model', 'src/ops', 'src/backend', 'streams', 'src/util', 'src/types', 'config'],
  'src/detect': ['streams', 'src/util', 'src/types', 'config'],
  'src/probe': ['src/detect', 'src/util', 'src/types'],
  'src/serve': ['src/protocol', 'streams', 'src/util', 'src/types', 'config'],
  // the event store and the notifiers are publishers beside src/serve: they read events, never feed back
  'src/events': ['streams', 'src/util', 'src/types'],
  'src/notify': ['streams', 'src/util', 'src/types'],
  // a subscriber to a running agent: the wire codec and the message types, nothing of the agent itself
  'src/client': ['src/protocol', 'src/util', 'src/types'],
  'src/agent': [
    'src/serve', 'src/events', 'src/notify', 'src/probe', 'src/detect', 'src/train', 'src/views', 'src/pretrained', 'src/model', 'src/ops', 'src/backend',
    'streams',
    'src/util', 'src/types', 'config',
  ],
  // the agent cut at a broker: its roles reuse the agent's pieces; nothing below imports it
  'src/scale': [
    'src/agent', 'src/serve', 'src/protocol', 'src/probe', 'src/detect', 'src/train', 'src/views', 'src/pretrained', 'src/model', 'src/ops', 'src/backend',
    'streams', 'src/util', 'src/types', 'config',
  ],
  'src/eval': [
    'src/probe', 'src/detect', 'src/train', 'src/views', 'src/pretrained', 'src/model', 'src/ops', 'src/backend', 'streams', 'src/util',
    'src/types', 'config',
  ],
  // commands and the package entry sit on top and may import any layer
  'src/cli': ['*'],
  src: ['*'],
};

/** The layer a repo-relative file belongs to (the longest LAYERS key that is a folder prefix of it), or null. */
export function layerOf(file: string): string | null {
  const dir = path.posix.dirname(file.split(path.sep).join('/'));
  let best: string | null = null;
  for (const layer of Object.keys(LAYERS)) {
    // the entry layer `src` is the files directly in src/; a new folder there must be given its own layer
    const inside = dir === layer || (layer !== 'src' && dir.startsWith(`${layer}/`));
    if (inside && (!best || layer.length > best.length)) best = layer;
  }
  return best;
}

export interface ImportEdge {
  from: string;
  to: string;
}

/** Layer edges that LAYERS does not allow, as readable lines (empty: the imports respect the layers). */
export function layerViolations(edges: readonly ImportEdge[], layers: Record<string, readonly string[]> = LAYERS): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const a = layerOf(e.from);
    const b = layerOf(e.to);
    if (!a) {
      out.push(`${e.from} is in no layer: add its folder to LAYERS in test/helpers/importLayers.ts`);
      continue;
    }
    if (!b || a === b) continue;
    const allowed = layers[a] ?? [];
    if (!allowed.includes('*') && !allowed.includes(b)) {
      out.push(`${e.from} imports ${e.to}: ${a} may import only ${allowed.join(', ') || 'nothing of ours'} (move what both need into src/types)`);
    }
  }
  return out;
}

/** Every relative import (static, dynamic, require, re-export) of the TypeScript files under `dirs`, resolved to repo paths. */
export function importEdges(root: string, dirs: readonly string[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  const walk = (dir: string): string[] =>
    fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) return walk(rel);
      return /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [rel] : [];
    });
  for (const file of dirs.flatMap(walk)) {
    const info = ts.preProcessFile(fs.readFileSync(path.join(root, file), 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const to = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref.fileName));
      const isDir = !fs.existsSync(path.join(root, `${to}.ts`)) && fs.existsSync(path.join(root, to, 'index.ts'));
      edges.push({ from: file, to: isDir ? `${to}/index.ts` : `${to}.ts` });
    }
  }
  return edges;
}
