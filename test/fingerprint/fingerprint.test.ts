/**
 * Fingerprint parity on real data: the 200-case MSD Hippocampus (MRI, no intensity statistics in v1) and the
 * synthetic lung CT (cropping + CT statistics), against the official v1 outputs, then plans from our fingerprint
 * against the official plans (end to end).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset } from '../../sdk/io/dataset';
import { readNpy } from '../../sdk/io/npy';
import {
  computeFingerprint,
  fingerprintCaseFromFiles,
  fingerprintInputs,
  loadFingerprint,
  saveFingerprint,
  type CaseFingerprintResult,
  type Fingerprint,
  type FingerprintCaseInput,
} from '../../sdk/fingerprint/fingerprint';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { planExperiment2DV21, planExperiment3DV21 } from '../../sdk/planning/planner_v21';
import { mapInWorkers } from '../../sdk/util/pool';
import { ensureSynthLung, FIXTURES, HIPPOCAMPUS_DIR } from '../helpers/synthlung';
import { assertClose, officialV1Comparable } from '../planning/compare';

process.env.NNUNET_PROGRESS = '0';
const read = (rel: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), 'utf8'));

let hippo: Promise<Fingerprint> | undefined;
const hippocampus = () => (hippo ??= computeFingerprint(loadDataset(HIPPOCAMPUS_DIR), { threads: 1 }));
let lung: Promise<Fingerprint> | undefined;
const synthlung = () => (lung ??= ensureSynthLung().then((d) => computeFingerprint(loadDataset(d), { threads: 1 })));

test('hippocampus fingerprint equals the official v1 dataset_properties and cropping', async () => {
  const fp = (await hippocampus()).toJSON();
  const ref = read('hippocampus_v1_dataset_properties.json');
  assert.deepEqual(fp.shapes_after_crop, ref.all_sizes);
  assert.deepEqual(fp.spacings, ref.all_spacings);
  assert.deepEqual(fp.all_classes, ref.all_classes);
  assert.deepEqual(fp.modalities, ref.modalities);
  assert.deepEqual(fp.size_reductions, ref.size_reductions);
  assert.equal(fp.intensityproperties, null); // v1 collects intensities only for CT
  assert.equal(fp.median_relative_size_after_cropping, 1);
  const table = read('hippocampus_v1_case_table.json').cases;
  assert.equal(fp.cases.length, 200);
  let withMinusOne = 0;
  for (const c of fp.cases) {
    const r = table[c.case_identifier];
    assert.deepEqual(c.crop_bbox, r.crop_bbox, c.case_identifier);
    assert.deepEqual(c.original_size_of_raw_data, r.original_size_of_raw_data, c.case_identifier);
    assert.deepEqual(c.size_after_cropping, r.size_after_cropping, c.case_identifier);
    assert.deepEqual(c.classes, r.classes_after_crop, c.case_identifier);
    if (c.classes.includes(-1)) withMinusOne++;
  }
  assert.equal(withMinusOne, 142); // fixtures README: 142 of 200 cases get seg value -1
  // v2 field names, deterministic statistics over every 10th foreground voxel (README: exact over all voxels
  // p0.5 28.0, min 0, max 486420.2; the 1/10 sample lands close)
  const p = fp.foreground_intensity_properties_per_channel['0'];
  assert.deepEqual(Object.keys(p).sort(), ['max', 'mean', 'median', 'min', 'percentile_00_5', 'percentile_99_5', 'std']);
  assert.ok(p.min >= 0 && p.max <= 486420.25 && Math.abs(p.percentile_00_5 - 28) < 1);
});

/** v2's sampled statistics: the sample is bit-exact (RandomState(1234) per case), so order statistics match exactly;
 * mean and std differ only by numpy's float32 pairwise summation over the 10e7 samples. */
