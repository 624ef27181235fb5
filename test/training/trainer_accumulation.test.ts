/**
 * Micro-batched gradient accumulation equals the full-batch gradient and loss of multipleOutputLoss(DC+CE), with
 * and without batch Dice (the latter through the two-pass linear surrogate), and the chunked validation loss equals
 * the full-batch loss.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { GenericUNet } from '../../sdk/network/generic_unet';
import { dcAndCeLoss, deepSupervisionWeights, multipleOutputLoss } from '../../sdk/training/dice_ce_loss';
import { accumulateGradients, chunkedValidationLoss, chunkRanges } from '../../sdk/training/accumulation';
import { RandomState } from '../../sdk/util/random';
import { GradientWorkers, shardRanges } from '../../sdk/training/data_parallel';
import { backendInfo } from '../../sdk/network/backend';

const initBackendName = () => backendInfo().backend;

before(async () => {
  await initBackend({ log: false });
});

function setup() {
  const cfg = {
    pool_op_kernel_sizes: [
      [2, 2, 2],
      [2, 2, 2],
      [2, 2, 2],
    ],
    conv_kernel_sizes: [
      [3, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
    ],
    UNet_base_num_features: 4,
    patch_size: [16, 16, 16],
    batch_size: 5,
  };
  const net = GenericUNet.fromPlans(cfg, { numInputChannels: 1, numClasses: 3, seed: 3 });
  const rs = new RandomState(9);
  const N = 5;
  const x = tf.tensor(Float32Array.from({ length: N * 4096 }, () => rs.normal(0, 1)), [N, 16, 16, 16, 1]);
  // labels correlated with the input so the Dice terms are not degenerate
  const xd = x.dataSync();
  const lab = (s: number) => {
    const n = 16 / s;
    const out = new Int32Array(N * n * n * n);
    for (let b = 0; b < N; b++)
      for (let z = 0; z < n; z++)
        for (let y = 0; y < n; y++)
          for (let q = 0; q < n; q++) {
            const v = xd[b * 4096 + (z * s * 16 + y * s) * 16 + q * s];
            out[((b * n + z) * n + y) * n + q] = v > 0.8 ? 1 : v < -0.8 ? 2 : 0;
          }
    return tf.tensor(out, [N, n, n, n], 'int32');
  };
  const targets = [lab(1), lab(2), lab(4)];
  return { net, x, targets, weights: deepSupervisionWeights(3) };
}

function maxRelDiff(a: tf.NamedTensorMap, b: tf.NamedTensorMap): number {
  let worst = 0;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    const u = a[k].dataSync();
    const v = b[k].dataSync();
    let scale = 1e-6;
    for (let i = 0; i < u.length; i++) scale = Math.max(scale, Math.abs(u[i]));
    for (let i = 0; i < u.length; i++) worst = Math.max(worst, Math.abs(u[i] - v[i]) / scale);
  }
  return worst;
}

test('chunkRanges covers the batch', () => {
  assert.deepEqual(chunkRanges(5, 2), [
    [0, 2],
    [2, 4],
    [4, 5],
  ]);
  assert.deepEqual(chunkRanges(281, 83).map(([a, b]) => b - a), [83, 83, 83, 32]);
});

for (const batchDice of [false, true]) {
  test(`accumulated gradients equal the full batch (batch_dice ${batchDice})`, async () => {
    const { net, x, targets, weights } = setup();
    const loss = (l: tf.Tensor, t: tf.Tensor) => dcAndCeLoss(l, t, { batchDice, smooth: 1e-5, doBg: false });
    const full = tf.variableGrads(() => multipleOutputLoss(net.forward(x), targets, weights, loss), net.trainableVariables());
    const fullLoss = full.value.dataSync()[0];
    for (const chunk of [1, 2, 3]) {
      const before = tf.memory().numTensors;
      let forwards = 0;
      const fwd = net.forward.bind(net);
      net.forward = (...args: Parameters<typeof net.forward>) => (forwards++, fwd(...args));
      const acc = await accumulateGradients(net, x, targets, weights, batchDice, chunk);
      net.forward = fwd;
      // batch Dice needs the global sums first: one no-tape forward per chunk (read asynchronously, so not from inside
      // a taped function), then one taped forward per chunk; without batch Dice every chunk is forwarded once
      const k = Math.ceil(5 / chunk);
      assert.equal(forwards, batchDice ? 2 * k : k, `chunk ${chunk}: forward passes`);
      assert.ok(Math.abs(acc.loss - fullLoss) < 1e-5 * Math.max(1, Math.abs(fullLoss)), `chunk ${chunk}: loss ${acc.loss} vs ${fullLoss}`);
      const d = maxRelDiff(full.grads, acc.grads);
      assert.ok(d < 1e-4, `chunk ${chunk}: max relative gradient difference ${d}`);
      tf.dispose(acc.grads);
      assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
      let ref = 0;
      const vl = await chunkedValidationLoss(net, x, targets, weights, batchDice, chunk, () => {
        ref++;
      });
      assert.equal(ref, Math.ceil(5 / chunk));
      assert.ok(Math.abs(vl - fullLoss) < 1e-5 * Math.max(1, Math.abs(fullLoss)), `validation loss ${vl} vs ${fullLoss}`);
      assert.equal(tf.memory().numTensors, before, 'no leaked tensors (validation)');
    }
    tf.dispose(full.grads);
    full.value.dispose();
    net.dispose();
    x.dispose();
    tf.dispose(targets);
  });
}

test('shardRanges splits a batch into near-equal shards', () => {
  assert.deepEqual(shardRanges(5, 2), [
    [0, 3],
    [3, 5],
  ]);
  assert.deepEqual(shardRanges(281, 2).map(([a, b]) => b - a), [141, 140]);
  assert.deepEqual(shardRanges(2, 3), [
    [0, 1],
    [1, 2],
  ]);
});

for (const batchDice of [false, true]) {
  test(`data-parallel gradients (this thread + worker threads) equal the full batch (batch_dice ${batchDice})`, async () => {
    const { net, x, targets, weights } = setup();
    const loss = (l: tf.Tensor, t: tf.Tensor) => dcAndCeLoss(l, t, { batchDice, smooth: 1e-5, doBg: false });
    const full = tf.variableGrads(() => multipleOutputLoss(net.forward(x), targets, weights, loss), net.trainableVariables());
    const fullLoss = full.value.dataSync()[0];
    for (const workers of [1, 2]) {
      const pool = await GradientWorkers.start(workers, net.architecture, initBackendName());
      try {
        for (const chunk of [1, 2]) {
          const before = tf.memory().numTensors;
          const r = await pool.computeGradients(net, x, targets, weights, batchDice, chunk);
          assert.ok(Math.abs(r.loss - fullLoss) < 1e-5 * Math.max(1, Math.abs(fullLoss)), `${workers} workers, chunk ${chunk}: loss ${r.loss} vs ${fullLoss}`);
          const d = maxRelDiff(full.grads, r.grads);
          assert.ok(d < 1e-4, `${workers} workers, chunk ${chunk}: max relative gradient difference ${d}`);
          tf.dispose(r.grads);
          assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
        }
        // the workers take the parameters of every step: after an update, they compute with the new values
        const v0 = net.trainableVariables()[0];
        const saved = tf.clone(v0);
        tf.tidy(() => v0.assign(tf.mul(v0, 0.5)));
        const ref = await accumulateGradients(net, x, targets, weights, batchDice, 5);
        const r2 = await pool.computeGradients(net, x, targets, weights, batchDice, 5);
        assert.ok(Math.abs(r2.loss - ref.loss) < 1e-5 * Math.max(1, Math.abs(ref.loss)), `after an update: loss ${r2.loss} vs ${ref.loss}`);
        assert.ok(maxRelDiff(ref.grads, r2.grads) < 1e-4, 'after an update: gradients');
        tf.dispose([...Object.values(ref.grads), ...Object.values(r2.grads)]);
        v0.assign(saved);
        saved.dispose();
      } finally {
        await pool.close();
      }
    }
    tf.dispose(full.grads);
    full.value.dispose();
    net.dispose();
    x.dispose();
    tf.dispose(targets);
  });
}
