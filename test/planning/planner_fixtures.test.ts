/**
 * Plans from the official fingerprints equal the official plans (../shared/fixtures/official): v1 3D and 2D every
 * field (paths and the embedded dataset_properties aside), v2 nnUNetPlans patch/batch/spacing/pooling.
 * (test/fingerprint/ repeats this end to end from the raw images.)
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { planExperiment } from '../../sdk/planning/plan_experiment';
import { planExperiment2DV21, planExperiment3DV21, type V1Plans } from '../../sdk/planning/planner_v21';
import type { PlansJSON } from '../../sdk/planning/plans';
import { assertClose, fromV1DatasetProperties, officialV1Comparable } from './compare';

const FIXTURES = path.resolve(__dirname, '../../../shared/fixtures/official');
const read = (rel: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, rel), 'utf8'));

const V1_CASES: [string, string, '3d' | '2d'][] = [
  ['hippocampus 3D', 'hippocampus_v1_plans_3d.json', '3d'],
  ['hippocampus 2D', 'hippocampus_v1_plans_2d.json', '2d'],
  ['synthlung 3D', 'synthlung/v1/nnUNetPlansv2.1_plans_3D.json', '3d'],
  ['synthlung 2D', 'synthlung/v1/nnUNetPlansv2.1_plans_2D.json', '2d'],
];

for (const [name, file, kind] of V1_CASES) {
  test(`v1 ${name} plans equal the official ${path.basename(file)} field by field`, () => {
    const official = read(file);
    const fp = fromV1DatasetProperties(official.dataset_properties);
    const ours: V1Plans = (kind === '3d' ? planExperiment3DV21(fp) : planExperiment2DV21(fp)).plans;
    assertClose(JSON.parse(JSON.stringify(ours)), officialV1Comparable(official), 1e-6);
  });
}

function assertV2Config(ours: PlansJSON, official: PlansJSON & { configurations: Record<string, any> }) {
  assert.deepEqual(Object.keys(ours.configurations).sort(), Object.keys(official.configurations).sort());
  for (const [name, o] of Object.entries(official.configurations)) {
    const m = ours.configurations[name];
    assert.deepEqual(m.patch_size, o.patch_size, `${name} patch_size`);
    assert.equal(m.batch_size, o.batch_size, `${name} batch_size`);
    assertClose(m.spacing, o.spacing, 1e-12, `${name}.spacing`);
    assertClose(m.median_image_size_in_voxels, o.median_image_size_in_voxels, 1e-12, `${name}.median`);
    // v2 strides = [[1,..]] + pool_op_kernel_sizes (v1 semantics in our schema)
    const dim = m.patch_size!.length;
    assert.deepEqual([new Array(dim).fill(1), ...m.pool_op_kernel_sizes!], o.architecture.arch_kwargs.strides, `${name} strides`);
    assert.deepEqual(m.conv_kernel_sizes, o.architecture.arch_kwargs.kernel_sizes, `${name} kernel_sizes`);
    const ak = o.architecture.arch_kwargs;
    assert.deepEqual(m.n_conv_per_stage_encoder, ak.n_conv_per_stage ?? ak.n_blocks_per_stage, `${name} n_conv/n_blocks per stage`);
    assert.equal(`dynamic_network_architectures.architectures.unet.${m.UNet_class_name}`, o.architecture.network_class_name);
    assert.deepEqual(m.n_conv_per_stage_decoder, o.architecture.arch_kwargs.n_conv_per_stage_decoder, `${name} decoder convs`);
    assert.deepEqual(
      Array.from({ length: m.conv_kernel_sizes!.length }, (_, i) => Math.min(m.unet_max_num_features!, m.UNet_base_num_features! * 2 ** i)),
      o.architecture.arch_kwargs.features_per_stage,
      `${name} features_per_stage`,
    );
    for (const k of ['data_identifier', 'preprocessor_name', 'normalization_schemes', 'use_mask_for_norm', 'batch_dice', 'resampling_fn_data', 'resampling_fn_data_kwargs', 'resampling_fn_seg_kwargs', 'resampling_fn_probabilities_kwargs'] as const) {
      assert.deepEqual(m[k], o[k], `${name} ${k}`);
    }
  }
  for (const k of ['dataset_name', 'plans_name', 'image_reader_writer', 'transpose_forward', 'transpose_backward', 'experiment_planner_used', 'label_manager', 'original_median_shape_after_transp'] as const) {
    assert.deepEqual(ours[k], official[k], k);
  }
  assertClose(ours.original_median_spacing_after_transp, official.original_median_spacing_after_transp, 1e-12);
}

const V2_CASES: [string, string, string, Record<string, string>, number[]][] = [
  ['hippocampus', 'hippocampus_v2_fingerprint.json', 'hippocampus_v2_plans.json', { '0': 'MRI' }, [1, 2]],
  ['synthlung', 'synthlung/v2/dataset_fingerprint.json', 'synthlung/v2/nnUNetPlans.json', { '0': 'CT' }, [1]],
  // ResEnc presets: no 5 % batch cap, so the batch size checks the ResidualEncoderUNet VRAM estimate directly
  ['hippocampus', 'hippocampus_v2_fingerprint.json', 'hippocampus_v2_plans_ResEncM.json', { '0': 'MRI' }, [1, 2]],
  ['hippocampus', 'hippocampus_v2_fingerprint.json', 'hippocampus_v2_plans_ResEncL.json', { '0': 'MRI' }, [1, 2]],
  ['synthlung', 'synthlung/v2/dataset_fingerprint.json', 'synthlung/v2/nnUNetResEncUNetMPlans.json', { '0': 'CT' }, [1]],
  ['synthlung', 'synthlung/v2/dataset_fingerprint.json', 'synthlung/v2/nnUNetResEncUNetLPlans.json', { '0': 'CT' }, [1]],
];

for (const [name, fpFile, plansFile, modalities, classes] of V2_CASES) {
  test(`v2 preset: ${name} equals the official ${path.basename(plansFile)}`, () => {
    const v2fp = read(fpFile);
    const official = read(plansFile);
    const fp = {
      ...v2fp,
      modalities,
      all_classes: classes,
      size_reductions: {},
      case_identifiers: v2fp.spacings.map((_: unknown, i: number) => String(i)),
    };
    const ours = planExperiment(fp, { preset: official.plans_name, datasetName: official.dataset_name }).toJSON();
    assertV2Config(ours, official);
    assert.deepEqual(ours.foreground_intensity_properties_per_channel, official.foreground_intensity_properties_per_channel);
  });
}
