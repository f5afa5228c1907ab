import * as tf from '@tensorflow/tfjs';

/** The forward of a differentiable op: its value and how to map the output gradient to input gradients. */
export type CustomOpBody<A extends tf.Tensor[]> = (...args: [...A, tf.GradSaveFunc]) => {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
};

/** tf.customGrad with argument types kept (tfjs types it as variadic Tensor[]). */
export function customOp<A extends tf.Tensor[]>(body: CustomOpBody<A>): (...args: A) => tf.Tensor {
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
}
