/**
 * An nnU-Net v1 cascade (3d_lowres + 3d_cascade_fullres) read from an official results layout and predicted as v1's
 * predict_simple does (issue 22). The fixture, test/fixtures/v1_cascade (see its README), was made with Debian's
 * torch 1.13 by bench/python/make_v1_cascade_fixture.py, which also wrote PyTorch's prediction of four cases,
 * restated from v1's predict.py: the lowres stage (TTA, exported, postprocessed with the lowres folder's
 * postprocessing.json), then the cascade with that segmentation's one-hot channels, resized uncropped as v1 does.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { unzipSync, zipSync } from 'fflate';
import { initBackend } from '../../sdk/network/backend';
import { readNifti, writeNifti } from '../../sdk/io/nifti';
import { NpyArray, parseNpy } from '../../sdk/io/npy';
import type { Volume } from '../../sdk/io/volume';
import { predictCases } from '../../sdk/inference/predict';
import { loadProbabilities } from '../../sdk/inference/export_files';
import { Model } from '../../sdk/model/model';
import { MODEL_MANIFEST } from '../../sdk/model/import';
import { runCli } from '../helpers/cli';

const FIX = path.resolve(__dirname, '../fixtures/v1_cascade');
const RESULTS = path.join(FIX, 'nnUNet');
const CASCADE = path.join(RESULTS, '3d_cascade_fullres/Task004_Hippocampus/nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2.1');
const LOWRES = path.join(RESULTS, '3d_lowres/Task004_Hippocampus/nnUNetTrainerV2__nnUNetPlansv2.1');
const IMAGES = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus/imagesTr');
const CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004', 'hippocampus_001pad'];
/** make_v1_cascade_fixture.py PAD: zero slices (before, after) along (z, y, x) around hippocampus_001 */
const PAD: [number, number][] = [
  [3, 2],
  [0, 5],
  [4, 0],
];

/** One float16 step at |v| (the spacing of float16 values around v). */
function f16ulp(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

function reference(id: string): Record<'lowres_seg' | 'softmax' | 'seg', NpyArray> {
  const z = unzipSync(fs.readFileSync(path.join(FIX, 'reference', `${id}.npz`)));
  return { lowres_seg: parseNpy(z['lowres_seg.npy']), softmax: parseNpy(z['softmax.npy']), seg: parseNpy(z['seg.npy']) };
}

/** The test case as a volume: hippocampus_001 with PAD zero slices for the padded one (as the generator made it). */
async function caseVolume(id: string): Promise<Volume> {
  const v = await readNifti(path.join(IMAGES, `${id.replace(/pad$/, '')}.nii.gz`));
  if (!id.endsWith('pad')) return v;
  const [Z, Y, X] = v.shape;
  const shape: [number, number, number] = [Z + PAD[0][0] + PAD[0][1], Y + PAD[1][0] + PAD[1][1], X + PAD[2][0] + PAD[2][1]];
  const data = new Float32Array(shape[0] * shape[1] * shape[2]);
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) data[((z + PAD[0][0]) * shape[1] + y + PAD[1][0]) * shape[2] + x + PAD[2][0]] = v.data[(z * Y + y) * X + x];
  return { ...v, data, shape };
}

function differing(a: ArrayLike<number | bigint>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number(a[i]) !== b[i]) n++;
  return n;
}

/** Softmax values further from PyTorch's (both float16) than one float16 step + 1e-4. */
function softmaxOff(ref: NpyArray, ours: ArrayLike<number>): { off: number; maxDiff: number } {
  let off = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.data.length; i++) {
    const t = Number(ref.data[i]);
    const d = Math.abs(t - ours[i]);
    maxDiff = Math.max(maxDiff, d);
    if (d > f16ulp(t) + 1e-4) off++;
  }
  return { off, maxDiff };
}

let model: Model;
const measured: Record<string, unknown>[] = [];
const tmp: string[] = [];
const tmpDir = (p: string) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), p));
  tmp.push(d);
  return d;
};

before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  const m = await Model.load(CASCADE);
  assert.ok(m instanceof Model);
  model = m;
});
after(() => {
  model?.dispose();
  if (measured.length) console.log(JSON.stringify(measured));
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true });
});

