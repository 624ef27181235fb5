import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { Plans } from '../../sdk/planning/plans';
import { loadPlans, savePlans } from '../../sdk/planning/plans_files';
import { fromV1DatasetProperties } from './compare';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
const hippoFp = () => {
  const dp = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'hippocampus_v1_dataset_properties.json'), 'utf8'));
  return {
    ...fromV1DatasetProperties(dp),
    dataset_name: 'Dataset004_Hippocampus',
    foreground_intensity_properties_per_channel: { '0': { max: 1, mean: 0, median: 0, min: 0, percentile_00_5: 0, percentile_99_5: 1, std: 1 } },
  };
};

test('hippocampus v2.1 plans.json: configurations, identifiers, no cascade', () => {
  const plans = planExperiment(hippoFp());
  const j = plans.toJSON();
  assert.equal(j.plans_name, 'nnUNetPlansv2.1');
  assert.deepEqual(Object.keys(j.configurations).sort(), ['2d', '3d_fullres']);
  const c3 = plans.configuration('3d_fullres');
  assert.deepEqual(c3.patch_size, [40, 56, 40]);
  assert.equal(c3.batch_size, 7);
  assert.equal(c3.data_identifier, 'nnUNetData_plans_v2.1_stage0');
  assert.equal(c3.preprocessor_name, 'GenericPreprocessor');
  assert.deepEqual(c3.normalization_schemes, ['ZScoreNormalization']);
  assert.deepEqual(c3.use_mask_for_norm, [false]);
  assert.equal(c3.batch_dice, false); // single stage: sample dice (v1 default_configuration.py)
  assert.equal(c3.UNet_base_num_features, 32);
  assert.equal(c3.unet_max_num_features, 320);
  assert.deepEqual(c3.n_conv_per_stage_encoder, [2, 2, 2, 2]);
  assert.deepEqual(c3.n_conv_per_stage_decoder, [2, 2, 2]);
  const c2 = plans.configuration('2d');
  assert.deepEqual(c2.patch_size, [56, 40]);
  assert.equal(c2.batch_size, 281);
  assert.deepEqual(c2.spacing, [1, 1]);
  assert.deepEqual(c2.median_image_size_in_voxels, [50, 35]);
  assert.equal(c2.data_identifier, 'nnUNetData_plans_v2.1_2D_stage0');
  assert.equal(c2.preprocessor_name, 'PreprocessorFor2D');
  assert.equal(c2.unet_max_num_features, 480);
  assert.equal(c2.batch_dice, true);
  assert.throws(() => plans.configuration('3d_lowres'), /unknown configuration '3d_lowres' \(available: 2d, 3d_fullres\)/);
});

test('overrides return new plans and reject invalid values with clear messages', () => {
  const plans = planExperiment(hippoFp());
  const o = plans.override({ '3d_fullres': { batch_size: 4, patch_size: [48, 64, 48] } });
  assert.equal(o.configuration('3d_fullres').batch_size, 4);
  assert.deepEqual(o.configuration('3d_fullres').patch_size, [48, 64, 48]);
  assert.equal(plans.configuration('3d_fullres').batch_size, 7, 'the original plans are unchanged');
  const viaPlanner = planExperiment(hippoFp(), { overrides: { '2d': { batch_size: 40 } } });
  assert.equal(viaPlanner.configuration('2d').batch_size, 40);
  assert.throws(() => plans.override({ '3d_fullres': { patch_size: [40, 50, 40] } }), /not divisible by the pooling \(8x8x8\) on axis 1/);
  assert.throws(() => plans.override({ '3d_fullres': { batch_size: -2 } }), /batch_size must be a positive integer/);
  assert.throws(() => plans.override({ '3d_fullres': { patch_size: [-8, 56, 40] } }), /patch_size must be 2 or 3 positive integers/);
  assert.throws(() => plans.override({ '3d_lowres': { batch_size: 2 } }), /unknown configuration '3d_lowres'/);
  assert.throws(() => plans.override({ '3d_fullres': { batchsize: 2 } as never }), /unknown field 'batchsize'/);
});

test('plans.json round-trips atomically; table, plot and network summaries', async () => {
  const plans = planExperiment(hippoFp());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plans-'));
  try {
    const f = path.join(dir, 'nnUNetPlansv2.1.json');
    await savePlans(plans, f);
    const back = loadPlans(f);
    assert.ok(back instanceof Plans);
    assert.deepEqual(back.toJSON(), plans.toJSON());
    fs.writeFileSync(f, JSON.stringify({ hello: 1 }));
    assert.throws(() => loadPlans(f), /not a plans\.json document/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const t = plans.table();
  assert.equal(t.numRows(), 2);
  assert.deepEqual(t.array('batch_size'), [281, 7]);
  const figs = plans.plot();
  assert.equal(figs.length, 3);
  for (const f of figs) {
    assert.ok(Array.isArray(f.data) && f.data.length > 0 && typeof f.layout === 'object');
    JSON.stringify(f); // plain data
  }
  const net = plans.network('3d_fullres');
  assert.equal(net.num_stages, 4);
  assert.deepEqual(net.features_per_stage, [32, 64, 128, 256]);
  assert.deepEqual(net.strides, [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]]);
  assert.deepEqual(net.feature_map_sizes, [[40, 56, 40], [20, 28, 20], [10, 14, 10], [5, 7, 5]]);
});
