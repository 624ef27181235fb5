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
 *  - an untrained v2 cascade (make_v2_random_3d.py with CASCADE=1: 3d_lowres, then 3d_cascade_fullres with the lowres
 *    segmentation as one-hot input channels), on hippocampus_003 and on a zero-padded copy where cropping is not a
 *    no-op (the previous stage's 0 outside the nonzero mask becomes -1 before it is resampled).
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
import { readNifti, readNiftiChannels, writeNifti } from '../../sdk/io/nifti';
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

function py(args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, NNUNET_REF_THREADS: '1', ...env } });
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

async function compare(tag: string, folder: string, opts: { confidentOnly?: boolean; regions?: boolean } = {}) {
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
      // labels: the top two softmax values apart; regions: every sigmoid away from the 0.5 threshold
      if (opts.regions ? ps.every((p) => Math.abs(p - 0.5) >= 1e-2) : ps[0] - ps[1] >= 1e-2) {
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

  test('untrained region-based 3d_fullres (labels {hippocampus: [1, 2], posterior: 2}): sigmoid outputs painted in regions_class_order', async () => {
    const folder = py([path.join(PY, 'make_v2_random_3d.py'), PLAIN, path.join(tmp, 'dsregions')], { REGIONS: '1' }).trim();
    const m = await Model.load(folder);
    assert.ok(m instanceof ModelV2);
    assert.deepEqual(m.v2.labels.regions, [[1, 2], 2]);
    assert.equal(m.v2.architecture.numClasses, 2, 'one output per region');
    m.dispose();
    await compare('regions', folder, { confidentOnly: true, regions: true });
  });
});

