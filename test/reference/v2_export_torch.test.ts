// reference suite: python3-torch 1.13 -- an nnU-Net v2 model folder exported by nnunet-ts loads in PyTorch (names, shapes, strict load) and predicts as ours
/**
 * export-model --format nnunet-v2 against PyTorch (issue 22): a model trained here (tiny task,
 * test/training/trainer_fixture.ts) is exported; bench/python/v2_export_check.py torch.loads its
 * checkpoint_final.pth, builds dynamic_network_architectures' PlainConvUNet from the exported plans.json, checks
 * that the state_dict's names (in order) and shapes are the module's own, load_state_dict(strict=True), and runs one
 * forward pass; the logits must equal ours to float32 noise.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { loadTrainedNetwork } from '../../sdk/checkpoint/checkpoint';
import { trainFold } from '../../sdk/training/trainer';
import { readNpy, writeNpySync } from '../../sdk/io/npy';
import { exportModelV2, v2DatasetJson } from '../../sdk/model/export_v2';
import { TinyTask, tinyTask } from '../training/trainer_fixture';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
let task: TinyTask;

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  task = await tinyTask();
});

for (const config of ['2d', '3d_fullres']) {
  test(`${config}: PyTorch loads the exported checkpoint strictly and its forward pass equals ours`, async () => {
    const out = path.join(task.root, `v2_ref_${config}`);
    await trainFold({
      plans: task.plans,
      configuration: config,
      preprocessedDir: task.preprocessed[config],
      trainCases: task.train,
      valCases: task.val,
      outputDir: path.join(out, 'fold_0'),
      fold: 0,
      dataset: task.dataset,
      epochs: 1,
      iterationsPerEpoch: 2,
      validationIterations: 1,
      numThreads: 0,
      progress: false,
      validate: false,
      seed: 9,
    });
    const net = loadTrainedNetwork(path.join(out, 'fold_0'));
    try {
      const dir = await exportModelV2({ plans: task.plans.json as never, configuration: config, folds: [{ fold: 0, network: net }], datasetJson: v2DatasetJson(task.dataset), outDir: path.join(out, 'v2') });
      const patch = task.plans.json.configurations[config].patch_size as number[];
      const shape = [2, task.dataset.channelNames.length, ...patch];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731) * 1.5);
      writeNpySync(path.join(out, 'x.npy'), x, shape);
      const py = spawnSync(PYTHON, [path.resolve(__dirname, '../../bench/python/v2_export_check.py'), dir, path.join(out, 'x.npy'), path.join(out, 'y.npy')], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      const rep = JSON.parse(py.stdout.trim().split('\n').pop()!);
      assert.equal(rep.keys_equal_in_order, true);
      assert.equal(rep.shapes_equal, true);
      assert.equal(rep.trainer_name, 'nnUNetTrainer');
      assert.equal(rep.configuration, config);
      const ref = readNpy(path.join(out, 'y.npy')).data as Float32Array;
      const rank = shape.length;
      const toLast = [0, ...shape.slice(2).map((_, i) => i + 2), 1];
      const toFirst = [0, rank - 1, ...shape.slice(2).map((_, i) => i + 1)];
      const y = tf.tidy(() => tf.transpose(net.predict(tf.transpose(tf.tensor(x, shape), toLast)), toFirst));
      const ours = (await y.data()) as Float32Array;
      y.dispose();
      assert.equal(ours.length, ref.length);
      let max = 0;
      let scale = 0;
      for (let i = 0; i < ref.length; i++) {
        max = Math.max(max, Math.abs(ours[i] - ref[i]));
        scale = Math.max(scale, Math.abs(ref[i]));
      }
      console.log(`# ${config}: ${rep.n_keys} tensors, strict load ok (weights_only: ${rep.weights_only}), max |logit diff| ${max.toExponential(2)} (logits up to ${scale.toFixed(2)})`);
      assert.ok(max <= 1e-4 * Math.max(1, scale), `forward differs by ${max}`);
      assert.ok(fs.existsSync(path.join(dir, 'dataset.json')));
    } finally {
      net.dispose();
    }
  });
}
