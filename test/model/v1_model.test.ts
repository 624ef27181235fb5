/**
 * Official nnU-Net v1 model import (issue 22) on the genuine fixture written by the official trainer
 * (../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d, see its README): plans conversion, the
 * state_dict mapping with its refusals, and parity with official predict_simple on the 3 committed cases.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { unzipSync } from 'fflate';
import { initBackend } from '../../sdk/network/backend';
import { parameterCount } from '../../sdk/network/architecture';
import { readNifti } from '../../sdk/io/nifti';
import { parseNpy } from '../../sdk/io/npy';
import { readTorchCheckpoint, tensorsOf, TorchTensor } from '../../sdk/io/torch_checkpoint';
import { labelComponents } from '../../sdk/postprocessing/connected_components';
import { Model } from '../../sdk/model/model';
import { readV1CheckpointInfo, readV1Plans, v1Architecture, v1PlansToPlansJSON, v1Stage, valuesFromStateDict } from '../../sdk/model/v1';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official/checkpoints/Task004_Hippocampus_v1_2d');
const MODEL = path.join(FIX, 'nnUNetTrainerV2__nnUNetPlansv2.1');
const CKPT = path.join(MODEL, 'fold_0/model_final_checkpoint.model');
const IMAGES = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus/imagesTr');
const CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'];

/** One float16 ulp at |v| (spacing of float16 values around v). */
function f16ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

describe('nnU-Net v1 plans and state_dict', () => {
  test('plans.pkl and the checkpoint .pkl: the 2d stage, converted to our plans schema', () => {
    const info = readV1CheckpointInfo(`${CKPT}.pkl`);
    assert.equal(info.name, 'nnUNetTrainerV2');
    const { stage, configuration } = v1Stage(info.plans, info.init, 'x');
    assert.equal(stage, '0');
    assert.equal(configuration, '2d');
    const plans = readV1Plans(path.join(MODEL, 'plans.pkl'));
    assert.deepEqual(plans.plans_per_stage['0'].patch_size, [56, 40]);
    const json = v1PlansToPlansJSON(info.plans, { stage, configuration, datasetName: 'Task004_Hippocampus', plansName: 'nnUNetPlansv2.1', file: 'x' });
    const c = json.configurations['2d']!;
    assert.deepEqual(c.patch_size, [56, 40]);
    assert.deepEqual(c.spacing, [1, 1]);
    assert.deepEqual(c.normalization_schemes, ['ZScoreNormalization']);
    assert.deepEqual(c.use_mask_for_norm, [false]);
    assert.deepEqual(c.pool_op_kernel_sizes, [[2, 2], [2, 2], [2, 2]]);
    assert.equal(c.preprocessor_name, 'PreprocessorFor2D');
    assert.deepEqual(json.transpose_forward, [0, 1, 2]);
    assert.equal(c.data_identifier, 'nnUNetData_plans_v2.1_2D_stage0');
  });

  test('state_dict -> Generic U-Net: every tensor mapped, layout [out, in, k] -> [k, in, out]', () => {
    const info = readV1CheckpointInfo(`${CKPT}.pkl`);
    const arch = v1Architecture(info.plans, '0');
    const sd = tensorsOf((readTorchCheckpoint(CKPT).value as { state_dict: unknown }).state_dict, CKPT);
    assert.equal(parameterCount(arch), 1_928_256);
    const values = valuesFromStateDict(sd, arch, CKPT);
    assert.equal(values.size, sd.size);
    // conv: torch [o, i, ky, kx] -> ours [ky, kx, i, o]
    const t = sd.get('conv_blocks_context.1.blocks.0.conv.weight')!; // [64, 32, 3, 3]
    const ours = values.get('conv_blocks_context.1.blocks.0.conv.weight')!;
    for (const [o, i, ky, kx] of [[0, 0, 0, 0], [5, 7, 1, 2], [63, 31, 2, 2]]) {
      assert.equal(ours[((ky * 3 + kx) * 32 + i) * 64 + o], t.data[((o * 32 + i) * 3 + ky) * 3 + kx]);
    }
    // transposed conv: torch [in, out, ky, kx] -> ours [ky, kx, out, in]
    const tu = sd.get('tu.0.weight')!; // [256, 128, 2, 2]
    const tuOurs = values.get('tu.0.weight')!;
    for (const [i, o, ky, kx] of [[0, 0, 0, 0], [200, 100, 1, 0], [255, 127, 1, 1]]) {
      assert.equal(tuOurs[((ky * 2 + kx) * 128 + o) * 256 + i], tu.data[((i * 128 + o) * 2 + ky) * 2 + kx]);
    }
  });

  test('missing, mis-shaped or unexpected tensors and plans that do not match the weights are refused by name', () => {
    const info = readV1CheckpointInfo(`${CKPT}.pkl`);
    const arch = v1Architecture(info.plans, '0');
    const sd = tensorsOf((readTorchCheckpoint(CKPT).value as { state_dict: unknown }).state_dict, CKPT);
    const missing = new Map(sd);
    missing.delete('seg_outputs.1.weight');
    assert.throws(() => valuesFromStateDict(missing, arch, CKPT), new RegExp(`model_final_checkpoint\\.model: state_dict has no tensor 'seg_outputs\\.1\\.weight'`));
    const bad = new Map(sd);
    const w = sd.get('tu.2.weight')!;
    bad.set('tu.2.weight', new TorchTensor('float32', [64, 32, 3, 3], [288, 9, 3, 1], 0, new Float32Array(64 * 32 * 9)));
    assert.throws(() => valuesFromStateDict(bad, arch, CKPT), /tensor 'tu\.2\.weight' has shape \[64,32,3,3\], the network built from the plans needs \[64,32,2,2\]/);
    assert.equal(w.shape.join(), '64,32,2,2');
    const extra = new Map(sd);
    extra.set('decoder.extra.weight', w);
    assert.throws(() => valuesFromStateDict(extra, arch, CKPT), /state_dict has tensor\(s\) the network built from the plans does not have: decoder\.extra\.weight/);
    // plans that do not match the weights: 16 base features instead of 32
    const other = v1Architecture({ ...info.plans, base_num_features: 16 }, '0');
    assert.throws(() => valuesFromStateDict(sd, other, CKPT), /model_final_checkpoint\.model: tensor 'conv_blocks_context\.0\.blocks\.0\.conv\.weight' has shape \[32,1,3,3\], the network built from the plans needs \[16,1,3,3\]/);
  });
});