describe('v2 cascade: the previous stage predicted first, its segmentation as one-hot input channels', () => {
  test('untrained 3d_lowres + 3d_cascade_fullres at 3.5 x 1 x 1 mm (lowres 3.5 x 2 x 2): input, softmax and segmentation equal PyTorch', async () => {
    const [cascade, lowres] = py([path.join(PY, 'make_v2_random_3d.py'), PLAIN, path.join(tmp, 'dscascade')], { CASCADE: '1' }).trim().split('\n');
    // use_mask_for_norm in the cascade's plans: z-scoring then reads the cropped previous-stage segmentation (seg >= 0),
    // so a foreground label outside the nonzero mask counts as inside
    const plansFile = path.join(cascade, 'plans.json');
    const plans = JSON.parse(fs.readFileSync(plansFile, 'utf8'));
    plans.configurations['3d_fullres'].use_mask_for_norm = [true];
    fs.writeFileSync(plansFile, JSON.stringify(plans, null, 2));
    // hippocampus_003, and hippocampus_003 with zero slices around it and a zero corner (cropping is not a no-op there)
    const orig = await readNifti(path.join(IMAGES, `${CASE}.nii.gz`));
    const [Z, Y, X] = orig.shape;
    const padShape: [number, number, number] = [Z + 3, Y + 4, X + 2];
    const padded = new Float32Array(padShape[0] * padShape[1] * padShape[2]);
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) {
          // a zero block in one corner of the image: inside the crop but outside the nonzero mask, where the previous
          // stage's background becomes -1 (crop_to_nonzero) before resampling
          const corner = y < 6 && x < 5;
          padded[((z + 2) * padShape[1] + y + 4) * padShape[2] + x + 1] = corner ? 0 : orig.data[(z * Y + y) * X + x];
        }
    const padFile = path.join(tmp, `${CASE}pad_0000.nii.gz`);
    await writeNifti(padFile, { ...orig, data: padded, shape: padShape }, { dtype: 'float32' });
    const m = await Model.load(cascade);
    assert.ok(m instanceof ModelV2 && m.previousStage, 'a v2 cascade loads with its previous stage');
    assert.equal(m.previousStage.v2.folder.dir, lowres);
    assert.equal(m.v2.architecture.numInputChannels, 3);
    try {
      for (const [tag, file] of [['case', path.join(IMAGES, `${CASE}.nii.gz`)], ['padded', padFile]]) {
        const id = path.basename(file).replace(/(_0000)?\.nii\.gz$/, '');
        const out = path.join(tmp, `ref_cascade_${tag}`);
        const ref = JSON.parse(py([path.join(PY, 'v2_predict_raw.py'), cascade, out, file], { PREV_STAGE: lowres }).trim().split('\n').pop()!);
        const images = await readNiftiChannels(file);
        // the lowres stage: the segmentation nnUNetv2_predict -c 3d_lowres writes (untrained: compare confident voxels)
        const low = await predictCaseV2(m.previousStage.v2, images, { id, probabilities: true });
        const refPrev = readNpy(path.join(out, `${id}_prev_seg.npy`)).data as Uint8Array;
        let lowSame = 0;
        for (let i = 0; i < refPrev.length; i++) if (refPrev[i] === low.segmentation.data[i]) lowSame++;
        // the cascade stage on PyTorch's previous-stage segmentation: preprocessing with seg, network, export
        const r = await predictCaseV2(m.v2, images, { id, probabilities: true, previousStage: refPrev });
        const refIn = readNpy(path.join(out, `${id}_input.npy`));
        assert.deepEqual(r.preprocessed.shape, refIn.shape, 'preprocessed shape (image + 2 one-hot channels)');
        let maxIn = 0;
        const wi = refIn.data as Float32Array;
        for (let i = 0; i < wi.length; i++) maxIn = Math.max(maxIn, Math.abs(r.preprocessed.data[i] - wi[i]));
        const refP = readNpy(path.join(out, `${id}_probs.npy`)).data as Float32Array;
        const refS = readNpy(path.join(out, `${id}_seg.npy`)).data as Uint8Array;
        let maxP = 0;
        for (let i = 0; i < refP.length; i++) maxP = Math.max(maxP, Math.abs(refP[i] - r.probabilities![i]));
        const C = 3;
        const n = refS.length;
        let confident = 0;
        let sameConfident = 0;
        let same = 0;
        for (let i = 0; i < n; i++) {
          if (refS[i] === r.segmentation.data[i]) same++;
          const ps = Array.from({ length: C }, (_, c) => refP[c * n + i]).sort((a, b) => b - a);
          if (ps[0] - ps[1] >= 1e-2) {
            confident++;
            if (refS[i] === r.segmentation.data[i]) sameConfident++;
          }
        }
        // -prev_stage_predictions: PyTorch's lowres segmentation as a file gives exactly the prediction above
        const prevDir = path.join(tmp, `prev_${tag}`);
        await writeNifti(path.join(prevDir, `${id}.nii.gz`), { ...images[0], data: Uint8Array.from(refPrev) }, { dtype: 'uint8' });
        const fromFiles = await m.predictFolder([{ id, images }], path.join(tmp, `out_${tag}`), { previousStagePredictions: prevDir });
        const segFromFiles = await readNifti(fromFiles.cases[0].file!);
        assert.ok(Buffer.from(segFromFiles.data.buffer).equals(Buffer.from(r.segmentation.data.buffer)), 'prediction from the lowres file differs');
        // end to end: ModelV2.predict runs our own lowres stage first
        const e2e = await m.predict(images, { id });
        let e2eSame = 0;
        for (let i = 0; i < n; i++) if (refS[i] === e2e.segmentation.data[i]) e2eSame++;
        console.log(
          `# v2 cascade vs torch [${tag}]: lowres segmentation ${((100 * lowSame) / refPrev.length).toFixed(4)}% identical (torch foreground ${ref.prev_stage_foreground}); ` +
            `cascade input ${r.preprocessed.shape.join('x')} max |diff| ${maxIn.toExponential(2)}; softmax max |diff| ${maxP.toExponential(2)}; ` +
            `segmentation ${((100 * same) / n).toFixed(4)}% identical (${((100 * sameConfident) / confident).toFixed(4)}% of ${confident} confident voxels); ` +
            `end to end ${((100 * e2eSame) / n).toFixed(4)}%; torch foreground ${ref.foreground}`,
        );
        assert.ok(ref.prev_stage_foreground > 1000 && ref.foreground > 1000, 'non-trivial previous stage and cascade outputs');
        assert.ok(lowSame / refPrev.length >= 0.999, `lowres segmentation agreement ${lowSame / refPrev.length}`);
        assert.ok(maxIn <= 1e-4, `cascade input differs by ${maxIn}`);
        assert.ok(maxP <= 2e-3, `softmax differs by ${maxP}`);
        assert.ok(sameConfident / confident >= 0.9999, `segmentation agreement on confident voxels ${sameConfident / confident}`);
        assert.ok(e2eSame / n >= 0.999, `end-to-end segmentation agreement ${e2eSame / n}`);
      }
    } finally {
      m.dispose();
    }
  });
});
