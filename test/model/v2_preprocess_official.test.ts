/**
 * nnU-Net v2 preprocessing for prediction (sdk/model/v2_predict.ts preprocessV2) against official nnunetv2 outputs
 * (../shared/fixtures/official, nnunetv2 @0e495086): DefaultPreprocessor.run_case on
 *  - synthlung (int16 CT, CTNormalization with the v2 plans' foreground statistics, cases with cropping, anisotropic
 *    spacing, lung_008 on the separate-z path): crop bbox, shapes, whole-array statistics and the [::4] subsample of
 *    the preprocessed data (v2 normalizes before resampling; v1's output differs by up to 5.07 here);
 *  - hippocampus (ZScoreNormalization, no resampling): the official arrays, bit for bit (v2's equal v1's there).
 * Also: every official v2 plans file (nnUNetPlans, ResEnc M / L; 2d and 3d_fullres) builds its network.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { ensureSynthLung, FIXTURES, HIPPOCAMPUS_DIR } from '../helpers/synthlung';
import { loadDataset, Dataset } from '../../sdk/io/dataset';
import { readNpy } from '../../sdk/io/npy';
import { readNiftiChannels } from '../../sdk/io/nifti';
import { buildDynamicArchitecture } from '../../sdk/network/dynamic_unet';
import { resolveV2Configuration, v2NetworkSpec, type V2Model, type V2PlansJSON } from '../../sdk/model/v2';
import { preprocessV2 } from '../../sdk/model/v2_predict';

const LUNG = path.join(FIXTURES, 'synthlung');
const EXTRAS = path.join(LUNG, 'extras');

function modelOf(plansFile: string, configuration: string): Pick<V2Model, 'plans' | 'configuration' | 'folder'> {
  const plans = JSON.parse(fs.readFileSync(plansFile, 'utf8')) as V2PlansJSON;
  return { plans, configuration: resolveV2Configuration(plans, configuration, plansFile), folder: { plansFile } as V2Model['folder'] };
}

interface V2Summary {
  data: { shape: number[]; min: number; max: number; mean: number; std: number };
  properties: { spacing: number[]; shape_before_cropping: number[]; bbox_used_for_cropping: number[][]; shape_after_cropping_and_before_resampling: number[] };
}

let ds: Dataset | null = null;
const summary = JSON.parse(fs.readFileSync(path.join(EXTRAS, 'preproc_summary_v2.json'), 'utf8')) as Record<string, V2Summary>;

for (const id of ['lung_001', 'lung_003', 'lung_008']) {
  test(`synthlung ${id} 3d_fullres: v2 crop, CT normalization, then resampling equal official DefaultPreprocessor.run_case`, async () => {
    ds ??= loadDataset(await ensureSynthLung());
    const images = await ds.case(id).loadImage();
    const r = preprocessV2(images, modelOf(path.join(LUNG, 'v2', 'nnUNetPlans.json'), '3d_fullres'), id);
    const ref = summary[id];
    const p = r.properties;
    assert.deepEqual(p.bbox_used_for_cropping, ref.properties.bbox_used_for_cropping);
    assert.deepEqual(p.shape_before_cropping, ref.properties.shape_before_cropping);
    assert.deepEqual(p.shape_after_cropping_and_before_resampling, ref.properties.shape_after_cropping_and_before_resampling);
    assert.deepEqual(r.shape, ref.data.shape);
    let lo = Infinity;
    let hi = -Infinity;
    let s = 0;
    for (let i = 0; i < r.data.length; i++) {
      lo = Math.min(lo, r.data[i]);
      hi = Math.max(hi, r.data[i]);
      s += r.data[i];
    }
    const mean = s / r.data.length;
    let v = 0;
    for (let i = 0; i < r.data.length; i++) v += (r.data[i] - mean) ** 2;
    const std = Math.sqrt(v / r.data.length);
    const sub = readNpy(path.join(EXTRAS, `preproc_sub4_data_${id}_v2.npy`));
    const [, Z, Y, X] = r.shape;
    let md = 0;
    let q = 0;
    for (let z = 0; z < Z; z += 4) for (let y = 0; y < Y; y += 4) for (let x = 0; x < X; x += 4) md = Math.max(md, Math.abs(r.data[(z * Y + y) * X + x] - (sub.data[q++] as number)));
    assert.equal(q, sub.data.length);
    console.log(`# v2 preprocessing ${id}: shape ${r.shape.join('x')}, [::4] max |diff| ${md.toExponential(2)}, mean ${mean.toFixed(6)} vs ${ref.data.mean.toFixed(6)}`);
    assert.ok(md <= 1e-4, `max abs diff ${md}`);
    for (const [k, a, b] of [['min', lo, ref.data.min], ['max', hi, ref.data.max], ['mean', mean, ref.data.mean], ['std', std, ref.data.std]] as const) {
      assert.ok(Math.abs(a - b) <= 1e-4, `${id} ${k} ${a} vs ${b}`);
    }
  });
}

for (const id of ['hippocampus_001', 'hippocampus_003', 'hippocampus_004']) {
  test(`hippocampus ${id}: v2 preprocessing (official v2 plans, 3d_fullres and 2d) equals the official array bit for bit`, async () => {
    const images = await readNiftiChannels(path.join(HIPPOCAMPUS_DIR, 'imagesTr', `${id}.nii.gz`));
    const ref = readNpy(path.join(FIXTURES, 'hippocampus_cases', `${id}_data.npy`));
    for (const cfg of ['3d_fullres', '2d']) {
      const r = preprocessV2(images, modelOf(path.join(FIXTURES, 'hippocampus_v2_plans.json'), cfg), id);
      assert.deepEqual(r.shape, ref.shape, cfg);
      let diff = 0;
      for (let i = 0; i < r.data.length; i++) if (r.data[i] !== ref.data[i]) diff++;
      assert.equal(diff, 0, `${cfg}: ${diff} values differ`);
    }
  });
}

test('every official v2 plans file builds its networks (nnUNetPlans, ResEnc M / L; 2d and 3d_fullres)', () => {
  const files = [
    ...['hippocampus_v2_plans.json', 'hippocampus_v2_plans_ResEncM.json', 'hippocampus_v2_plans_ResEncL.json'].map((f) => path.join(FIXTURES, f)),
    ...['nnUNetPlans.json', 'nnUNetResEncUNetMPlans.json', 'nnUNetResEncUNetLPlans.json'].map((f) => path.join(LUNG, 'v2', f)),
  ];
  for (const f of files) {
    const plans = JSON.parse(fs.readFileSync(f, 'utf8')) as V2PlansJSON;
    for (const name of Object.keys(plans.configurations)) {
      const cfg = resolveV2Configuration(plans, name, f);
      if (cfg.previous_stage) continue;
      const arch = buildDynamicArchitecture(v2NetworkSpec(cfg, 1, f.includes('hippocampus') ? 3 : 2, f));
      assert.equal(arch.kind, /ResEnc/.test(f) ? 'ResidualEncoderUNet' : 'PlainConvUNet', `${f} ${name}`);
      assert.equal(arch.dim, name === '2d' ? 2 : 3);
    }
  }
});
