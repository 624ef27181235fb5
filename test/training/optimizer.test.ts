import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { SGDNesterov, clipGradNorm, polyLR } from '../../sdk/training/optimizer';
import { EvalCriterionMovingAverage, OnlineEvaluation } from '../../sdk/training/online_evaluation';

const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test.before(async () => {
  await tf.setBackend('cpu');
});

test('poly learning rate values of reference A.5 / §6.3', () => {
  close(polyLR(0), 0.01, 1e-12);
  close(polyLR(1), 0.009991, 5e-7);
  close(polyLR(100), 0.00909533, 5e-9);
  close(polyLR(500), 0.00535887, 5e-9);
  close(polyLR(999), 1.995e-5, 5e-9);
});

test('SGD Nesterov with weight decay follows torch.optim.SGD for two steps', async () => {
  const p = tf.variable(tf.tensor([1, -2]), true, 'w');
  const opt = new SGDNesterov({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
  const g1 = { w: tf.tensor([0.5, 0.25]) };
  opt.step({ w: p }, g1);
  // hand computation: d = g + wd·p; buf = d; d' = d + m·buf; p ← p − lr·d'
  const d1 = [0.5 + 0.01 * 1, 0.25 + 0.01 * -2];
  const p1 = [1 - 0.1 * (d1[0] + 0.9 * d1[0]), -2 - 0.1 * (d1[1] + 0.9 * d1[1])];
  Array.from(p.dataSync()).forEach((v, i) => close(v, p1[i], 1e-6));
  opt.step({ w: p }, { w: tf.tensor([-1, 0]) });
  const d2 = [-1 + 0.01 * p1[0], 0 + 0.01 * p1[1]];
  const b2 = [0.9 * d1[0] + d2[0], 0.9 * d1[1] + d2[1]];
  const p2 = [p1[0] - 0.1 * (d2[0] + 0.9 * b2[0]), p1[1] - 0.1 * (d2[1] + 0.9 * b2[1])];
  Array.from(p.dataSync()).forEach((v, i) => close(v, p2[i], 1e-6));
  // state round trip reproduces the next step
  const s = JSON.parse(JSON.stringify(await opt.getState()));
  const q = tf.variable(p.clone(), true, 'w2');
  const opt2 = new SGDNesterov();
  opt2.setState({ ...s, buffers: { w2: s.buffers.w } });
  opt.step({ w: p }, { w: tf.tensor([0.3, 0.3]) });
  opt2.step({ w2: q }, { w2: tf.tensor([0.3, 0.3]) });
  Array.from(p.dataSync()).forEach((v, i) => close(v, q.dataSync()[i], 1e-7));
  assert.equal(new SGDNesterov().momentum, 0.99);
  assert.equal(new SGDNesterov().weightDecay, 3e-5);
});

test('clip_grad_norm_ at 12: global L2 norm over all gradients', async () => {
  const g = { a: tf.tensor([3, 4]), b: tf.tensor([12]) }; // norm 13
  const { grads, totalNorm } = await clipGradNorm(g, 12);
  close(totalNorm, 13, 1e-5);
  const s = 12 / (13 + 1e-6);
  Array.from(grads.a.dataSync()).forEach((v, i) => close(v, [3, 4][i] * s, 1e-5));
  close(grads.b.dataSync()[0], 12 * s, 1e-5);
  const small = await clipGradNorm({ a: tf.tensor([1, 1]) }, 12);
  assert.deepEqual(Array.from(small.grads.a.dataSync()), [1, 1]);
});

test('online evaluation: global Dice per class over the epoch, NaN classes dropped, moving average 0.9/0.1', async () => {
  const ev = new OnlineEvaluation(3);
  // batch 1: logits for 4 voxels, argmax = [0, 1, 1, 2]; target [0, 1, 2, 2]
  const logits = tf.tensor([5, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 5], [1, 2, 2, 3]);
  await ev.addBatch(logits, tf.tensor([0, 1, 2, 2], [1, 2, 2], 'int32'));
  // batch 2: label maps directly
  ev.addLabelMaps([1, 0], [1, 1]);
  const r = ev.finish();
  // class 1: tp 1+1, fp 1, fn 1 → 4/6; class 2: tp 1, fn 1 → 2/3
  assert.deepEqual(r.tp, [2, 1]);
  close(r.globalDicePerClass[0], 4 / 6, 1e-12);
  close(r.globalDicePerClass[1], 2 / 3, 1e-12);
  close(r.meanDice, 2 / 3, 1e-12);
  const e2 = new OnlineEvaluation(3);
  e2.addLabelMaps([1, 0], [1, 0]);
  const r2 = e2.finish();
  assert.ok(Number.isNaN(r2.globalDicePerClass[1]));
  close(r2.meanDice, 1, 1e-12);
  const ma = new EvalCriterionMovingAverage();
  close(ma.update(0.5), 0.5, 1e-12);
  close(ma.update(1.0), 0.9 * 0.5 + 0.1 * 1.0, 1e-12);
  close(new EvalCriterionMovingAverage().update(null, 0.7), -0.7, 1e-12);
});
