import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readNifti } from '../../sdk/io/nifti';
import { readNpy } from '../../sdk/io/npy';
import { ExportProperties, probabilitiesToCroppedGeometry, segmentationFromProbabilities } from '../../sdk/inference/export';
import { saveProbabilities, exportPrediction, loadProbabilities } from '../../sdk/inference/export_files';
import { averageProbabilities, ensembleFolders, ensembleProbabilityFiles } from '../../sdk/ensembling/ensemble';
import { roundToFloat16 } from '../../sdk/inference/gaussian';
import { ClassProbabilities } from '../../sdk/inference/sliding_window';

const FIX = path.resolve(__dirname, '../../../shared/fixtures/official');

function lung003(): ExportProperties & { size_after_resampling: number[] } {
  const all = JSON.parse(fs.readFileSync(path.join(FIX, 'synthlung/v1/preprocessed_nnUNetData_plans_v2.1_stage0_properties.json'), 'utf8'));
  return all.lung_003;
}

/** Two-class probabilities with class 1 = a ball (radius r voxels) around `c` in a grid of `shape`. */
function ball(shape: number[], c: number[], r: number): ClassProbabilities {
  const [Z, Y, X] = shape;
  const n = Z * Y * X;
  const data = new Float32Array(2 * n);
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) {
        const d = Math.hypot(z - c[0], y - c[1], x - c[2]);
        const p1 = 1 / (1 + Math.exp(d - r)); // smooth edge
        const i = (z * Y + y) * X + x;
        data[n + i] = p1;
        data[i] = 1 - p1;
      }
  return { data, shape: [2, Z, Y, X] };
}

function centroid(seg: Uint8Array, shape: number[], label = 1): number[] {
  const [, Y, X] = shape;
  const s = [0, 0, 0];
  let n = 0;
  for (let i = 0; i < seg.length; i++) {
    if (seg[i] !== label) continue;
    s[0] += Math.floor(i / (Y * X));
    s[1] += Math.floor(i / X) % Y;
    s[2] += i % X;
    n++;
  }
  return s.map((v) => v / n);
}

