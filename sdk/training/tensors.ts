/**
 * The one boundary between augmentation batches (channels-first float32 arrays, as batchgenerators produces them) and
 * network tensors (channels-last [N, Z, Y, X, C]).
 */
import * as tf from '@tensorflow/tfjs';
import { AugBatch } from './transforms/base';

/** (B, C, ...spatial) float32 → tf.Tensor [B, ...spatial, C]. */
export function channelsFirstToTensor(data: Float32Array, shape: readonly number[]): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(data, shape.slice(), 'float32');
    const perm = [0, ...Array.from({ length: shape.length - 2 }, (_, i) => i + 2), 1];
    return t.transpose(perm);
  });
}

/** One-channel label map (B, 1, ...spatial) → int32 tensor [B, ...spatial]. */
export function labelMapToTensor(seg: Float32Array, shape: readonly number[]): tf.Tensor {
  if (shape[1] !== 1) throw new Error(`labelMapToTensor: expected one label channel, got shape [${shape}]`);
  return tf.tensor(Int32Array.from(seg, (v) => Math.round(v)), [shape[0], ...shape.slice(2)], 'int32');
}

/** Network input and deep-supervision targets of an augmented batch. Dispose them after the step. */
export function batchToTensors(batch: AugBatch): { data: tf.Tensor; targets: tf.Tensor[] } {
  if (!batch.target || !batch.targetShapes) throw new Error('batchToTensors: the batch has no target (run the pipeline first)');
  return {
    data: channelsFirstToTensor(batch.data, batch.dataShape),
    targets: batch.target.map((t, i) => labelMapToTensor(t, batch.targetShapes![i])),
  };
}