test('a .model.pkl or plans.pkl with a forbidden global is refused naming the file and the global', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-evil-'));
  try {
    const m = path.join(dir, 'nnUNetTrainerV2__nnUNetPlansv2.1');
    fs.mkdirSync(path.join(m, 'fold_0'), { recursive: true });
    fs.symlinkSync(CKPT, path.join(m, 'fold_0/model_final_checkpoint.model'));
    const evil = path.join(m, 'fold_0/model_final_checkpoint.model.pkl');
    const marker = path.join(dir, 'pwned');
    // pickle.dumps of an object whose __reduce__ is (os.system, ('touch <marker>',)), protocol 2
    fs.writeFileSync(evil, Buffer.concat([Buffer.from('\x80\x02cposix\nsystem\nX', 'latin1'), Buffer.from(new Uint32Array([6 + marker.length]).buffer), Buffer.from(`touch ${marker}\x85R.`, 'latin1')]));
    await assert.rejects(Model.load(m), (e: Error) => e.message.startsWith(`${evil}: refusing global 'posix.system'`));
    assert.ok(!fs.existsSync(marker));
    assert.throws(() => readV1Plans(evil), /refusing global 'posix\.system'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('Model.load + predict: parity with official predict_simple (2d, fold 0, mirroring TTA)', () => {
  let model: Model;
  before(async () => {
    process.env.NNUNET_PROGRESS = '0';
    await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
    const m = await Model.load(MODEL);
    assert.ok(m instanceof Model, 'a v1 folder loads as a v1 Model');
    model = m;
  });
  after(() => model?.dispose());

  test('the model: configuration, folds, architecture, no postprocessing (none in the model folder)', () => {
    assert.equal(model.configuration, '2d');
    assert.equal(model.trainer, 'nnUNetTrainerV2');
    assert.equal(model.plansName, 'nnUNetPlansv2.1');
    assert.deepEqual(model.folds, ['fold_0']);
    assert.equal(model.numClasses, 3);
    // v1 predict reads <model>/postprocessing.json; the fixture's only one is in fold_0/, so official did not apply it
    assert.equal(model.postprocessing, null);
    assert.match(model.describe(), /total parameters: 1928256/);
  });

  for (const id of CASES) {
    test(`${id}: segmentation voxel for voxel, softmax to float16 rounding`, async () => {
      const r = await model.predict(path.join(IMAGES, `${id}.nii.gz`), { probabilities: true });
      const ref = await readNifti(path.join(FIX, 'official_predictions', `${id}.nii.gz`));
      assert.deepEqual(r.segmentation.shape, ref.shape);
      assert.deepEqual(r.segmentation.spacing, ref.spacing);
      assert.deepEqual(r.segmentation.origin, ref.origin);
      let differing = 0;
      for (let i = 0; i < ref.data.length; i++) if (ref.data[i] !== r.segmentation.data[i]) differing++;
      assert.equal(differing, 0, `${differing} voxels differ from the official segmentation`);
      const sm = parseNpy(unzipSync(fs.readFileSync(path.join(FIX, 'official_predictions', `${id}.npz`)))['softmax.npy']);
      assert.deepEqual(r.probabilities!.shape, sm.shape);
      let maxUlps = 0;
      let changed = 0;
      for (let i = 0; i < sm.data.length; i++) {
        const a = sm.data[i] as number;
        const b = r.probabilities!.data[i];
        if (a !== b) {
          changed++;
          maxUlps = Math.max(maxUlps, Math.abs(a - b) / f16ulp(Math.max(Math.abs(a), Math.abs(b))));
        }
      }
      // float32 arithmetic differs from PyTorch's in the last bits; after rounding to float16 a value can land one
      // float16 step away (measured: 146 / 172 / 213 of ~190k values, never more than one step)
      assert.ok(maxUlps <= 1, `softmax differs by up to ${maxUlps} float16 steps`);
      assert.ok(changed < 0.005 * sm.data.length, `${changed} softmax values differ`);
    });
  }

  test('predict accepts a volume in memory (same result as from its file) and keeps files when asked', async () => {
    const file = path.join(IMAGES, 'hippocampus_001.nii.gz');
    const a = await model.predict(file, { mirroring: false });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-v1pred-'));
    try {
      const b = await model.predict(await readNifti(file), { mirroring: false, id: 'mem', outputDir: out, probabilities: true });
      assert.equal(b.id, 'mem');
      assert.deepEqual(Array.from(b.segmentation.data), Array.from(a.segmentation.data));
      assert.ok(fs.existsSync(b.files!.segmentation) && fs.existsSync(b.files!.probabilities!));
      assert.deepEqual(b.probabilities!.shape, [3, ...a.segmentation.shape]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  test('a postprocessing.json in the model folder is applied (largest component of class 1)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-v1model-'));
    try {
      const m = path.join(dir, 'nnUNetTrainerV2__nnUNetPlansv2.1');
      fs.mkdirSync(path.join(m, 'fold_0'), { recursive: true });
      for (const f of ['model_final_checkpoint.model', 'model_final_checkpoint.model.pkl']) fs.symlinkSync(path.join(MODEL, 'fold_0', f), path.join(m, 'fold_0', f));
      fs.copyFileSync(path.join(MODEL, 'fold_0/postprocessing.json'), path.join(m, 'postprocessing.json'));
      const pm = await Model.load(m);
      try {
        assert.deepEqual(pm.postprocessing?.for_which_classes, [1]);
        const r = await pm.predict(path.join(IMAGES, 'hippocampus_003.nii.gz'), { mirroring: false });
        const ones = labelComponents(Array.from(r.segmentation.data, (v) => v === 1), r.segmentation.shape);
        assert.equal(ones.count, 1);
      } finally {
        pm.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('several folds are averaged (two copies of fold 0 give the one-fold result); folds can be chosen', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-v1folds-'));
    try {
      const m = path.join(dir, 'nnUNetTrainerV2__nnUNetPlansv2.1');
      for (const f of ['fold_0', 'fold_3']) {
        fs.mkdirSync(path.join(m, f), { recursive: true });
        for (const x of ['model_final_checkpoint.model', 'model_final_checkpoint.model.pkl']) fs.symlinkSync(path.join(MODEL, 'fold_0', x), path.join(m, f, x));
      }
      const two = await Model.load(m);
      const one = await Model.load(m, { folds: [3] });
      try {
        assert.deepEqual(two.folds, ['fold_0', 'fold_3']);
        assert.deepEqual(one.folds, ['fold_3']);
        const file = path.join(IMAGES, 'hippocampus_003.nii.gz');
        const a = await two.predict(file, { mirroring: false, probabilities: true });
        const b = await one.predict(file, { mirroring: false, probabilities: true });
        assert.deepEqual(Array.from(a.segmentation.data), Array.from(b.segmentation.data));
        assert.deepEqual(Array.from(a.probabilities!.data), Array.from(b.probabilities!.data));
      } finally {
        two.dispose();
        one.dispose();
      }
      await assert.rejects(Model.load(m, { folds: [1] }), /fold_1: no model_final_checkpoint\.model/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('folders that are not v1 models are refused naming the folder', async () => {
    await assert.rejects(Model.load(path.join(FIX, 'official_predictions')), /official_predictions: no fold_k folder with model_final_checkpoint\.model/);
    await assert.rejects(Model.load(path.join(FIX, 'absent')), /absent: model folder not found/);
  });
});