describe('nnU-Net v1 cascade (official results layout)', () => {
  test('the cascade loads with its 3d_lowres model from the official layout', () => {
    assert.equal(model.configuration, '3d_cascade_fullres');
    assert.equal(model.trainer, 'nnUNetTrainerV2CascadeFullRes');
    assert.equal(model.architecture.numInputChannels, 1 + 2, 'image + one-hot labels 1, 2');
    assert.equal(model.configurationSettings.previous_stage, '3d_lowres');
    assert.deepEqual(model.configurationSettings.patch_size, [32, 48, 32]);
    const low = model.previousStage!;
    assert.ok(low, 'previous stage loaded');
    assert.equal(low.configuration, '3d_lowres');
    assert.equal(low.modelFolder, LOWRES);
    assert.deepEqual(low.configurationSettings.spacing, [1.5, 1.5, 1.5]);
    assert.deepEqual(low.configurationSettings.patch_size, [24, 32, 24]);
    assert.deepEqual(low.postprocessing?.for_which_classes, [1, 2], "the lowres folder's postprocessing.json");
    assert.match(model.describe(), /previous stage: Model\(nnunet-v1 nnUNetTrainerV2__nnUNetPlansv2\.1 3d_lowres/);
  });

  for (const id of CASES) {
    test(`${id}: lowres stage and cascade equal PyTorch's v1 prediction`, async () => {
      const ref = reference(id);
      const img = await caseVolume(id);
      // the lowres stage alone: exported to the input's geometry and postprocessed, the file v1 reads back
      const low = await model.previousStage!.predict(img, { id });
      assert.deepEqual(low.segmentation.shape, ref.lowres_seg.shape);
      assert.equal(differing(ref.lowres_seg.data, low.segmentation.data), 0, 'lowres segmentation differs from PyTorch');
      const r = await model.predict(img, { id, probabilities: true });
      assert.deepEqual(r.segmentation.shape, ref.seg.shape);
      const d = differing(ref.seg.data, r.segmentation.data);
      assert.ok(d <= 1e-4 * ref.seg.data.length, `${d} of ${ref.seg.data.length} voxels differ from PyTorch's segmentation`);
      assert.deepEqual(r.probabilities!.shape, ref.softmax.shape);
      const s = softmaxOff(ref.softmax, r.probabilities!.data);
      assert.equal(s.off, 0, `softmax: ${s.off} values further than one float16 step + 1e-4 (max difference ${s.maxDiff})`);
      let fg = 0;
      for (const v of r.segmentation.data) if (v > 0) fg++;
      measured.push({ case: id, voxels: ref.seg.data.length, differing: d, maxSoftmaxDiff: s.maxDiff, foreground: fg, seconds: r.seconds });
      assert.ok(fg > 500, `the cascade's prediction is trivial (${fg} foreground voxels)`);
    });
  }

  test("hippocampus_001pad: v1's uncropped cascade input matters there (a cropped one does not match PyTorch)", async () => {
    // the same model through predictCases with the previous-stage segmentation cropped first (nnunet-ts's own
    // cascade): on the padded case the one-hot channels shift, so the output leaves PyTorch's
    const id = 'hippocampus_001pad';
    const ref = reference(id);
    const out = tmpDir('nnunet-ts-cascade-');
    const low = model.previousStage!;
    await predictCases({
      plans: model.plans,
      configuration: model.configuration,
      networks: model.networks,
      postprocessing: false,
      previousStage: { plans: low.plans, configuration: '3d_lowres', networks: low.networks, foldFolders: low.folds, postprocessing: low.postprocessing ?? false },
      input: [{ id, images: [await caseVolume(id)] }],
      outputDir: out,
      saveProbabilities: true,
      progress: false,
      tileWorkers: 0,
    });
    const probs = loadProbabilities(path.join(out, `${id}.npy`)).probs;
    assert.ok(softmaxOff(ref.softmax, probs.data).off > 1000, 'cropping the previous stage first should change the cascade input here');
  });

  test('the lowres segmentations given as files (predict_simple -l): the cascade alone, the same output', async () => {
    const id = 'hippocampus_001pad';
    const ref = reference(id);
    const img = await caseVolume(id);
    const prevDir = tmpDir('nnunet-ts-lowres-');
    await writeNifti(path.join(prevDir, `${id}.nii.gz`), { ...img, data: Uint8Array.from(ref.lowres_seg.data as ArrayLike<number>) }, { dtype: 'uint8' });
    const out = tmpDir('nnunet-ts-cascade-');
    const r = await model.predictFolder([{ id, images: [img] }], out, { previousStagePredictions: prevDir, tileWorkers: 0 });
    assert.equal(r.failed.length, 0);
    assert.equal(differing(ref.seg.data, (await readNifti(path.join(out, `${id}.nii.gz`))).data), 0);
    // a missing file is that case's error, naming the file
    await assert.rejects(
      model.predictFolder([{ id: 'other', images: [img] }], out, { previousStagePredictions: prevDir, tileWorkers: 0 }),
      (e: Error) => e.message.includes(path.join(prevDir, 'other.nii.gz')) && e.message.includes('is missing'),
    );
  });

  test('import-model: the cascade is stored with its 3d_lowres model and predicts the same', async () => {
    const store = tmpDir('nnunet-ts-models-');
    await assert.rejects(Model.import(RESULTS, { modelsDir: store }), /holds 2 models, choose one with --configuration/);
    const imp = await Model.import(RESULTS, { modelsDir: store, configuration: '3d_cascade_fullres' });
    assert.equal(imp.name, 'Task004_Hippocampus_3d_cascade_fullres');
    const manifest = JSON.parse(fs.readFileSync(path.join(imp.dir, MODEL_MANIFEST), 'utf8'));
    assert.equal(manifest.previous_stage, 'previous_stage/nnUNetTrainerV2__nnUNetPlansv2.1');
    for (const f of ['plans.pkl', 'postprocessing.json', 'fold_0/model_final_checkpoint.model', 'fold_0/model_final_checkpoint.model.pkl']) {
      assert.ok(fs.existsSync(path.join(imp.dir, manifest.previous_stage, f)), `stored ${f} of the lowres model`);
    }
    // the same from a .zip laid out as nnUNet_export_model_to_zip writes one (nnUNet/<network>/<task>/<trainer>__<plans>)
    const files: Record<string, Uint8Array> = {};
    const add = (dir: string, rel: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) add(path.join(dir, e.name), `${rel}/${e.name}`);
        else files[`${rel}/${e.name}`] = fs.readFileSync(path.join(dir, e.name));
      }
    };
    add(RESULTS, 'nnUNet');
    const zip = path.join(store, 'Task004_Hippocampus.zip');
    fs.writeFileSync(zip, zipSync(files));
    const fromZip = await Model.import(zip, { modelsDir: store, configuration: '3d_cascade_fullres', name: 'from_zip' });
    assert.match(fromZip.model, /3d_cascade_fullres, folds fold_0, after nnUNetTrainerV2 3d_lowres folds fold_0/);
    assert.ok(fs.existsSync(path.join(fromZip.dir, 'previous_stage/nnUNetTrainerV2__nnUNetPlansv2.1/fold_0/model_final_checkpoint.model')));
    const m = await Model.load(imp.dir);
    try {
      assert.ok(m instanceof Model && m.previousStage?.modelFolder === path.join(imp.dir, manifest.previous_stage));
      const id = 'hippocampus_003';
      const r = await m.predict(await caseVolume(id), { id });
      assert.equal(differing(reference(id).seg.data, r.segmentation.data), 0);
    } finally {
      m.dispose();
    }
  });

  test('a cascade without its 3d_lowres model, or with another configuration as it, is refused by name', async () => {
    const lone = path.join(tmpDir('nnunet-ts-lone-'), 'Task004_Hippocampus', path.basename(CASCADE));
    fs.cpSync(CASCADE, lone, { recursive: true });
    await assert.rejects(Model.load(lone), (e: Error) => {
      assert.match(e.message, /predicts with its 3d_lowres model first, which is not at .*3d_lowres.*nnUNetTrainerV2__nnUNetPlansv2\.1/);
      assert.match(e.message, /previousStage/);
      return true;
    });
    await assert.rejects(Model.load(lone, { previousStage: CASCADE }), /is a 3d_cascade_fullres model; the cascade .* needs its 3d_lowres model/);
    const store = tmpDir('nnunet-ts-models-');
    await assert.rejects(Model.import(lone, { modelsDir: store }), /not at/);
    assert.deepEqual(fs.readdirSync(store), [], 'nothing written');
  });

  test('CLI: import-model -c 3d_cascade_fullres, then predict --model; --previous-stage for a lowres model elsewhere', async () => {
    const store = tmpDir('nnunet-ts-models-');
    const imp = await runCli(['import-model', RESULTS, '-c', '3d_cascade_fullres', '--name', 'hippo_cascade', '--models', store]);
    assert.equal(imp.code, 0, imp.err);
    assert.match(imp.out, /imported Model\(nnunet-v1 nnUNetTrainerV2CascadeFullRes__nnUNetPlansv2\.1 3d_cascade_fullres, folds fold_0, after nnUNetTrainerV2 3d_lowres folds fold_0\) as 'hippo_cascade'/);
    const input = tmpDir('nnunet-ts-in-');
    fs.symlinkSync(path.join(IMAGES, 'hippocampus_004.nii.gz'), path.join(input, 'hippocampus_004_0000.nii.gz'));
    const out = path.join(tmpDir('nnunet-ts-out-'), 'pred');
    const p = await runCli(['predict', '--model', 'hippo_cascade', '--models', store, '-i', input, '-o', out, '--tile-workers', '0']);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /predicted 1\/1 cases with 3d_cascade_fullres/);
    const seg = await readNifti(path.join(out, 'hippocampus_004.nii.gz'));
    assert.equal(differing(reference('hippocampus_004').seg.data, seg.data), 0);
    // the cascade folder alone, its lowres model given by path
    const lone = path.join(tmpDir('nnunet-ts-lone-'), 'Task004_Hippocampus', path.basename(CASCADE));
    fs.cpSync(CASCADE, lone, { recursive: true });
    const missing = await runCli(['predict', '--model', lone, '-i', input, '-o', out]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /predicts with its 3d_lowres model first, which is not at/);
    const given = await runCli(['predict', '--model', lone, '--previous-stage', LOWRES, '-i', input, '-o', `${out}2`, '--tile-workers', '0']);
    assert.equal(given.code, 0, given.err);
    assert.equal(differing(reference('hippocampus_004').seg.data, (await readNifti(path.join(`${out}2`, 'hippocampus_004.nii.gz'))).data), 0);
  });
});
