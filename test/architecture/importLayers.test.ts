import * as path from 'node:path';
import { LAYERS, importEdges, layerOf, layerViolations } from '../helpers/importLayers';

const root = path.resolve(__dirname, '../..');

describe('import layers', () => {
  it('no file in src, streams or config imports a layer above its own', () => {
    const edges = importEdges(root, ['src', 'streams', 'config']);
    expect(edges.length).toBeGreaterThan(200); // the walk found the tree
    expect(layerViolations(edges)).toEqual([]);
  });

  it('reports a back edge with both files and what the layer may import', () => {
    const back = [{ from: 'src/serve/UiChannel.ts', to: 'src/agent/Agent.ts' }];
    expect(layerViolations(back)).toEqual([
      'src/serve/UiChannel.ts imports src/agent/Agent.ts: src/serve may import only src/protocol, streams, src/util, src/types, config (move what both need into src/types)',
    ]);
    expect(layerViolations([{ from: 'config/schema.ts', to: 'streams/ReplayBuffer.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'src/agent/Agent.ts', to: 'src/eval/knnEval.ts' }])).toHaveLength(1);
    expect(layerViolations([{ from: 'src/agent/Agent.ts', to: 'src/serve/AgentServer.ts' }])).toEqual([]);
  });

  it('a file in a folder no layer names is reported', () => {
    expect(layerOf('src/newthing/X.ts')).toBeNull();
    expect(layerViolations([{ from: 'src/newthing/X.ts', to: 'src/util/Random.ts' }])[0]).toMatch(/src\/newthing\/X.ts is in no layer/);
    expect(layerOf('src/index.ts')).toBe('src');
    expect(layerOf('streams/sources/FfmpegSource.ts')).toBe('streams');
  });

  it('the allowed imports form no cycle (the layers have an order)', () => {
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (l: string, trail: string[]): void => {
      if (state.get(l) === 'done') return;
      if (state.get(l) === 'visiting') throw new Error(`cycle: ${[...trail, l].join(' -> ')}`);
      state.set(l, 'visiting');
      for (const d of LAYERS[l] ?? []) if (d !== '*') visit(d, [...trail, l]);
      state.set(l, 'done');
      order.push(l);
    };
    for (const l of Object.keys(LAYERS)) visit(l, []);
    expect(order).toHaveLength(Object.keys(LAYERS).length);
  });
});
