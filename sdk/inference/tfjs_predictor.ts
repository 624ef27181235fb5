/**
 * Adapter from a channels-last tfjs network to the channels-first `PatchPredictor` boundary of the sliding window.
 * The network function receives [N, ...spatial, C_in] and returns logits [N, ...spatial, numClasses] (e.g.
 * `GenericUNet.predict`). Tensors are created and disposed per call (tf.tidy), so repeated calls do not grow
 * tf.memory().numTensors.
 */
import { throwIfGpuFailed } from '../network/webgpu/device_errors';
import * as tf from '@tensorflow/tfjs';
import type { PatchPredictor } from './sliding_window';

export interface TfjsPredictorOptions {
  /** Largest N per network call; bigger batches are split (memory). Default: no split. */
  maxBatch?: number;
}

export function tfjsPatchPredictor(
  net: (x: tf.Tensor) => tf.Tensor,
  opts: TfjsPredictorOptions = {},
): PatchPredictor {
  return async (batch, shape) => {
    const [n, cin, ...sp] = shape;
    const vox = sp.reduce((a, b) => a * b, 1);
    const rank = shape.length;
    const toLast = [0, ...sp.map((_, i) => i + 2), 1];
    const toFirst = [0, rank - 1, ...sp.map((_, i) => i + 1)];
    const maxBatch = Math.max(1, opts.maxBatch ?? n);
    const parts: Float32Array[] = [];
    let numClasses = -1;
    for (let b0 = 0; b0 < n; b0 += maxBatch) {
      const nb = Math.min(maxBatch, n - b0);
      const out = tf.tidy(() => {
        const x = tf.tensor(batch.subarray(b0 * cin * vox, (b0 + nb) * cin * vox), [nb, cin, ...sp], 'float32');
        const y = net(tf.transpose(x, toLast));
        if (y.rank !== rank || y.shape[0] !== nb || y.shape.slice(1, rank - 1).some((s, i) => s !== sp[i])) {
          throw new Error(`tfjsPatchPredictor: network returned shape [${y.shape}] for input [${nb}, ${sp}, ${cin}]`);
        }
        return tf.transpose(y, toFirst);
      });
      numClasses = out.shape[1] as number;
      parts.push((await out.data()) as Float32Array);
      out.dispose();
      throwIfGpuFailed(`inference of ${nb} tile(s) of ${sp.join('x')}`); // a failed GPU kernel reads back as zeros
    }
    if (parts.length === 1) return parts[0];
    const res = new Float32Array(n * numClasses * vox);
    let off = 0;
    for (const p of parts) {
      res.set(p, off);
      off += p.length;
    }
    return res;
  };
}
