/**
 * `planExperiment(fingerprint, {preset, overrides})`: fingerprint -> Plans (v2 plans.json schema).
 * Presets: 'nnUNetPlansv2.1' (default; v1 ExperimentPlanner3D_v21 + ExperimentPlanner2D_v21), 'nnUNetPlans'
 * (v2 default ExperimentPlanner) and the v2 ResEnc presets 'nnUNetResEncUNetMPlans' / 'nnUNetResEncUNetLPlans'
 * (see planner_v2.ts).
 */
import type { DatasetFingerprintJSON } from '../fingerprint/fingerprint_types';
import { roundHalfEven } from '../util/numpy_compat';
import { gpuTargetName, gpuTargetSuffix, planExperiment2DV21, planExperiment3DV21, V1_PLANNER, type V1Plans, type V1StagePlan } from './planner_v21';
import { planExperimentV2, V2_VARIANTS } from './planner_v2';
import {
  applyOverrides,
  defaultResampling,
  Plans,
  V1_TO_V2_NORMALIZATION,
  type ConfigurationOverrides,
  type PlansConfiguration,
  type PlansJSON,
} from './plans';

export type PlansPreset = 'nnUNetPlansv2.1' | 'nnUNetPlans' | 'nnUNetResEncUNetMPlans' | 'nnUNetResEncUNetLPlans';

export interface PlanOptions {
  preset?: PlansPreset;
  overrides?: ConfigurationOverrides;
  /** defaults to fingerprint.dataset_name */
  datasetName?: string;
  /**
   * GPU memory the plans target, in GB (default: the preset's own, 8 for v2.1 / nnUNetPlans / ResEnc M, 24 for
   * ResEnc L). v2.1 scales the VRAM reference by GB/8 as v1's ExperimentPlanner3D_v21_11GB; v2 presets set
   * `gpu_memory_target_in_gb` as `nnUNetv2_plan_experiment -gpu_memory_target` does. A smaller target gives smaller
   * patches and, on large enough images, a 3d_lowres stage and the cascade. A non-default target renames the plans
   * (`nnUNetPlansv2.1_2GB`) and their data identifiers so both sets of plans coexist.
   */
  gpuMemoryTargetGB?: number;
}

/** The fingerprint fields the planners read (dataset_name optional). */
export type PlanningFingerprint = Pick<
  DatasetFingerprintJSON,
  'spacings' | 'shapes_after_crop' | 'modalities' | 'all_classes' | 'size_reductions' | 'case_identifiers' | 'foreground_intensity_properties_per_channel'
> &
  Partial<Pick<DatasetFingerprintJSON, 'dataset_name' | 'median_relative_size_after_cropping'>> & {
    /** v2's sampled statistics (see fingerprint.ts); the nnUNetPlans preset prefers them */
    v2_foreground_intensity_properties_per_channel?: DatasetFingerprintJSON['foreground_intensity_properties_per_channel'];
  };

function channelKeys(modalities: Record<string, string>): string[] {
  return Object.keys(modalities).sort((a, b) => Number(a) - Number(b));
}

/** v1 stage plan -> v2-schema configuration (3D: full vectors; 2D: the in-plane axes, as v2 stores them). */
export function configurationFromV1Stage(
  v1: V1Plans,
  stage: V1StagePlan,
  opts: { is2d: boolean; dataIdentifier: string; batchDice: boolean },
): PlansConfiguration {
  const keys = channelKeys(v1.modalities);
  const nStages = stage.conv_kernel_sizes.length;
  return {
    data_identifier: opts.dataIdentifier,
    preprocessor_name: v1.preprocessor_name,
    batch_size: stage.batch_size,
    patch_size: [...stage.patch_size],
    median_image_size_in_voxels: opts.is2d ? stage.median_patient_size_in_voxels.slice(1) : [...stage.median_patient_size_in_voxels],
    spacing: opts.is2d ? stage.current_spacing.slice(1) : [...stage.current_spacing],
    normalization_schemes: keys.map((k) => V1_TO_V2_NORMALIZATION[v1.normalization_schemes[k]]),
    use_mask_for_norm: keys.map((k) => v1.use_mask_for_norm[k]),
    ...defaultResampling(),
    UNet_class_name: 'Generic_UNet',
    UNet_base_num_features: v1.base_num_features,
    n_conv_per_stage_encoder: new Array<number>(nStages).fill(V1_PLANNER.conv_per_stage),
    n_conv_per_stage_decoder: new Array<number>(nStages - 1).fill(V1_PLANNER.conv_per_stage),
    num_pool_per_axis: [...stage.num_pool_per_axis],
    pool_op_kernel_sizes: stage.pool_op_kernel_sizes.map((k) => [...k]),
    conv_kernel_sizes: stage.conv_kernel_sizes.map((k) => [...k]),
    // Generic_UNet.MAX_NUM_FILTERS_3D / MAX_FILTERS_2D (what the v1 network uses, not what the 2D planner assumed)
    unet_max_num_features: opts.is2d ? 480 : 320,
    batch_dice: opts.batchDice,
    do_dummy_2D_data_aug: stage.do_dummy_2D_data_aug,
  };
}

