import * as tf from '@tensorflow/tfjs';

/**
 * tf.variable(init) keeps `init` alive as a separate tensor on the same data; this creates the variable and
 * releases the initialiser, so owners only have the variable to dispose.
 */
export function variableFrom(init: tf.Tensor, trainable = false): tf.Variable {
  const v = tf.variable(init, trainable);
  init.dispose();
  return v;
}
