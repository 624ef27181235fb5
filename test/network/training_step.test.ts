/**
 * HEAVY (several minutes on a 2-core machine): five training steps of the hippocampus 3d_fullres network from the
 * official v1 plans, at the official batch (7) and patch size (40x56x40), on wasm: forward, a placeholder Dice + CE
 * loss over all deep-supervision outputs, backward (micro-batched, exact), SGD with nnU-Net's momentum 0.99 /
 * Nesterov / lr 0.01. The loss on the fixed batch must be finite and decrease at every step, and no tensors may leak.
 */
import { describe, it, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { UNetPlansConfiguration } from '../../sdk/network/architecture';
import { GenericUNet } from '../../sdk/network/generic_unet';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');

function placeholderLoss(outputs: tf.Tensor[], target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    outputs.forEach((o, k) => {
      const strides = [1, ...o.shape.slice(1, -1).map((s, i) => target.shape[i + 1] / s), 1];
      const t = tf.stridedSlice(target, new Array(target.rank).fill(0), target.shape, strides);
      const logp = tf.logSoftmax(o);
      const ce = tf.neg(tf.mean(tf.sum(tf.mul(t, logp), -1)));
      const p = tf.exp(logp);
      const axes = Array.from({ length: o.rank - 1 }, (_, i) => i);
      const dice = tf.mean(tf.div(tf.mul(2, tf.sum(tf.mul(p, t), axes)), tf.add(tf.add(tf.sum(p, axes), tf.sum(t, axes)), 1e-5)));
      total = tf.add(total, tf.mul(1 / 2 ** k, tf.sub(ce, dice)));
    });
    return total as tf.Scalar;
  });
}

describe('Generic U-Net training step (heavy)', () => {
  before(async () => {
    await initBackend({ backend: 'wasm', log: false });
  });

  it('hippocampus 3d_fullres, batch 7 x 40x56x40, 5 SGD steps on wasm: finite, decreasing loss, no leaks', async () => {
    const plans = JSON.parse(fs.readFileSync(path.join(FIX, 'hippocampus_v1_plans_3d.json'), 'utf8'));
    const st = plans.plans_per_stage['0'];
    const cfg: UNetPlansConfiguration = {
      pool_op_kernel_sizes: st.pool_op_kernel_sizes,
      conv_kernel_sizes: st.conv_kernel_sizes,
      UNet_base_num_features: plans.base_num_features,
      patch_size: st.patch_size,
      batch_size: st.batch_size,
    };
    assert.equal(cfg.batch_size, 7);
    assert.deepEqual(cfg.patch_size, [40, 56, 40]);
    const net = GenericUNet.fromPlans(cfg, { numInputChannels: 1, numClasses: plans.num_classes + 1, seed: 12345 });
    // a fixed, learnable batch: labels are intensity bands of a smoothed random image
    const x = tf.tidy(() => tf.avgPool3d(tf.randomNormal([7, 40, 56, 40, 1], 0, 1, 'float32', 4) as tf.Tensor5D, 3, 1, 'same'));
    const target = tf.tidy(() => {
      const v = tf.squeeze(x, [4]);
      const lbl = tf.add(tf.cast(tf.greater(v, 0.15), 'int32'), tf.mul(tf.cast(tf.less(v, -0.15), 'int32'), 2));
      return tf.oneHot(tf.cast(lbl, 'int32') as tf.Tensor4D, 3);
    });
    const opt = tf.train.momentum(0.01, 0.99, true); // nnUNetTrainerV2: SGD, momentum 0.99, nesterov, initial lr 0.01
    const losses: number[] = [];
    const tensors: number[] = [];
    const t0 = Date.now();
    for (let step = 0; step < 5; step++) {
      const { loss, grads } = await net.computeGradients(x, (o) => placeholderLoss(o, target), { microBatch: 2 });
      opt.applyGradients([...grads].map(([n, g]) => ({ name: net.variables.get(n)!.name, tensor: g })));
      tf.dispose([...grads.values()]);
      losses.push(loss);
      tensors.push(tf.memory().numTensors);
    }
    const seconds = (Date.now() - t0) / 1000;
    console.log(`training_step: losses ${losses.map((l) => l.toFixed(4)).join(' ')}; ${seconds.toFixed(0)} s for 5 steps`);
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    for (let i = 1; i < 5; i++) assert.ok(losses[i] < losses[i - 1], `loss did not decrease at step ${i}: ${losses}`);
    // momentum slots are created on the first step; afterwards the count is constant
    assert.deepEqual(tensors.slice(1), new Array(4).fill(tensors[1]), `tensor counts ${tensors}`);
    opt.dispose();
    tf.dispose([x, target]);
    net.dispose();
  });
});
