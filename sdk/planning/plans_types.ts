/**
 * The plans.json document (nnU-Net v2 schema, 2.2-era configuration fields) plus the v1 network topology.
 *
 * Conventions consumers rely on:
 *  - Every spatial list (`patch_size`, `spacing`, `median_image_size_in_voxels`, kernel vectors) is in the
 *    *transposed* axis order (after `transpose_forward`), as in nnU-Net. For 2D configurations they hold the two
 *    in-plane axes only.
 *  - `pool_op_kernel_sizes` / `conv_kernel_sizes` follow **v1 Generic_UNet semantics**: `pool_op_kernel_sizes` has one
 *    entry per pooling step (no leading [1,1,1] stride), `conv_kernel_sizes` has one more (the bottleneck).
 *    (v2 `PlainConvUNet` strides = [[1,..]] + pool_op_kernel_sizes; kernel_sizes = conv_kernel_sizes.)
 *  - `n_conv_per_stage_encoder` has len(conv_kernel_sizes) entries, `n_conv_per_stage_decoder` one fewer.
 *  - `normalization_schemes` use v2 class names: v1 'CT' -> 'CTNormalization', 'nonCT' -> 'ZScoreNormalization',
 *    'noNorm' -> 'NoNormalization' (same arithmetic; v1 applies it after resampling, v2 before).
 *  - `data_identifier` is the preprocessed folder name, exactly where official nnU-Net puts it
 *    (v1: 'nnUNetData_plans_v2.1_stage0' / '_stage1' / 'nnUNetData_plans_v2.1_2D_stage0'; v2: 'nnUNetPlans_3d_fullres').
 *  - A cascade configuration in the JSON holds only {inherits_from, previous_stage}; `resolveConfiguration` merges it.
 */
import type { IntensityProperties } from '../fingerprint/fingerprint_types';
export type { IntensityProperties };

export type NormalizationScheme =
  | 'CTNormalization'
  | 'ZScoreNormalization'
  | 'NoNormalization'
  | 'RescaleTo01Normalization'
  | 'RGBTo01Normalization';

export interface ResamplingKwargs {
  is_seg: boolean;
  order: number;
  order_z: number;
  force_separate_z: boolean | null;
}

export interface PlansConfiguration {
  data_identifier: string;
  preprocessor_name: string;
  batch_size: number;
  patch_size: number[];
  median_image_size_in_voxels: number[];
  spacing: number[];
  normalization_schemes: NormalizationScheme[];
  use_mask_for_norm: boolean[];
  resampling_fn_data: string;
  resampling_fn_seg: string;
  resampling_fn_data_kwargs: ResamplingKwargs;
  resampling_fn_seg_kwargs: ResamplingKwargs;
  resampling_fn_probabilities: string;
  resampling_fn_probabilities_kwargs: ResamplingKwargs;
  UNet_class_name: string;
  UNet_base_num_features: number;
  n_conv_per_stage_encoder: number[];
  n_conv_per_stage_decoder: number[];
  num_pool_per_axis: number[];
  pool_op_kernel_sizes: number[][];
  conv_kernel_sizes: number[][];
  unet_max_num_features: number;
  batch_dice: boolean;
  do_dummy_2D_data_aug: boolean;
  /** v2 cascade links (3d_lowres.next_stage = '3d_cascade_fullres'; cascade.previous_stage = '3d_lowres'). */
  inherits_from?: string;
  previous_stage?: string;
  next_stage?: string;
}

/** A configuration as stored: complete, or a partial one that `inherits_from` another. */
export type PlansConfigurationEntry = Partial<PlansConfiguration>;


export interface PlansJSON {
  dataset_name: string;
  plans_name: string;
  original_median_spacing_after_transp: number[];
  original_median_shape_after_transp: number[];
  image_reader_writer: string;
  transpose_forward: number[];
  transpose_backward: number[];
  configurations: Record<string, PlansConfigurationEntry>;
  experiment_planner_used: string;
  label_manager: string;
  foreground_intensity_properties_per_channel: Record<string, IntensityProperties>;
}