/** Plans for the v2.1 preset from the two v1 planners. */
export function plansV21(fp: PlanningFingerprint, datasetName: string, opts: { gpuMemoryTargetGB?: number } = {}): PlansJSON {
  const r3 = planExperiment3DV21(fp, opts);
  const r2 = planExperiment2DV21(fp, opts);
  const p3 = r3.plans;
  const stages = Object.keys(p3.plans_per_stage).sort((a, b) => Number(a) - Number(b));
  const hasLowres = stages.length > 1;
  const fullres = p3.plans_per_stage[stages[stages.length - 1]];
  const configurations: PlansJSON['configurations'] = {
    // v1 default_configuration.py: batch_dice for 2d, and for 3d full-res/cascade only when there is a cascade
    '2d': configurationFromV1Stage(r2.plans, r2.plans.plans_per_stage['0'], {
      is2d: true,
      dataIdentifier: `${r2.plans.data_identifier}_stage0`,
      batchDice: true,
    }),
    '3d_fullres': configurationFromV1Stage(p3, fullres, {
      is2d: false,
      dataIdentifier: `${p3.data_identifier}_stage${stages.length - 1}`,
      batchDice: hasLowres,
    }),
  };
  if (hasLowres) {
    configurations['3d_lowres'] = {
      ...configurationFromV1Stage(p3, p3.plans_per_stage['0'], { is2d: false, dataIdentifier: `${p3.data_identifier}_stage0`, batchDice: false }),
      next_stage: '3d_cascade_fullres',
    };
    configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' };
  }
  const keys = channelKeys(fp.modalities);
  const fullresMedianShape = fullres.median_patient_size_in_voxels; // rounded, transposed (spacing ratio 1)
  return {
    dataset_name: datasetName,
    plans_name: `nnUNetPlansv2.1${gpuTargetSuffix(opts.gpuMemoryTargetGB)}`,
    original_median_spacing_after_transp: [...fullres.current_spacing],
    original_median_shape_after_transp: fullresMedianShape.map((x) => roundHalfEven(x)),
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [...p3.transpose_forward],
    transpose_backward: [...p3.transpose_backward],
    configurations,
    experiment_planner_used: 'ExperimentPlanner3D_v21',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: Object.fromEntries(
      keys.map((k) => [k, { ...fp.foreground_intensity_properties_per_channel[k] }]),
    ),
  };
}

/**
 * Plan from a fingerprint (the dataset_fingerprint.json document, or a Fingerprint object holding it in `.json`).
 * Overrides are applied last and validated (`plans.override(...)` does the same on existing plans).
 * @example
 *   const plans = planExperiment(loadFingerprint('dataset_fingerprint.json').json, { gpuMemoryTargetGB: 11 });
 *   plans.configuration('3d_fullres').patch_size;
 */
export function planExperiment(fingerprint: PlanningFingerprint | { json: PlanningFingerprint }, opts: PlanOptions = {}): Plans {
  const fp: PlanningFingerprint = 'json' in fingerprint && fingerprint.json && !('spacings' in fingerprint) ? fingerprint.json : (fingerprint as PlanningFingerprint);
  const preset = opts.preset ?? 'nnUNetPlansv2.1';
  const name = opts.datasetName ?? fp.dataset_name ?? 'unnamed_dataset';
  let json: PlansJSON;
  const gpu = opts.gpuMemoryTargetGB;
  if (preset === 'nnUNetPlansv2.1') json = plansV21(fp, name, { gpuMemoryTargetGB: gpu });
  else if (preset in V2_VARIANTS) {
    const variant = V2_VARIANTS[preset as keyof typeof V2_VARIANTS];
    const custom = gpu !== undefined && gpu !== variant.UNet_vram_target_GB;
    json = planExperimentV2(fp, name, custom ? { ...variant, UNet_vram_target_GB: gpu, plans_name: `${variant.plans_name}${gpuTargetName(gpu)}` } : variant);
  }
  else {
    throw new Error(
      `planExperiment: unknown preset '${String(preset)}' (use 'nnUNetPlansv2.1', 'nnUNetPlans', 'nnUNetResEncUNetMPlans' or 'nnUNetResEncUNetLPlans')`,
    );
  }
  if (opts.overrides) json = applyOverrides(json, opts.overrides);
  return new Plans(json);
}

