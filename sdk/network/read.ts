/**
 * Reading a loss back from a tensor. Asynchronous on purpose: Node has no synchronous read on webgpu (dataSync
 * throws there), and the read is where a failed GPU step surfaces.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * The first value of `t`. `t` is disposed either way; when the read fails, `alsoOnError` (e.g. the gradients computed
 * with it) is disposed too, so a failed step leaks nothing.
 */
export async function readScalar(t: tf.Tensor, alsoOnError: tf.TensorContainer = []): Promise<number> {
  try {
    return (await t.data())[0];
  } catch (e) {
    tf.dispose(alsoOnError);
    throw e;
  } finally {
    t.dispose();
  }
}