test('export of a resampled, cropped case (synthlung lung_003 v1 properties): geometry, crop paste, NIfTI round trip', async () => {
  const p = lung003();
  const pre = p.size_after_resampling; // official v1 preprocessed shape
  assert.deepEqual(pre, [112, 151, 144]);
  const c = [60, 70, 80];
  const probs = ball(pre, c, 12);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-export-'));
  try {
    const f = path.join(dir, 'lung_003.nii.gz');
    const vol = await exportPrediction({ segmentation: f, probabilities: path.join(dir, 'lung_003.npy') }, probs, p);
    assert.deepEqual(vol.shape, [102, 184, 175]);
    const back = await readNifti(f);
    assert.deepEqual(back.shape, [102, 184, 175]);
    assert.deepEqual(back.spacing, [...p.itk_spacing].reverse());
    assert.deepEqual(back.origin, p.itk_origin);
    assert.deepEqual(back.direction, p.itk_direction);
    assert.deepEqual(Array.from(back.data), Array.from(vol.data));
    // outside crop_bbox (y < 4, z >= 100, x >= 172) everything is background
    const [Z, Y, X] = vol.shape;
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++)
        for (let x = 0; x < X; x++) {
          if (y < 4 || z >= 100 || x >= 172) assert.equal(vol.data[(z * Y + y) * X + x], 0);
        }
    // the ball lands where pixel-centre scaling puts it: (c + 0.5) * cropped / pre - 0.5, shifted by the bbox
    const want = c.map((v, d) => (v + 0.5) * (p.size_after_cropping[d] / pre[d]) - 0.5 + p.crop_bbox[d][0]);
    const got = centroid(vol.data, vol.shape);
    for (let d = 0; d < 3; d++) assert.ok(Math.abs(got[d] - want[d]) < 0.6, `axis ${d}: centroid ${got[d]} vs ${want[d]}`);
    // saved probabilities: float16 at size_after_cropping, readable as numpy '<f2'
    const raw = readNpy(path.join(dir, 'lung_003.npy'));
    assert.equal(raw.dtype, '<f2');
    assert.deepEqual(raw.shape, [2, 100, 180, 172]);
    const cropped = probabilitiesToCroppedGeometry(probs, p);
    const { probs: loaded, properties } = loadProbabilities(path.join(dir, 'lung_003.npy'));
    assert.deepEqual(properties.crop_bbox, p.crop_bbox);
    for (let i = 0; i < cropped.data.length; i += 997) assert.equal(loaded.data[i], roundToFloat16(cropped.data[i]));
    // ensembling a configuration with itself reproduces the segmentation
    const ens = await ensembleProbabilityFiles([path.join(dir, 'lung_003.npy'), path.join(dir, 'lung_003.npy')], path.join(dir, 'ens.nii.gz'));
    let diff = 0;
    for (let i = 0; i < ens.data.length; i++) if (ens.data[i] !== vol.data[i]) diff++;
    assert.ok(diff <= 2, `${diff} voxels differ after float16 ensembling`); // float16 rounding at p = 0.5 only
    const ensBack = await readNifti(path.join(dir, 'ens.nii.gz'));
    assert.deepEqual(ensBack.origin, p.itk_origin);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('export: transpose_backward, postprocessing, and averaging of two configurations', () => {
  // a small case with transpose_forward [2, 0, 1] -> transpose_backward [1, 2, 0], no resampling, no cropping
  const orig = [4, 5, 6];
  const p: ExportProperties = {
    original_size_of_raw_data: orig,
    original_spacing: [1, 1, 1],
    crop_bbox: [
      [0, 4],
      [0, 5],
      [0, 6],
    ],
    size_after_cropping: orig,
    spacing_after_resampling: [1, 1, 1],
    itk_origin: [1, 2, 3],
    itk_spacing: [1, 1, 1],
    itk_direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  };
  const tf = [2, 0, 1];
  const tb = [1, 2, 0];
  const inOrig = ball(orig, [1, 2, 4], 1.2);
  // transpose into the preprocessed order: axis i of the transposed array = original axis tf[i]
  const tShape = tf.map((a) => orig[a]);
  const n = inOrig.data.length / 2;
  const tData = new Float32Array(inOrig.data.length);
  for (let c = 0; c < 2; c++)
    for (let z = 0; z < orig[0]; z++)
      for (let y = 0; y < orig[1]; y++)
        for (let x = 0; x < orig[2]; x++) {
          const o = [z, y, x];
          const t = tf.map((a) => o[a]);
          tData[c * n + (t[0] * tShape[1] + t[1]) * tShape[2] + t[2]] = inOrig.data[c * n + (z * orig[1] + y) * orig[2] + x];
        }
  const viaT = segmentationFromProbabilities({ data: tData, shape: [2, ...tShape] as [number, number, number, number] }, p, {
    transposeBackward: tb,
  });
  const direct = segmentationFromProbabilities(inOrig, p);
  assert.deepEqual(Array.from(viaT.data), Array.from(direct.data));
  assert.ok(direct.data.some((v) => v === 1));
  // postprocessing removes a second, smaller object
  const two = ball(orig, [1, 2, 4], 1.2);
  two.data[n + 0] = 0.9; // voxel (0,0,0) becomes a separate class-1 object
  two.data[0] = 0.1;
  const raw = segmentationFromProbabilities(two, p);
  assert.equal(raw.data[0], 1);
  const pp = segmentationFromProbabilities(two, p, {
    postprocessing: { for_which_classes: [[1]], min_valid_object_sizes: 'None', dc_per_class_raw: {}, dc_per_class_pp_all: {}, dc_per_class_pp_per_class: {}, num_samples: 1 },
  });
  assert.equal(pp.data[0], 0);
  assert.equal(pp.data.filter((v) => v === 1).length, raw.data.filter((v) => v === 1).length - 1);
  // averaging: float32 mean rounded to float16
  const a: ClassProbabilities = { data: new Float32Array([0.2, 0.8]), shape: [2, 1, 1, 1] };
  const b: ClassProbabilities = { data: new Float32Array([0.7, 0.3]), shape: [2, 1, 1, 1] };
  const m = averageProbabilities([a, b]);
  assert.equal(m.data[0], roundToFloat16(Math.fround(Math.fround(0.2 + Math.fround(0.7)) / 2)));
  assert.throws(() => averageProbabilities([a, { data: new Float32Array(4), shape: [4, 1, 1, 1] }]), /shapes differ/);
});

test('ensembleFolders: averages two configurations per case, writes NIfTI in the raw geometry', async () => {
  const orig = [2, 3, 4];
  const p: ExportProperties = {
    original_size_of_raw_data: [3, 3, 4],
    original_spacing: [2, 1, 1],
    crop_bbox: [
      [1, 3],
      [0, 3],
      [0, 4],
    ],
    size_after_cropping: orig,
    spacing_after_resampling: [2, 1, 1],
    itk_origin: [5, 6, 7],
    itk_spacing: [1, 1, 2],
    itk_direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
  };
  const n = 24;
  // configuration A: class 1 with 0.6 everywhere; B: class 1 with 0.2 except voxel 5 (0.9)
  const a = new Float32Array(2 * n);
  const b = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    a[n + i] = 0.6;
    a[i] = 0.4;
    b[n + i] = i === 5 ? 0.9 : 0.2;
    b[i] = 1 - b[n + i];
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ens-'));
  try {
    await saveProbabilities(path.join(dir, 'A', 'c1.npy'), { data: a, shape: [2, 2, 3, 4] }, p);
    await saveProbabilities(path.join(dir, 'B', 'c1.npy'), { data: b, shape: [2, 2, 3, 4] }, p);
    const ids = await ensembleFolders([path.join(dir, 'A'), path.join(dir, 'B')], path.join(dir, 'out'));
    assert.deepEqual(ids, ['c1']);
    const v = await readNifti(path.join(dir, 'out', 'c1.nii.gz'));
    assert.deepEqual(v.shape, [3, 3, 4]);
    assert.deepEqual(v.origin, [5, 6, 7]);
    assert.deepEqual(v.spacing, [2, 1, 1]);
    // mean class-1 probability: 0.4 everywhere except voxel 5 (0.75); z slice 0 lies outside the crop
    const want = new Array(36).fill(0);
    want[12 + 5] = 1;
    assert.deepEqual(Array.from(v.data), want);
    await saveProbabilities(path.join(dir, 'B', 'c2.npy'), { data: b, shape: [2, 2, 3, 4] }, p);
    await assert.rejects(ensembleFolders([path.join(dir, 'A'), path.join(dir, 'B')], path.join(dir, 'out2')), /different cases \(c2\)/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
