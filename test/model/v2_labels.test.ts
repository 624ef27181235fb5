/**
 * nnunetv2's LabelManager restated (sdk/model/v2_labels.ts): labels, regions (BraTS-style), the ignore label, the
 * outputs they give the network, and how logits become probabilities and a segmentation; plus which trainer names
 * predict as nnUNetTrainer does.
 */
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { v2LabelManager, v2ProbabilitiesAndSegmentation } from '../../sdk/model/v2_labels';
import { isSupportedV2Trainer } from '../../sdk/model/v2';

describe('v2 LabelManager', () => {
  test('labels: one softmax output per label, background included; the ignore label is not an output', () => {
    const l = v2LabelManager({ labels: { background: 0, Anterior: 1, Posterior: 2 } }, 'dataset.json');
    assert.deepEqual(l, { allLabels: [0, 1, 2], foregroundLabels: [1, 2], regions: null, regionsClassOrder: null, ignoreLabel: null, numHeads: 3 });
    const i = v2LabelManager({ labels: { background: 0, a: 1, b: 2, ignore: 3 } }, 'dataset.json');
    assert.equal(i.numHeads, 3);
    assert.equal(i.ignoreLabel, 3);
    assert.deepEqual(i.foregroundLabels, [1, 2]);
  });

  test('regions (BraTS): one sigmoid output per foreground region, painted in regions_class_order', () => {
    const b = v2LabelManager(
      { labels: { background: 0, whole_tumor: [1, 2, 3], tumor_core: [2, 3], enhancing_tumor: 3 }, regions_class_order: [1, 2, 3] },
      'dataset.json',
    );
    assert.deepEqual(b.regions, [[1, 2, 3], [2, 3], 3]);
    assert.equal(b.numHeads, 3);
    assert.deepEqual(b.foregroundLabels, [1, 2, 3]);
    // nnunetv2's filter_background drops a one-value list region ([3]) from the outputs: kept as it does
    const q = v2LabelManager({ labels: { background: 0, wt: [1, 2, 3], tc: [2, 3], et: [3] }, regions_class_order: [1, 2, 3] }, 'dataset.json');
    assert.equal(q.numHeads, 2);
  });

  test('refusals name the file: no background, a non-final ignore label, regions without their order, gaps', () => {
    assert.throws(() => v2LabelManager({ labels: { a: 1 } }, 'ds/dataset.json'), /ds\/dataset\.json: labels must declare 'background': 0/);
    assert.throws(() => v2LabelManager({ labels: { background: 0, a: 1, ignore: 5 } }, 'x.json'), /x\.json: the ignore label \(5\) must be the highest label value \+ 1/);
    assert.throws(() => v2LabelManager({ labels: { background: 0, wt: [1, 2], a: 2 } }, 'x.json'), /needs regions_class_order/);
    assert.throws(() => v2LabelManager({ labels: { background: 0, wt: [1, 2], a: 2 }, regions_class_order: [1] }, 'x.json'), /regions_class_order has 1 entries for 2 regions/);
    assert.throws(() => v2LabelManager({ labels: { background: 0, a: 1, b: 3 } }, 'x.json'), /labels must be consecutive from 0/);
  });

  test('logits -> probabilities and segmentation: softmax + argmax for labels, sigmoid > 0.5 in order for regions', () => {
    const labels = v2LabelManager({ labels: { background: 0, a: 1, b: 2 } }, 'd');
    // 2 voxels, C order: channel 0 then 1 then 2
    const r = v2ProbabilitiesAndSegmentation(labels, Float32Array.from([0, 0, 1, 0, 0, 3]));
    assert.deepEqual(Array.from(r.segmentation), [1, 2]);
    assert.ok(Math.abs(r.probabilities[0] + r.probabilities[2] + r.probabilities[4] - 1) < 1e-6);
    const regions = v2LabelManager({ labels: { background: 0, whole: [1, 2], core: 2 }, regions_class_order: [1, 2] }, 'd');
    // voxel 0: whole yes, core no -> 1; voxel 1: both -> 2 (painted last); voxel 2: core only -> 2; voxel 3: none -> 0
    const g = v2ProbabilitiesAndSegmentation(regions, Float32Array.from([2, 2, -2, -2, -2, 2, 2, -2]));
    assert.deepEqual(Array.from(g.segmentation), [1, 2, 2, 0]);
    assert.ok(Math.abs(g.probabilities[0] - 1 / (1 + Math.exp(-2))) < 1e-7);
  });
});

describe('v2 trainers', () => {
  test('nnUNetTrainer and its epoch / augmentation / mirroring variants predict as nnUNetTrainer; others are not assumed to', () => {
    for (const t of ['nnUNetTrainer', 'nnUNetTrainer_4000epochs_NoMirroring', 'nnUNetTrainerNoMirroring', 'nnUNetTrainer_250epochs', 'nnUNetTrainerDA5', 'nnUNetTrainer_onlyMirror01']) {
      assert.ok(isSupportedV2Trainer(t), t);
    }
    for (const t of ['nnUNetTrainerBN', 'MyTrainer', 'nnUNetTrainerV2', 'nnUNetTrainer_4000epochs_Custom']) assert.ok(!isSupportedV2Trainer(t), t);
  });
});
