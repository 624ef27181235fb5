// reference suite: python3-torch 1.13, python3-skimage, python3-nibabel -- nnU-Net v2 raw-image prediction (preprocessing, resampling, logits export) equals a PyTorch re-statement of nnunetv2's pipeline
/**
 * `Model.load(v2 folder).predict(raw NIfTI)` against bench/python/v2_predict_raw.py, which re-states nnunetv2's
 * DefaultPreprocessor, nnUNetPredictor (PyTorch network, float16 aggregation) and
 * convert_predicted_logits_to_segmentation_with_correct_shape with numpy / scipy / scikit-image. Three models:
 *  - the committed 2d PlainConvUNet fixture as is (1 mm: crop + z-score, no resampling);
 *  - the same weights with the plans' spacing set to 0.8 x 1.3 mm: data resampled with order 3 after normalization,
 *    logits resampled back with order 1 into float16 before softmax;
 *  - an untrained 3d_fullres PlainConvUNet (bench/python/make_v2_random_3d.py) at 3.5 x 1 x 1 mm: the separate-z
 *    path (order 3 in plane, order 0 along z) both ways, 3D sliding window, mirroring over 3 axes.
 * Target: softmax within 1e-4 of PyTorch's (up to a few float16 steps, see v2_model.test.ts), segmentation identical
 * on >= 99.99 % of voxels (for the untrained 3D network: on voxels whose PyTorch margin is at least 1e-2).
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { initBackend } from '../../sdk/network/backend';
import { readNpy } from '../../sdk/io/npy';
import { readNiftiChannels } from '../../sdk/io/nifti';
import { Model } from '../../sdk/model/model';
import { ModelV2 } from '../../sdk/model/model_v2';
import { predictCaseV2 } from '../../sdk/model/v2_predict';

const PYTHON = process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
const PY = path.resolve(__dirname, '../../bench/python');
const PLAIN = path.resolve(__dirname, '../fixtures/v2_models/Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__2d');
const IMAGES = path.resolve(__dirname, '../../../shared/data/Task04_Hippocampus/imagesTr');
const CASE = 'hippocampus_003';

let tmp: string;
before(async () => {
  process.env.NNUNET_PROGRESS = '0';
  await initBackend({ backend: process.env.NNUNET_BACKEND ? undefined : 'auto', log: false });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-v2ref-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function py(args: string[]): string {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, NNUNET_REF_THREADS: '1' } });
  assert.equal(r.status, 0, `${args[0]}: ${r.stderr}`);
  return r.stdout;
}

function copyModel(src: string, dst: string, editPlans?: (p: Record<string, any>) => void): string {
  fs.mkdirSync(path.join(dst, 'fold_0'), { recursive: true });
  for (const f of ['dataset.json', 'fold_0/checkpoint_final.pth']) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const plans = JSON.parse(fs.readFileSync(path.join(src, 'plans.json'), 'utf8'));
  editPlans?.(plans);
  fs.writeFileSync(path.join(dst, 'plans.json'), JSON.stringify(plans, null, 2));
  return dst;
}

async function compare(tag: string, folder: string, opts: { confidentOnly?: boolean } = {}) {
  const out = path.join(tmp, `ref_${tag}`);
  const ref = JSON.parse(py([path.join(PY, 'v2_predict_raw.py'), folder, out, path.join(IMAGES, `${CASE}.nii.gz`)]).trim().split('\n').pop()!);
  const m = await Model.load(folder);
  assert.ok(m instanceof ModelV2);
  try {
    const images = await readNiftiChannels(path.join(IMAGES, `${CASE}.nii.gz`));
    const r = await predictCaseV2(m.v2, images, { id: CASE, probabilities: true });
    const refIn = readNpy(path.join(out, `${CASE}_input.npy`));
    assert.deepEqual(r.preprocessed.shape, refIn.shape, 'preprocessed shape');
    let maxIn = 0;
    const wi = refIn.data as Float32Array;
    for (let i = 0; i < wi.length; i++) maxIn = Math.max(maxIn, Math.abs(r.preprocessed.data[i] - wi[i]));
    const refP = readNpy(path.join(out, `${CASE}_probs.npy`));
    const refS = readNpy(path.join(out, `${CASE}_seg.npy`)).data as Uint8Array;
    const P = r.probabilities!;
    const wp = refP.data as Float32Array;
    assert.equal(P.length, wp.length);
    let maxP = 0;
    let over = 0;
    for (let i = 0; i < P.length; i++) {
      const d = Math.abs(P[i] - wp[i]);
      maxP = Math.max(maxP, d);
      if (d > 1e-4) over++;
    }
    const C = refP.shape[0];
    const n = refS.length;
    let same = 0;
    let confident = 0;
    let sameConfident = 0;
    for (let i = 0; i < n; i++) {
      const ok = refS[i] === r.segmentation.data[i];
      if (ok) same++;
      const ps = Array.from({ length: C }, (_, c) => wp[c * n + i]).sort((a, b) => b - a);
      if (ps[0] - ps[1] >= 1e-2) {
        confident++;
        if (ok) sameConfident++;
      }
    }
    console.log(
      `# v2 raw vs torch [${tag}]: preprocessed ${r.preprocessed.shape.join('x')}, input max |diff| ${maxIn.toExponential(2)}; ` +
        `softmax max |diff| ${maxP.toExponential(2)} (${over} of ${P.length} > 1e-4); segmentation ${((100 * same) / n).toFixed(4)}% identical ` +
        `(${((100 * sameConfident) / confident).toFixed(4)}% of ${confident} voxels with margin >= 1e-2); torch foreground ${ref.foreground}; ` +
        `time ours ${(r.timings.preprocess_s + r.timings.predict_s + r.timings.export_s).toFixed(2)} s, torch ${(ref.preprocess_s + ref.predict_s + ref.export_s).toFixed(2)} s`,
    );
    assert.ok(maxIn <= 1e-4, `preprocessed input differs by ${maxIn}`);
    assert.ok(over / P.length <= 1e-3, `${over} softmax values differ by more than 1e-4`);
    assert.ok(maxP <= 2e-3, `softmax differs by ${maxP}`);
    if (opts.confidentOnly) assert.ok(sameConfident / confident >= 0.9999, `segmentation agreement on confident voxels ${sameConfident / confident}`);
    else assert.ok(same / n >= 0.9999, `segmentation agreement ${same / n}`);
  } finally {
    m.dispose();
  }
}

describe('v2 raw-image prediction equals PyTorch + nnunetv2 pipeline re-stated', () => {
  test('2d PlainConvUNet fixture at its 1 mm plans (crop + z-score, no resampling)', async () => {
    await compare('plain_1mm', PLAIN);
  });

  test('same weights, plans spacing 0.8 x 1.3 mm: data resampled after normalization, logits resampled back before softmax', async () => {
    const dir = copyModel(PLAIN, path.join(tmp, 'aniso', 'Dataset004_Hippocampus', 'nnUNetTrainer__nnUNetPlans__2d'), (p) => {
      p.configurations['2d'].spacing = [0.8, 1.3];
    });
    await compare('plain_0.8x1.3', dir);
  });

  test('untrained 3d_fullres PlainConvUNet at 3.5 x 1 x 1 mm: separate-z resampling both ways, 3D window, 3 mirror axes', async () => {
    const folder = py([path.join(PY, 'make_v2_random_3d.py'), PLAIN, path.join(tmp, 'ds3d')]).trim();
    await compare('3d_3.5x1x1', folder, { confidentOnly: true });
  });
});
