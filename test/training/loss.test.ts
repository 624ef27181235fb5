import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import * as path from 'path';
import { readJsonSync } from '../../sdk/io/atomic';
import { batchDiceForConfiguration, crossEntropyLoss, dcAndCeLoss, deepSupervisionWeights, multipleOutputLoss, softDiceLoss } from '../../sdk/training/dice_ce_loss';
import { channelsFirstToTensor, labelMapToTensor } from '../../sdk/training/tensors';

const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test.before(async () => {
  await tf.setBackend('cpu');
});

/** Hand computation of v1's SoftDiceLoss/CE on plain arrays (softmax over the last axis). */
function reference(logits: number[][], labels: number[], N: number, batchDice: boolean) {
  const C = logits[0].length;
  const P = logits.map((l) => {
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
  const ce = -P.reduce((a, p, i) => a + Math.log(p[labels[i]]), 0) / P.length;
  const per = P.length / N;
  const groups = batchDice ? [[...Array(P.length).keys()]] : Array.from({ length: N }, (_, s) => Array.from({ length: per }, (_, k) => s * per + k));
  const dcs: number[] = [];
  for (const g of groups)
    for (let c = 1; c < C; c++) {
      let tp = 0, fp = 0, fn = 0;
      for (const i of g) {
        const y = labels[i] === c ? 1 : 0;
        tp += P[i][c] * y;
        fp += P[i][c] * (1 - y);
        fn += (1 - P[i][c]) * y;
      }
      dcs.push((2 * tp + 1e-5) / (2 * tp + fp + fn + 1e-5 + 1e-8));
    }
  return { ce, dice: -dcs.reduce((a, b) => a + b, 0) / dcs.length };
}

test('soft Dice (batch and per-sample) and CE match a hand computation', () => {
  // N = 2 samples of 1×2×2 voxels, 3 classes, channels last
  const logits = [[2, 0, -1], [0.5, 1.5, 0], [-1, 0, 3], [1, 1, 1], [0, 2, 0], [3, -2, 0], [0, 0, 0.5], [-1, 2, 1]];
  const labels = [0, 1, 2, 2, 1, 0, 2, 1];
  const x = tf.tensor(logits.flat(), [2, 1, 2, 2, 3]);
  const y = tf.tensor(labels, [2, 1, 2, 2], 'int32');
  for (const batchDice of [true, false]) {
    const ref = reference(logits, labels, 2, batchDice);
    close(softDiceLoss(x, y, { batchDice }).dataSync()[0], ref.dice);
    close(dcAndCeLoss(x, y, { batchDice }).dataSync()[0], ref.ce + ref.dice);
  }
  close(crossEntropyLoss(x, y).dataSync()[0], reference(logits, labels, 2, true).ce);
  // 2D layout [N, Y, X, C] and a trailing label channel are accepted
  const x2 = tf.tensor(logits.flat(), [2, 2, 2, 3]);
  const y2 = tf.tensor(labels, [2, 2, 2, 1], 'int32');
  close(dcAndCeLoss(x2, y2, { batchDice: false }).dataSync()[0], (() => { const r = reference(logits, labels, 2, false); return r.ce + r.dice; })());
});

test('a confident correct prediction gives Dice loss −1 and CE ≈ 0; an absent class counts as Dice 1 (smooth)', () => {
  const labels = [0, 1, 1, 0];
  const logits = labels.map((l) => (l === 1 ? [-30, 30] : [30, -30]));
  const x = tf.tensor(logits.flat(), [1, 2, 2, 2]);
  const y = tf.tensor(labels, [1, 2, 2], 'int32');
  close(softDiceLoss(x, y, { batchDice: true }).dataSync()[0], -1, 1e-6);
  close(crossEntropyLoss(x, y).dataSync()[0], 0, 1e-6);
  // class 1 absent from target and prediction: dc = smooth / (smooth + 1e-8) ≈ 0.999
  const bg = tf.tensor([30, -30, 30, -30], [1, 1, 2, 2]);
  const t0 = tf.tensor([0, 0], [1, 1, 2], 'int32');
  close(softDiceLoss(bg, t0, { batchDice: false }).dataSync()[0], -(1e-5 / (1e-5 + 1e-8)), 1e-6);
});

test('deep-supervision weights of reference A.5; weighted sum skips zero weights', () => {
  const w5 = deepSupervisionWeights(5);
  [0.533333, 0.266667, 0.133333, 0.066667, 0].forEach((v, i) => close(w5[i], v, 1e-6));
  const w7 = deepSupervisionWeights(7);
  [0.507937, 0.253968, 0.126984, 0.063492, 0.031746, 0.015873, 0].forEach((v, i) => close(w7[i], v, 1e-6));
  const outs = [tf.tensor([[1, 0]].flat(), [1, 1, 2]), tf.tensor([0, 1], [1, 1, 2]), tf.tensor([0, 1], [1, 1, 2])];
  const tg = [tf.tensor([0], [1, 1], 'int32'), tf.tensor([1], [1, 1], 'int32'), tf.tensor([0], [1, 1], 'int32')];
  const calls: number[] = [];
  const fake = (l: tf.Tensor) => {
    calls.push(l.dataSync()[0]);
    return tf.scalar(l.dataSync()[0] + 1);
  };
  const tot = multipleOutputLoss(outs, tg, [0.5, 0.5, 0], fake).dataSync()[0];
  close(tot, 0.5 * 2 + 0.5 * 1);
  assert.equal(calls.length, 2);
});

test('loss is differentiable and leaks no tensors; layout conversion is channels-last', () => {
  const w = tf.variable(tf.tensor([0.1, -0.2, 0.3, 0.05, 0, 0.2, -0.1, 0.4], [1, 2, 2, 2]));
  const y = tf.tensor([0, 1, 1, 0], [1, 2, 2], 'int32');
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const { value, grads } = tf.variableGrads(() => dcAndCeLoss(w, y, { batchDice: true }), [w]);
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.ok(tf.tidy(() => grads[w.name].abs().sum().dataSync()[0]) > 0);
    value.dispose();
    tf.dispose(grads);
  }
  assert.equal(tf.memory().numTensors, before);
  const t = channelsFirstToTensor(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), [1, 2, 1, 2, 2]);
  assert.deepEqual(t.shape, [1, 1, 2, 2, 2]);
  assert.deepEqual(Array.from(t.dataSync()), [1, 5, 2, 6, 3, 7, 4, 8]);
  const l = labelMapToTensor(Float32Array.from([0, 2, 1, 0]), [1, 1, 2, 2]);
  assert.deepEqual(l.shape, [1, 2, 2]);
  assert.equal(l.dtype, 'int32');
});

test('batch dice rule of default_configuration.py on the official hippocampus plans (one stage)', () => {
  const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');
  const stages = Object.keys((readJsonSync(path.join(FIX, 'hippocampus_v1_plans_3d.json')) as any).plans_per_stage).length;
  assert.equal(stages, 1);
  assert.equal(batchDiceForConfiguration('2d', stages), true);
  assert.equal(batchDiceForConfiguration('3d_fullres', stages), false);
  // two stages (Lung, §6.1): fullres and cascade use batch dice, lowres does not
  assert.equal(batchDiceForConfiguration('3d_fullres', 2), true);
  assert.equal(batchDiceForConfiguration('3d_cascade_fullres', 2), true);
  assert.equal(batchDiceForConfiguration('3d_lowres', 2), false);
});
