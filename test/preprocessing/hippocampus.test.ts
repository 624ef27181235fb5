/**
 * Whole-case parity on real data: raw MSD Task04 NIfTI -> crop -> preprocess (3d_fullres and 2d plans from the official
 * v1 pickles) against the official v1 GenericPreprocessor outputs of hippocampus_001/003/004; then export back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../sdk/io/dataset';
import { readNpy } from '../../sdk/io/npy';
import { readNifti } from '../../sdk/io/nifti';
import { cropCase } from '../../sdk/cropping/cropping';
import { preprocessCase } from '../../sdk/preprocessing/preprocessing';
import { preprocessSettingsFromPlans } from '../../sdk/preprocessing/preprocessing';
import { sampleClassLocations, classLocationsToLists } from '../../sdk/preprocessing/class_locations';
import { revertSegmentation } from '../../sdk/preprocessing/export';
import { exportSegmentation } from '../../sdk/inference/export_files';
import { DATA, HIPPO_CASES, hippocampusPlans, fixtureJson } from './fixtures';

const CASES = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'];
const ds = loadDataset(path.join(DATA, 'Task04_Hippocampus'));
const plans = hippocampusPlans();

interface HippoProps {
  crop_bbox: number[][];
  original_size_of_raw_data: number[];
  size_after_cropping: number[];
  size_after_resampling: number[];
  spacing_after_resampling: number[];
  classes_after_crop: number[];
  itk_origin: number[];
  itk_spacing: number[];
  itk_direction: number[];
  class_locations_count: Record<string, number>;
  class_locations_first5_zyx: Record<string, number[][]>;
}

async function run(id: string, config: '3d_fullres' | '2d') {
  const c = ds.case(id);
  const cropped = cropCase(await c.loadImage(), await c.loadLabel(), id);
  return preprocessCase(cropped, preprocessSettingsFromPlans(plans, config, [1, 2]), id);
}

for (const id of CASES) {
  test(`${id}: preprocessed data (1e-5), seg (exact) and properties match official v1`, async () => {
    const r = await run(id, '3d_fullres');
    const p = fixtureJson<HippoProps>(`hippocampus_cases/${id}_properties.json`);
    const od = readNpy(path.join(HIPPO_CASES, `${id}_data.npy`));
    const os_ = readNpy(path.join(HIPPO_CASES, `${id}_seg.npy`));
    assert.deepEqual(r.dataShape, od.shape);
    let md = 0;
    for (let i = 0; i < od.data.length; i++) md = Math.max(md, Math.abs(od.data[i] - r.data[i]));
    assert.ok(md <= 1e-5, `max abs diff ${md}`); // fixtures README: z-score abs 1e-5
    assert.deepEqual(Array.from(r.seg!), Array.from(os_.data));
    const q = r.properties;
    assert.deepEqual(q.crop_bbox, p.crop_bbox);
    assert.deepEqual(q.original_size_of_raw_data, p.original_size_of_raw_data);
    assert.deepEqual(q.size_after_cropping, p.size_after_cropping);
    assert.deepEqual(q.size_after_resampling, p.size_after_resampling);
    assert.deepEqual(q.spacing_after_resampling, p.spacing_after_resampling);
    assert.deepEqual(q.classes, p.classes_after_crop);
    assert.deepEqual(q.itk_origin, p.itk_origin);
    assert.deepEqual(q.itk_spacing, p.itk_spacing);
    assert.deepEqual(q.itk_direction, p.itk_direction);
    for (const k of ['1', '2']) {
      assert.equal(q.class_locations[k].length, p.class_locations_count[k]);
      assert.deepEqual(q.class_locations[k].slice(0, 5), p.class_locations_first5_zyx[k]);
    }
  });
}

test('class locations from the official segmentations: counts and first 5 samples (RandomState(1234).choice)', () => {
  for (const id of CASES) {
    const p = fixtureJson<HippoProps>(`hippocampus_cases/${id}_properties.json`);
    const s = readNpy(path.join(HIPPO_CASES, `${id}_seg.npy`));
    const cl = classLocationsToLists(sampleClassLocations(s.data, s.shape.slice(1), [1, 2]));
    for (const k of ['1', '2']) {
      assert.equal(cl[k].length, p.class_locations_count[k]);
      assert.deepEqual(cl[k].slice(0, 5), p.class_locations_first5_zyx[k]);
    }
  }
});

interface CaseRow {
  crop_bbox: number[][];
  size_after_cropping: number[];
  classes_after_crop: number[];
  size_after_resampling_3d: number[];
  size_after_resampling_2d: number[];
  class_location_counts_3d: Record<string, number>;
  class_location_counts_2d: Record<string, number>;
  seg_unique_after_preprocessing: number[];
  data_mean_std_after_preprocessing: [number, number];
}
const table = fixtureJson<{ cases: Record<string, CaseRow> }>('hippocampus_v1_case_table.json').cases;

test('2d configuration of hippocampus_003: arrays identical to 3d_fullres, sizes and counts as official v1 2D', async () => {
  const id = 'hippocampus_003';
  const r2 = await run(id, '2d');
  const r3 = await run(id, '3d_fullres');
  assert.deepEqual(Array.from(r2.data), Array.from(r3.data));
  assert.deepEqual(r2.properties.size_after_resampling, table[id].size_after_resampling_2d);
  for (const [k, n] of Object.entries(table[id].class_location_counts_2d)) assert.equal(r2.properties.class_locations[k].length, n);
});

test('all 200 hippocampus cases: crop, sizes, classes, class-location counts, seg values and data mean/std as official', async () => {
  const ids = Object.keys(table).sort();
  assert.equal(ids.length, 200);
  const settings = preprocessSettingsFromPlans(plans, '3d_fullres', [1, 2]);
  for (const id of ids) {
    const row = table[id];
    const c = ds.case(id);
    const r = preprocessCase(cropCase(await c.loadImage(), await c.loadLabel(), id), settings, id);
    const q = r.properties;
    assert.deepEqual(q.crop_bbox, row.crop_bbox, id);
    assert.deepEqual(q.size_after_cropping, row.size_after_cropping, id);
    assert.deepEqual(q.classes, row.classes_after_crop, id);
    assert.deepEqual(q.size_after_resampling, row.size_after_resampling_3d, id);
    for (const [k, n] of Object.entries(row.class_location_counts_3d)) assert.equal(q.class_locations[k].length, n, `${id} class ${k}`);
    assert.deepEqual([...new Set(r.seg!)].sort((a, b) => a - b), row.seg_unique_after_preprocessing, id);
    let s = 0;
    for (let i = 0; i < r.data.length; i++) s += r.data[i];
    const mean = s / r.data.length;
    let v = 0;
    for (let i = 0; i < r.data.length; i++) v += (r.data[i] - mean) ** 2;
    const [m0, s0] = row.data_mean_std_after_preprocessing;
    assert.ok(Math.abs(mean - m0) < 1e-6 && Math.abs(Math.sqrt(v / r.data.length) - s0) < 1e-6, `${id} mean/std ${mean} ${Math.sqrt(v / r.data.length)} vs ${m0} ${s0}`);
  }
});

test('export round trip: preprocessed seg back to the original geometry reproduces the raw label map and geometry', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-ts-export-'));
  try {
    for (const id of ['hippocampus_003', 'hippocampus_004']) {
      const r = await run(id, '3d_fullres');
      const raw = await ds.case(id).loadLabel();
      const img = (await ds.case(id).loadImage())[0];
      const back = revertSegmentation(r.seg!, r.dataShape.slice(1), r.properties, plans.transpose_backward);
      assert.deepEqual(back.shape, raw.shape);
      assert.deepEqual(Array.from(back.data), Array.from(raw.data, (v) => Number(v)));
      const file = path.join(dir, `${id}.nii.gz`);
      await exportSegmentation(file, r.seg!, r.dataShape.slice(1), r.properties, plans.transpose_backward);
      const w = await readNifti(file);
      assert.deepEqual(w.shape, img.shape);
      assert.deepEqual(w.spacing, img.spacing);
      assert.deepEqual(w.origin, img.origin);
      assert.deepEqual(w.direction, img.direction);
      assert.deepEqual(Array.from(w.data), Array.from(raw.data, (v) => Number(v)));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
