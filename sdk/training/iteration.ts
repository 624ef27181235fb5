/**
 * One iteration (nnUNetTrainerV2.run_iteration): a training step (DC+CE with deep supervision, backward, clip to 12,
 * SGD) and a validation step (loss + online tp/fp/fn), and how a batch is split on this machine: micro-batch chunks
 * with exact gradient accumulation (accumulation.ts) and gradient workers (data_parallel.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { PlansConfiguration } from '../planning/plans';
import type { GenericUNet } from '../network/generic_unet';
import { extraCpuInstances } from '../network/cpu_instances';
import { readScalar } from '../network/read';
import { V2_GRAD_CLIP } from './constants';
import { dcAndCeLoss, multipleOutputLoss } from './dice_ce_loss';
import { batchToTensors } from './tensors';
import { clipGradNorm, SGDNesterov } from './optimizer';
import type { OnlineEvaluation } from './online_evaluation';
import type { AugBatch } from './transforms/base';
import { accumulateGradients, chunkedValidationLoss } from './accumulation';
import type { GradientWorkers } from './data_parallel';

export function lossFn(batchDice: boolean) {
  // DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False}, {}) (nnUNetTrainer.__init__)
  return (l: tf.Tensor, t: tf.Tensor) => dcAndCeLoss(l, t, { batchDice, smooth: 1e-5, doBg: false });
}

export function namedVariables(net: GenericUNet): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const v of net.variables.values()) out[v.name] = v;
  return out;
}

/**
 * Loss and gradients (caller disposes) of one training batch, as trainStep computes them: DC+CE with deep
 * supervision over the whole batch, through the gradient workers when there are any, else in chunks of `chunk`
 * samples (one tape when the batch fits in a chunk).
 */
export async function stepGradients(
  net: GenericUNet,
  data: tf.Tensor,
  targets: tf.Tensor[],
  weights: number[],
  batchDice: boolean,
  chunk: number,
  pool: GradientWorkers | null = null,
): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
  if (pool) return pool.computeGradients(net, data, targets, weights, batchDice, chunk);
  if (chunk < data.shape[0]) return accumulateGradients(net, data, targets, weights, batchDice, chunk);
  const loss = lossFn(batchDice);
  const r = tf.variableGrads(() => multipleOutputLoss(net.forward(data, { training: true }), targets, weights, loss), net.trainableVariables());
  return { loss: await readScalar(r.value, r.grads), grads: r.grads };
}

/** One SGD step (nnUNetTrainerV2.run_iteration with do_backprop): loss, backward, clip to 12, step. */
export async function trainStep(
  net: GenericUNet,
  sgd: SGDNesterov,
  vars: Record<string, tf.Variable>,
  batch: AugBatch,
  weights: number[],
  batchDice: boolean,
  chunk: number,
  pool: GradientWorkers | null,
) {
  const { data, targets } = batchToTensors(batch);
  try {
    const { loss, grads } = await stepGradients(net, data, targets, weights, batchDice, chunk, pool);
    let clipped: Awaited<ReturnType<typeof clipGradNorm>>;
    try {
      clipped = await clipGradNorm(grads, V2_GRAD_CLIP);
    } finally {
      tf.dispose(grads);
    }
    sgd.step(vars, clipped.grads);
    tf.dispose(clipped.grads);
    return { loss, gradNorm: clipped.totalNorm };
  } finally {
    data.dispose();
    tf.dispose(targets);
  }
}

/**
 * Validation iteration (run_iteration without backprop, with online evaluation). Async: values are read with
 * `data()` (WebGPU in Node cannot read tensors synchronously).
 */
export async function valStep(net: GenericUNet, batch: AugBatch, weights: number[], batchDice: boolean, ev: OnlineEvaluation, chunk: number): Promise<number> {
  const { data, targets } = batchToTensors(batch);
  try {
    if (chunk < data.shape[0]) return await chunkedValidationLoss(net, data, targets, weights, batchDice, chunk, (l0, t0) => ev.addBatch(l0, t0));
    const outs = net.forward(data, { training: false });
    let l: tf.Tensor | null = null;
    try {
      l = multipleOutputLoss(outs, targets, weights, lossFn(batchDice));
      await ev.addBatch(outs[0], targets[0]);
      return (await l.data())[0];
    } finally {
      l?.dispose();
      tf.dispose(outs);
    }
  } finally {
    data.dispose();
    tf.dispose(targets);
  }
}

/** Budget of (patch voxels x base features) per chunk on wasm: 3d 40x56x40 x 32 -> 2 samples, 2d 56x40 x 32 -> 83. */
export const WASM_CHUNK_BUDGET = 6e6;

/** Gradient worker threads for `gradientWorkers` (0 on native TensorFlow and webgpu). */
export function gradientWorkerCount(n: number | 'auto'): number {
  // workers are extra wasm/cpu instances: none on native TensorFlow (it uses every core) or a GPU (one device)
  return extraCpuInstances(n, 'trainFold: gradientWorkers');
}

/** Samples per forward/backward chunk of a training step (`microBatchSize` option; also used by `bench network`). */
export function microBatchSize(o: number | 'auto', cfg: Pick<PlansConfiguration, 'patch_size' | 'UNet_base_num_features'>): number {
  if (o !== 'auto') {
    if (!(Number.isInteger(o) && o >= 1)) throw new Error(`trainFold: microBatchSize must be a positive integer or 'auto', got ${o}`);
    return o;
  }
  if (tf.getBackend() !== 'wasm') return Infinity;
  const vox = cfg.patch_size.reduce((a, b) => a * b, 1) * cfg.UNet_base_num_features;
  return Math.max(1, Math.floor(WASM_CHUNK_BUDGET / vox));
}
