import * as tf from '@tensorflow/tfjs';

/** The parts of tfjs-core's engine and tape (4.x) this walks; not in its public types. */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
}
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/** The nodes on a path from some x to y, inputs pruned to those reached from x (as tfjs's getFilteredNodesXToY). */
function nodesFromXToY(tape: TapeNode[], xs: tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((t) => fromX.has(t.id))) {
      for (const o of node.outputs) fromX.add(o.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((o) => toY.has(o.id))) {
      for (const t of Object.values(node.inputs)) toY.add(t.id);
      nodesToY.add(node.id);
    }
  }
  return tape
    .filter((n) => nodesFromX.has(n.id) && nodesToY.has(n.id))
    .map((n) => ({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).filter(([, t]) => fromX.has(t.id))) }));
}

function disposeUnlessLive(acc: Map<number, tf.Tensor>, ts: tf.Tensor[]): void {
  const live = new Set(acc.values());
  for (const t of ts) if (!live.has(t)) t.dispose();
}

/**
 * tf.variableGrads with the memory of the backward pass released as it goes. tfjs keeps every intermediate
 * gradient and every tensor saved for the backward until the whole backward is done, so its peak is all the
 * forward's saved activations plus a gradient for each of them (1.75 GB for a bench-tiny step). Here a node's
 * saved tensors and its outputs' gradients are disposed as soon as the node has been walked: the peak is the saved
 * activations plus a few layers' gradients. Same gradients, same order of accumulation.
 */
export function variableGrads(f: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const xs = vars.filter((v) => v.trainable);
  if (xs.length === 0) throw new Error('variableGrads: none of the variables is trainable');
  const engine = tf.engine() as unknown as EngineInternals;
  if (engine.state.gradientDepth !== 0) throw new Error('variableGrads: higher-order gradients are not supported');
  const y = engine.scopedRun(() => engine.startTape(), () => engine.endTape(), () => engine.tidy('forward', f));
  if (!(y instanceof tf.Tensor) || y.rank !== 0) throw new Error('variableGrads: f must return a scalar tensor');
  const fullTape = engine.state.activeTape ?? [];
  const tape = nodesFromXToY(fullTape, xs, y);
  const grads = engine.tidy('backward', () => {
    const acc = new Map<number, tf.Tensor>([[y.id, tf.onesLike(y)]]);
    for (let i = tape.length - 1; i >= 0; i--) {
      const node = tape[i]!;
      const dys = node.outputs.map((o) => acc.get(o.id) ?? null);
      if (!node.gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
      const inputGrads = node.gradient(dys);
      for (const [name, x] of Object.entries(node.inputs)) {
        const g = inputGrads[name];
        if (!g) throw new Error(`Cannot backprop through input ${name} of ${node.kernelName}`);
        const dx = tf.tidy(g);
        if (dx.dtype !== 'float32' || !tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(`gradient of ${node.kernelName}'s input ${name}: ${dx.dtype} [${dx.shape}] for [${x.shape}]`);
        }
        const cur = acc.get(x.id);
        acc.set(x.id, cur === undefined ? dx : tf.add(cur, dx));
        if (cur !== undefined) disposeUnlessLive(acc, [cur, dx]);
      }
      // this node's outputs have all their gradient contributions by now (the tape is in creation order); a
      // gradient function may hand back its dy or a saved tensor itself, so what is still an accumulated gradient stays
      const done = node.outputs.flatMap((o) => {
        const g = acc.get(o.id);
        acc.delete(o.id);
        return g ? [g] : [];
      });
      disposeUnlessLive(acc, [...done, ...(node.saved ?? [])]);
    }
    const out: Record<string, tf.Tensor> = {};
    for (const x of xs) {
      const g = acc.get(x.id);
      if (g) out[x.name] = g;
    }
    return out;
  });
  for (const node of fullTape) for (const t of node.saved ?? []) t.dispose();
  engine.state.activeTape = null;
  return { value: y, grads };
}
