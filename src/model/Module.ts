import * as tf from '@tensorflow/tfjs';
import { variableFrom } from '../util/variables';

/**
 * Minimal parameter container (the part of torch.nn.Module we need): named variables in a tree, so that the
 * student and the teacher line up by name for the EMA, the optimiser groups parameters by name, and checkpoints
 * store them by name. tf variables stay anonymous (tfjs names must be globally unique; student and teacher share
 * our names).
 */
export abstract class Module {
  private readonly ownParams: [string, tf.Variable][] = [];
  private readonly children: [string, Module][] = [];

  protected param(name: string, init: tf.Tensor, trainable = true): tf.Variable {
    const v = variableFrom(init, trainable);
    this.ownParams.push([name, v]);
    return v;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.children.push([name, m]);
    return m;
  }

  /** Every parameter with its dotted path, in a stable order (registration order, depth first). */
  namedParameters(prefix = ''): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = this.ownParams.map(([n, v]) => [prefix + n, v]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Copy all values from a module of the same structure (teacher <- student at start). */
  copyFrom(other: Module): void {
    const mine = this.namedParameters();
    const theirs = new Map(other.namedParameters());
    for (const [name, v] of mine) {
      const src = theirs.get(name);
      if (!src) throw new Error(`copyFrom: parameter "${name}" missing in source module`);
      v.assign(src);
    }
  }

  numParameters(): number {
    return this.namedParameters().reduce((n, [, v]) => n + v.size, 0);
  }

  dispose(): void {
    for (const [, v] of this.namedParameters()) v.dispose();
  }
}