function assertV2Intensities(ours: Record<string, number>, official: Record<string, number>) {
  for (const k of ['max', 'min', 'median', 'percentile_00_5', 'percentile_99_5']) assert.equal(ours[k], official[k], k);
  assertClose(ours.mean, official.mean, 1e-5, 'mean');
  assertClose(ours.std, official.std, 1e-5, 'std');
}

test('hippocampus: v2 foreground intensity statistics reproduce the official v2 fingerprint', async () => {
  const fp = (await hippocampus()).toJSON();
  const ref = read('hippocampus_v2_fingerprint.json');
  assertV2Intensities(fp.v2_foreground_intensity_properties_per_channel!['0'] as never, ref.foreground_intensity_properties_per_channel['0']);
  assert.deepEqual(fp.shapes_after_crop, ref.shapes_after_crop);
  assert.deepEqual(fp.spacings, ref.spacings);
  assert.equal(fp.median_relative_size_after_cropping, ref.median_relative_size_after_cropping);
});

test('hippocampus: cropped labels equal the official seg arrays (-1 outside the filled nonzero mask)', async () => {
  const { cropCase } = await import('../../sdk/cropping/cropping');
  const ds = loadDataset(HIPPOCAMPUS_DIR);
  const minusOnes: Record<string, number> = { hippocampus_001: 0, hippocampus_003: 3, hippocampus_004: 1 }; // README
  for (const id of Object.keys(minusOnes)) {
    const c = ds.case(id);
    const cropped = cropCase(await c.loadImage(), await c.loadLabel(), id);
    // no resampling for this dataset, so the preprocessed seg is the cropped seg
    const ref = readNpy(path.join(FIXTURES, 'hippocampus_cases', `${id}_seg.npy`));
    assert.deepEqual(Array.from(cropped.seg), Array.from(ref.data as Float32Array), id);
    assert.equal(cropped.seg.filter((v) => v === -1).length, minusOnes[id], id);
  }
});

test('hippocampus: plans from our fingerprint equal the official v1 3D/2D plans and the v2 preset', async () => {
  const fp = (await hippocampus()).toJSON();
  const p3 = planExperiment3DV21(fp).plans;
  const p2 = planExperiment2DV21(fp).plans;
  assertClose(JSON.parse(JSON.stringify(p3)), officialV1Comparable(read('hippocampus_v1_plans_3d.json')));
  assertClose(JSON.parse(JSON.stringify(p2)), officialV1Comparable(read('hippocampus_v1_plans_2d.json')));
  const v2 = planExperiment(fp, { preset: 'nnUNetPlans' });
  const off = read('hippocampus_v2_plans.json');
  for (const name of ['2d', '3d_fullres']) {
    const c = v2.configuration(name);
    const o = off.configurations[name];
    assert.deepEqual(c.patch_size, o.patch_size);
    assert.equal(c.batch_size, o.batch_size);
    assert.deepEqual(c.spacing, o.spacing);
    assert.deepEqual([new Array(c.patch_size.length).fill(1), ...c.pool_op_kernel_sizes], o.architecture.arch_kwargs.strides);
  }
});

test('synthlung fingerprint: cropping and CT intensity statistics equal the official v1 outputs', async () => {
  const fp = (await synthlung()).toJSON();
  const ref = read('synthlung/v1/dataset_properties.json');
  assert.deepEqual(fp.shapes_after_crop, ref.all_sizes);
  assert.deepEqual(fp.spacings, ref.all_spacings);
  assert.deepEqual(fp.all_classes, ref.all_classes);
  assert.deepEqual(fp.modalities, ref.modalities);
  assertClose(fp.size_reductions, ref.size_reductions, 1e-12);
  assertClose(fp.intensityproperties, ref.intensityproperties, 1e-6);
  const props = read('synthlung/v1/cropped_case_properties.json');
  for (const c of fp.cases) {
    const r = props[c.case_identifier];
    for (const k of ['original_size_of_raw_data', 'original_spacing', 'itk_origin', 'itk_spacing', 'itk_direction', 'crop_bbox', 'classes', 'size_after_cropping'] as const) {
      assert.deepEqual(c[k], r[k], `${c.case_identifier} ${k}`);
    }
  }
  // cases 3 and 6 have zero border slabs: cropping does work there
  assert.deepEqual(fp.cases.map((c) => c.size_reduction < 1), [false, false, true, false, false, true, false, false]);
});

