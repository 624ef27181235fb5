import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { tfjsPatchPredictor } from '../../sdk/inference/tfjs_predictor';
import { predictSlidingWindow } from '../../sdk/inference/sliding_window';

test('tfjsPatchPredictor: channels-first boundary around a channels-last network, split batches, no tensor leak', async () => {
  await tf.setBackend('cpu');
  // channels-last "network": class 0 logit = channel 0, class 1 logit = 2 * channel 1 + z index (position dependent)
  const net = (x: tf.Tensor) =>
    tf.tidy(() => {
      const [n, Z, Y, X] = x.shape;
      const c0 = tf.slice(x, [0, 0, 0, 0, 0], [n, Z, Y, X, 1]);
      const c1 = tf.slice(x, [0, 0, 0, 0, 1], [n, Z, Y, X, 1]);
      const zz = tf.range(0, Z).reshape([1, Z, 1, 1, 1]);
      return tf.concat([c0, tf.add(tf.mul(c1, 2), zz)], 4);
    });
  const shape = [3, 2, 4, 5, 6]; // N, C, Z, Y, X
  const vox = 4 * 5 * 6;
  const batch = new Float32Array(3 * 2 * vox).map((_, i) => Math.sin(i));
  const before = tf.memory().numTensors;
  const whole = await tfjsPatchPredictor(net)(batch, shape);
  const split = await tfjsPatchPredictor(net, { maxBatch: 2 })(batch, shape);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(Array.from(split), Array.from(whole));
  for (let b = 0; b < 3; b++) {
    for (let v = 0; v < vox; v++) {
      const z = Math.floor(v / 30);
      assert.equal(whole[(b * 2 + 0) * vox + v], batch[(b * 2 + 0) * vox + v]);
      assert.ok(Math.abs(whole[(b * 2 + 1) * vox + v] - (2 * batch[(b * 2 + 1) * vox + v] + z)) < 1e-6);
    }
  }
  // through the sliding window: 2 input channels, 2 classes
  const img = new Float32Array(2 * 6 * 7 * 8).map((_, i) => Math.cos(i));
  const r = await predictSlidingWindow(img, [2, 6, 7, 8], { patchSize: [4, 4, 4], numClasses: 2, predictPatch: tfjsPatchPredictor(net) });
  assert.deepEqual(r.shape, [2, 6, 7, 8]);
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(tfjsPatchPredictor((x) => tf.tidy(() => tf.sum(x, 1)))(batch, shape), /network returned shape/);
});
