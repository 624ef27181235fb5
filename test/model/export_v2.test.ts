/**
 * export-model --format nnunet-v2 (issue 22): a model trained in nnunet-ts (tiny task, test/training/trainer_fixture.ts)
 * exported as an nnU-Net v2 model folder and read back with our v2 import predicts bit-identically; what cannot be a
 * PlainConvUNet is refused and nothing is written.
 */
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { buildArchitecture } from '../../sdk/network/architecture';
import { GenericUNet } from '../../sdk/network/generic_unet';
import { loadTrainedNetwork, readCheckpoint, checkpointFile } from '../../sdk/checkpoint/checkpoint';
import { trainFold } from '../../sdk/training/trainer';
import { tfjsPatchPredictor } from '../../sdk/inference/tfjs_predictor';
import { predictLogitsSlidingWindowV2 } from '../../sdk/inference/sliding_window_v2';
import { readTorchCheckpoint, TorchTensor } from '../../sdk/io/torch_checkpoint';
import { exportModelV2, ModelExportError, plainConvUNetSpecOf, v2DatasetJson } from '../../sdk/model/export_v2';
import { loadV2Model } from '../../sdk/model/v2';
import { TinyTask, tinyTask } from '../training/trainer_fixture';

let task: TinyTask;
let net: GenericUNet;
let exported: string;
const CONFIG = '2d';

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  task = await tinyTask();
  const out = path.join(task.root, 'export_v2_fold0');
  await trainFold({
    plans: task.plans,
    configuration: CONFIG,
    preprocessedDir: task.preprocessed[CONFIG],
    trainCases: task.train,
    valCases: task.val,
    outputDir: out,
    fold: 0,
    dataset: task.dataset,
    epochs: 1,
    iterationsPerEpoch: 3,
    validationIterations: 1,
    numThreads: 0,
    progress: false,
    validate: false,
    seed: 5,
  });
  net = loadTrainedNetwork(out);
  const ck = readCheckpoint(checkpointFile(out, 'checkpoint_final'));
  exported = await exportModelV2({
    plans: task.plans.json as never,
    configuration: CONFIG,
    folds: [{ fold: 0, network: net, epoch: ck.state.epoch, bestEma: ck.state.bestEma }],
    datasetJson: v2DatasetJson(task.dataset),
    outDir: path.join(task.root, 'v2_results'),
  });
});

describe('export as nnU-Net v2', () => {
  test('the folder is a v2 model folder: plans.json with a PlainConvUNet architecture, dataset.json, fold_0/checkpoint_final.pth', () => {
    assert.match(path.basename(exported), new RegExp(`^nnUNetTrainer__${task.plans.json.plans_name}__${CONFIG}$`));
    const plans = JSON.parse(fs.readFileSync(path.join(exported, 'plans.json'), 'utf8'));
    assert.equal(plans.configurations[CONFIG].architecture.network_class_name, 'dynamic_network_architectures.architectures.unet.PlainConvUNet');
    assert.equal(plans.configurations[CONFIG].preprocessor_name, 'DefaultPreprocessor');
    const ds = JSON.parse(fs.readFileSync(path.join(exported, 'dataset.json'), 'utf8'));
    assert.deepEqual(Object.keys(ds.channel_names), ['0']);
    const ck = readTorchCheckpoint(path.join(exported, 'fold_0/checkpoint_final.pth')).value as Record<string, unknown>;
    assert.equal(ck.trainer_name, 'nnUNetTrainer');
    assert.deepEqual(ck.inference_allowed_mirroring_axes, [0, 1]);
    assert.equal((ck.init_args as Record<string, unknown>).configuration, CONFIG);
    const sd = ck.network_weights as Record<string, TorchTensor>;
    // the aliases PyTorch's state_dict has are there too (load_state_dict(strict=True) needs them)
    assert.ok('decoder.encoder.stages.0.0.convs.0.conv.weight' in sd && 'encoder.stages.0.0.convs.0.all_modules.0.weight' in sd);
  });

  test('read back with the v2 import, the network is bit-identical to the trained one (forward and v2 sliding window)', async () => {
    const model = loadV2Model(exported);
    try {
      const dn = model.networks[0];
      const a = net.architecture;
      const x = tf.randomNormal([2, 32, 32, a.numInputChannels], 0, 1, 'float32', 11);
      const y1 = net.predict(x);
      const y2 = dn.predict(x);
      const [d1, d2] = [(await y1.data()) as Float32Array, (await y2.data()) as Float32Array];
      tf.dispose([x, y1, y2]);
      assert.equal(d1.length, d2.length);
      let diff = 0;
      for (let i = 0; i < d1.length; i++) if (d1[i] !== d2[i]) diff++;
      assert.equal(diff, 0, `${diff} logits differ`);
      // a whole preprocessed-size volume through the v2 sliding window with each network
      const shape = [1, 5, 40, 36];
      const img = Float32Array.from({ length: shape.reduce((p, q) => p * q, 1) }, (_, i) => Math.sin(i * 0.37) * 2);
      const patch = task.plans.json.configurations[CONFIG].patch_size as number[];
      const run = (f: (t: tf.Tensor) => tf.Tensor) =>
        predictLogitsSlidingWindowV2(img, shape, { patchSize: patch, numClasses: a.numClasses, predictPatch: tfjsPatchPredictor(f), mirrorAxes: model.mirrorAxes });
      const r1 = await run((t) => net.predict(t));
      const r2 = await run((t) => dn.predict(t));
      assert.deepEqual(r1.shape, r2.shape);
      assert.ok(r1.data.every((v, i) => v === r2.data[i]), 'v2 sliding-window logits differ');
    } finally {
      model.networks.forEach((n) => n.dispose());
    }
  });

  test('an existing folder is not overwritten unless asked; a network with no PlainConvUNet equivalent is refused', async () => {
    await assert.rejects(
      exportModelV2({ plans: task.plans.json as never, configuration: CONFIG, folds: [{ fold: 0, network: net }], datasetJson: {}, outDir: path.join(task.root, 'v2_results') }),
      /exists \(pass overwrite/,
    );
    // v1's decoder takes the next-deeper stage's kernel: with anisotropic kernels that is not a PlainConvUNet
    const a = buildArchitecture(
      { pool_op_kernel_sizes: [[1, 2, 2], [2, 2, 2]], conv_kernel_sizes: [[1, 3, 3], [3, 3, 3], [3, 3, 3]], UNet_base_num_features: 4, patch_size: [8, 16, 16], batch_size: 2 },
      { numInputChannels: 1, numClasses: 2 },
    );
    assert.throws(() => plainConvUNetSpecOf(a), (e: Error) => e instanceof ModelExportError && /decoder level 1 uses kernel \[3,3,3\].*PlainConvUNet would use \[1,3,3\]/.test(e.message));
  });
});