test('synthlung: plans from our fingerprint equal the official v1 3D/2D plans (CT statistics included)', async () => {
  const fp = (await synthlung()).toJSON();
  assertClose(JSON.parse(JSON.stringify(planExperiment3DV21(fp).plans)), officialV1Comparable(read('synthlung/v1/nnUNetPlansv2.1_plans_3D.json')));
  assertClose(JSON.parse(JSON.stringify(planExperiment2DV21(fp).plans)), officialV1Comparable(read('synthlung/v1/nnUNetPlansv2.1_plans_2D.json')));
  const plans = planExperiment(fp);
  const ip = read('synthlung/v1/dataset_properties.json').intensityproperties['0'];
  assertClose(plans.foregroundIntensityProperties['0'], {
    max: ip.mx,
    mean: ip.mean,
    median: ip.median,
    min: ip.mn,
    percentile_00_5: ip.percentile_00_5,
    percentile_99_5: ip.percentile_99_5,
    std: ip.sd,
  });
  assert.deepEqual(plans.configuration('3d_fullres').normalization_schemes, ['CTNormalization']);
  // v2 preset: its own sampled CT statistics, as the official v2 fingerprint
  const refV2 = read('synthlung/v2/dataset_fingerprint.json');
  assertV2Intensities(
    planExperiment(fp, { preset: 'nnUNetPlans' }).foregroundIntensityProperties['0'] as never,
    refV2.foreground_intensity_properties_per_channel['0'],
  );
  assert.equal(fp.median_relative_size_after_cropping, refV2.median_relative_size_after_cropping);
});

test('dataset_fingerprint.json round-trips; table and plot; the per-case function runs in worker threads', async () => {
  const fp = await synthlung();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fp-'));
  try {
    const f = path.join(dir, 'dataset_fingerprint.json');
    await saveFingerprint(fp, f);
    const back = loadFingerprint(f);
    assert.deepEqual(back.toJSON(), JSON.parse(JSON.stringify(fp.toJSON())));
    fs.writeFileSync(f, '{"spacings": []}');
    assert.throws(() => loadFingerprint(f), /missing 'shapes_after_crop'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const t = fp.table();
  assert.equal(t.numRows(), 8);
  assert.deepEqual(t.columnNames(), ['case', 'shape', 'shape_after_crop', 'spacing', 'crop_reduction', 'foreground_voxels', 'classes']);
  const figs = fp.plot();
  assert.equal(figs.length, 3);
  assert.ok((figs[2].data[0].y as number[]).reduce((a, b) => a + b, 0) > 0);

  const inputs = fingerprintInputs(loadDataset(HIPPOCAMPUS_DIR)).slice(0, 3);
  const inline: CaseFingerprintResult[] = [];
  for (const i of inputs) inline.push(await fingerprintCaseFromFiles(i));
  const modulePath = require.resolve('../../sdk/fingerprint/fingerprint');
  const pooled = await mapInWorkers<FingerprintCaseInput, CaseFingerprintResult>(modulePath, 'fingerprintCaseFromFiles', inputs, { threads: 2 });
  assert.deepEqual(pooled.map((r) => r.case), inline.map((r) => r.case));
  assert.deepEqual(pooled.map((r) => Array.from(r.foreground_samples[0])), inline.map((r) => Array.from(r.foreground_samples[0])));
  await assert.rejects(
    fingerprintCaseFromFiles({ caseId: 'ghost', channels: [{ file: path.join(os.tmpdir(), 'does-not-exist.nii.gz') }] }),
    /does-not-exist\.nii\.gz/,
  );
});
