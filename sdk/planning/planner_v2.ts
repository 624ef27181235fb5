/**
 * nnU-Net v2 default `ExperimentPlanner` (plans 'nnUNetPlans'):
 * nnunetv2/experiment_planning/experiment_planners/default_experiment_planner.py and network_topology.py, with the
 * VRAM estimate of dynamic_network_architectures `PlainConvUNet.compute_conv_feature_map_size` (summed conv output
 * sizes of encoder and decoder, computed here in closed form instead of instantiating the network).
 */
import { median, medianAxis0, prod, roundHalfEven } from '../util/numpy_compat';
import type { PlanningFingerprint } from './plan_experiment';
import { getTargetSpacingV21, transposeFromSpacing, transpose } from './planner_v21';
import { defaultResampling, type NormalizationScheme, type PlansConfiguration, type PlansJSON } from './plans';
import { getShapeMustBeDivisibleBy, padShape, type PoolAndConvProps } from './pool_and_conv_props';

/** ExperimentPlanner.__init__ constants (nnunetv2 default_experiment_planner.py). */
export const V2_PLANNER = {
  UNet_base_num_features: 32,
  UNet_reference_val_corresp_bs_2d: 12,
  UNet_reference_val_corresp_bs_3d: 2,
  UNet_featuremap_min_edge_length: 4,
  UNet_min_batch_size: 2,
  UNet_max_features_2d: 512,
  UNet_max_features_3d: 320,
  lowres_creation_threshold: 0.25,
  spacing_increase_factor: 1.03,
} as const;

/** What differs between the v2 default planner and the ResEnc presets (residual_encoder_unet_planners.py). */
export interface V2PlannerVariant {
  plans_name: string;
  experiment_planner_used: string;
  UNet_class_name: 'PlainConvUNet' | 'ResidualEncoderUNet';
  UNet_reference_val_3d: number;
  UNet_reference_val_2d: number;
  UNet_vram_target_GB: number;
  UNet_reference_val_corresp_GB: number;
  max_dataset_covered: number;
  /** per stage (truncated to the number of stages) */
  blocks_per_stage_encoder: number[];
  blocks_per_stage_decoder: number[];
  /** ExperimentPlanner shrinks while estimate / ref_bs * 2 > reference; ResEncUNetPlanner while estimate > reference */
  shrink_rule: 'per_sample' | 'absolute';
}

const rep = (first: number[], fill: number, n = 14) => [...first, ...new Array(n - first.length).fill(fill)];

export const V2_VARIANTS: Record<'nnUNetPlans' | 'nnUNetResEncUNetMPlans' | 'nnUNetResEncUNetLPlans', V2PlannerVariant> = {
  nnUNetPlans: {
    plans_name: 'nnUNetPlans',
    experiment_planner_used: 'ExperimentPlanner',
    UNet_class_name: 'PlainConvUNet',
    UNet_reference_val_3d: 560000000,
    UNet_reference_val_2d: 85000000,
    UNet_vram_target_GB: 8,
    UNet_reference_val_corresp_GB: 8,
    max_dataset_covered: 0.05,
    blocks_per_stage_encoder: rep([], 2),
    blocks_per_stage_decoder: rep([], 2, 13),
    shrink_rule: 'per_sample',
  },
  // nnUNetPlannerResEncM: 8 GB target, 680M / 135M, no 5 % batch cap
  nnUNetResEncUNetMPlans: {
    plans_name: 'nnUNetResEncUNetMPlans',
    experiment_planner_used: 'nnUNetPlannerResEncM',
    UNet_class_name: 'ResidualEncoderUNet',
    UNet_reference_val_3d: 680000000,
    UNet_reference_val_2d: 135000000,
    UNet_vram_target_GB: 8,
    UNet_reference_val_corresp_GB: 8,
    max_dataset_covered: 1,
    blocks_per_stage_encoder: rep([1, 3, 4, 6], 6, 13),
    blocks_per_stage_decoder: rep([], 1, 12),
    shrink_rule: 'absolute',
  },
  // nnUNetPlannerResEncL: 24 GB target, 2100M / 380M, no 5 % batch cap
  nnUNetResEncUNetLPlans: {
    plans_name: 'nnUNetResEncUNetLPlans',
    experiment_planner_used: 'nnUNetPlannerResEncL',
    UNet_class_name: 'ResidualEncoderUNet',
    UNet_reference_val_3d: 2100000000,
    UNet_reference_val_2d: 380000000,
    UNet_vram_target_GB: 24,
    UNet_reference_val_corresp_GB: 24,
    max_dataset_covered: 1,
    blocks_per_stage_encoder: rep([1, 3, 4, 6], 6, 13),
    blocks_per_stage_decoder: rep([], 1, 12),
    shrink_rule: 'absolute',
  },
};

/**
 * v2 `get_pool_and_conv_props` (network_topology.py). `pool_op_kernel_sizes` here includes v2's leading stride-1
 * entry (n_stages entries); conv kernels, once 3 on an axis, stay 3; sizes are ceil'd.
 */
export function getPoolAndConvPropsV2(
  spacing: readonly number[],
  patchSize: readonly number[],
  minFeatureMapSize: number,
  maxNumpool: number,
): PoolAndConvProps {
  const dim = spacing.length;
  const currentSpacing = [...spacing];
  const currentSize = [...patchSize];
  const pool: number[][] = [new Array<number>(dim).fill(1)];
  const conv: number[][] = [];
  const numPool = new Array<number>(dim).fill(0);
  const kernel = new Array<number>(dim).fill(1);
  for (;;) {
    let valid = [...Array(dim).keys()].filter((i) => currentSize[i] >= 2 * minFeatureMapSize);
    if (valid.length < 1) break;
    const spacingsOfAxes = valid.map((i) => currentSpacing[i]);
    const minValid = Math.min(...spacingsOfAxes);
    valid = valid.filter((i) => currentSpacing[i] / minValid < 2);
    valid = valid.filter((i) => numPool[i] < maxNumpool);
    if (valid.length === 1 && !(currentSize[valid[0]] >= 3 * minFeatureMapSize)) break;
    if (valid.length < 1) break;
    const minAll = Math.min(...currentSpacing);
    for (let d = 0; d < dim; d++) {
      if (kernel[d] === 3) continue;
      // the original indexes spacings_of_axes (valid axes only) with the axis index d; Python raises past its end
      if (d >= spacingsOfAxes.length) throw new Error(`v2 get_pool_and_conv_props: spacings_of_axes[${d}] out of range (as in nnU-Net v2)`);
      if (spacingsOfAxes[d] / minAll < 2) kernel[d] = 3;
    }
    const pk = new Array<number>(dim).fill(1);
    for (const v of valid) {
      pk[v] = 2;
      numPool[v] += 1;
      currentSpacing[v] *= 2;
      currentSize[v] = Math.ceil(currentSize[v] / 2);
    }
    pool.push(pk);
    conv.push([...kernel]);
  }
  const div = getShapeMustBeDivisibleBy(numPool);
  conv.push(new Array<number>(dim).fill(3));
  return { num_pool_per_axis: numPool, pool_op_kernel_sizes: pool, conv_kernel_sizes: conv, patch_size: padShape(patchSize, div), shape_must_be_divisible_by: div };
}

/**
 * PlainConvUNet.compute_conv_feature_map_size(patch) without deep supervision: every conv's output voxels x
 * channels in encoder and decoder, plus each transposed conv and the final segmentation layer.
 */
export function plainConvUNetFeatureMapSize(
  patchSize: readonly number[],
  strides: readonly (readonly number[])[],
  featuresPerStage: readonly number[],
  nConvEncoder: readonly number[],
  nConvDecoder: readonly number[],
  numClasses: number,
): number {
  const nStages = strides.length;
  let out = 0;
  let size = [...patchSize];
  const stageSizes: number[][] = [];
  for (let s = 0; s < nStages; s++) {
    size = size.map((x, i) => Math.floor(x / strides[s][i]));
    stageSizes.push(size);
    out += nConvEncoder[s] * prod(size) * featuresPerStage[s];
  }
  // decoder stage s works at the resolution of encoder stage n-2-s
  for (let s = 0; s < nStages - 1; s++) {
    const e = nStages - 2 - s;
    const p = prod(stageSizes[e]);
    out += nConvDecoder[s] * p * featuresPerStage[e];
    out += featuresPerStage[e] * p; // transposed conv output
    if (s === nStages - 2) out += numClasses * p; // segmentation output (deep supervision off)
  }
  return out;
}

/**
 * ResidualEncoderUNet.compute_conv_feature_map_size: stem conv (features[0], full size), per stage
 * n_blocks BasicBlockD (two convs each, plus a 1x1 skip conv in the first block when channels or stride change),
 * and the same UNetDecoder as PlainConvUNet.
 */
export function residualEncoderUNetFeatureMapSize(
  patchSize: readonly number[],
  strides: readonly (readonly number[])[],
  featuresPerStage: readonly number[],
  nBlocksEncoder: readonly number[],
  nConvDecoder: readonly number[],
  numClasses: number,
): number {
  const nStages = strides.length;
  let out = featuresPerStage[0] * prod(patchSize); // stem
  let size = [...patchSize];
  let inCh = featuresPerStage[0];
  const stageSizes: number[][] = [];
  for (let s = 0; s < nStages; s++) {
    const after = size.map((x, i) => Math.floor(x / strides[s][i]));
    const p = prod(after);
    const f = featuresPerStage[s];
    const strided = after.some((x, i) => x !== size[i]);
    out += 2 * f * p + (inCh !== f || strided ? f * p : 0); // first block
    out += (nBlocksEncoder[s] - 1) * 2 * f * p;
    stageSizes.push(after);
    size = after;
    inCh = f;
  }
  for (let s = 0; s < nStages - 1; s++) {
    const e = nStages - 2 - s;
    const p = prod(stageSizes[e]);
    out += nConvDecoder[s] * p * featuresPerStage[e];
    out += featuresPerStage[e] * p;
    if (s === nStages - 2) out += numClasses * p;
  }
  return out;
}

function normalizationV2(channelName: string): { scheme: NormalizationScheme; maskOk: boolean } {
  // nnunetv2 map_channel_name_to_normalization (casefold lookup, default ZScore); maskOk =
  // leaves_pixels_outside_mask_at_zero_if_use_mask_for_norm_is_true
  switch (channelName.toLowerCase()) {
    case 'ct':
      return { scheme: 'CTNormalization', maskOk: false };
    case 'nonorm':
      return { scheme: 'NoNormalization', maskOk: false };
    case 'rescale_to_0_1':
      return { scheme: 'RescaleTo01Normalization', maskOk: false };
    case 'rgb_to_0_1':
      return { scheme: 'RGBTo01Normalization', maskOk: false };
    default:
      return { scheme: 'ZScoreNormalization', maskOk: true };
  }
}

interface V2Context {
  numChannels: number;
  numLabels: number;
  normalization: NormalizationScheme[];
  useMask: boolean[];
}

function planConfigurationV2(
  spacing: number[],
  medianShape: number[],
  dataIdentifier: string,
  approxVoxelsDataset: number,
  ctx: V2Context,
  variant: V2PlannerVariant,
): PlansConfiguration & { strides: number[][] } {
  const P = V2_PLANNER;
  const V = variant;
  const dim = spacing.length;
  const maxFeatures = dim === 2 ? P.UNet_max_features_2d : P.UNet_max_features_3d;
  const tmp = spacing.map((s) => 1 / s);
  const pt = prod(tmp);
  const initial =
    dim === 3 ? tmp.map((x) => roundHalfEven(x * Math.pow(256 ** 3 / pt, 1 / 3))) : tmp.map((x) => roundHalfEven(x * Math.pow(2048 ** 2 / pt, 1 / 2)));
  const clipped = initial.map((x, i) => Math.min(x, medianShape[i]));
  const topo = (p: number[]) => getPoolAndConvPropsV2(spacing, p, P.UNet_featuremap_min_edge_length, 999999);
  let t = topo(clipped);
  let patch = t.patch_size;
  const feats = (n: number) => Array.from({ length: n }, (_, i) => Math.min(maxFeatures, P.UNet_base_num_features * 2 ** i));
  const estimate = () => {
    const n = t.pool_op_kernel_sizes.length;
    const fn = V.UNet_class_name === 'PlainConvUNet' ? plainConvUNetFeatureMapSize : residualEncoderUNetFeatureMapSize;
    return fn(patch, t.pool_op_kernel_sizes, feats(n), V.blocks_per_stage_encoder.slice(0, n), V.blocks_per_stage_decoder.slice(0, n - 1), ctx.numLabels);
  };
  let est = estimate();
  const reference = (dim === 2 ? V.UNet_reference_val_2d : V.UNet_reference_val_3d) * (V.UNet_vram_target_GB / V.UNet_reference_val_corresp_GB);
  const refBs = dim === 2 ? P.UNet_reference_val_corresp_bs_2d : P.UNet_reference_val_corresp_bs_3d;
  const tooLarge = () => (V.shrink_rule === 'per_sample' ? (est / refBs) * 2 > reference : est > reference);
  while (tooLarge()) {
    const ratios = patch.map((p, i) => p / medianShape[i]);
    let axis = 0;
    for (let i = 1; i < ratios.length; i++) if (ratios[i] >= ratios[axis]) axis = i; // np.argsort(...)[-1], stable
    const tmpP = [...patch];
    tmpP[axis] -= t.shape_must_be_divisible_by[axis];
    const divNew = topo(tmpP).shape_must_be_divisible_by;
    const reduced = [...patch];
    reduced[axis] -= divNew[axis];
    t = topo(reduced);
    patch = t.patch_size;
    est = estimate();
  }
  let batch = roundHalfEven((reference / est) * refBs);
  const cap = roundHalfEven((approxVoxelsDataset * V.max_dataset_covered) / prod(patch));
  batch = Math.max(Math.min(batch, cap), P.UNet_min_batch_size);
  const n = t.pool_op_kernel_sizes.length;
  return {
    data_identifier: dataIdentifier,
    preprocessor_name: 'DefaultPreprocessor',
    batch_size: batch,
    patch_size: patch,
    median_image_size_in_voxels: [...medianShape],
    spacing: [...spacing],
    normalization_schemes: [...ctx.normalization],
    use_mask_for_norm: [...ctx.useMask],
    ...defaultResampling(),
    UNet_class_name: V.UNet_class_name,
    UNet_base_num_features: P.UNet_base_num_features,
    // ResidualEncoderUNet: residual blocks per encoder stage (n_blocks_per_stage)
    n_conv_per_stage_encoder: V.blocks_per_stage_encoder.slice(0, n),
    n_conv_per_stage_decoder: V.blocks_per_stage_decoder.slice(0, n - 1),
    num_pool_per_axis: t.num_pool_per_axis,
    // v1 semantics in this schema: drop v2's leading stride-1 entry
    pool_op_kernel_sizes: t.pool_op_kernel_sizes.slice(1),
    conv_kernel_sizes: t.conv_kernel_sizes,
    unet_max_num_features: maxFeatures,
    batch_dice: false,
    // nnUNetTrainer: dummy 2D augmentation when max(patch)/patch[0] > ANISO_THRESHOLD (3) in 3D
    do_dummy_2D_data_aug: dim === 3 ? Math.max(...patch) / patch[0] > 3 : false,
    strides: t.pool_op_kernel_sizes,
  };
}

/** v2 `compute_new_shape`: int(round(old_spacing / new_spacing * old_shape)) per axis. */
function computeNewShape(oldShape: number[], oldSpacing: number[], newSpacing: number[]): number[] {
  return oldShape.map((s, i) => roundHalfEven((oldSpacing[i] / newSpacing[i]) * s));
}

export function planExperimentV2(fp: PlanningFingerprint, datasetName: string, variant: V2PlannerVariant = V2_VARIANTS.nnUNetPlans): PlansJSON {
  const P = V2_PLANNER;
  const keys = Object.keys(fp.modalities).sort((a, b) => Number(a) - Number(b));
  const norms = keys.map((k) => normalizationV2(fp.modalities[k]));
  const relSize = fp.median_relative_size_after_cropping ?? median(Object.values(fp.size_reductions));
  const ctx: V2Context = {
    numChannels: keys.length,
    numLabels: fp.all_classes.length + 1,
    normalization: norms.map((n) => n.scheme),
    useMask: norms.map((n) => (relSize < 3 / 4 ? n.maskOk : false)),
  };
  // same target-spacing rule as v2.1 (including the size-at-original-spacing imprecision)
  const fullresSpacing = getTargetSpacingV21(fp.spacings, fp.shapes_after_crop);
  const { forward, backward } = transposeFromSpacing(fullresSpacing);
  const spacingT = transpose(fullresSpacing, forward);
  const newShapes = fp.shapes_after_crop.map((s, c) => computeNewShape(s, fp.spacings[c], fullresSpacing));
  const medianT = transpose(medianAxis0(newShapes), forward);
  const numTraining = fp.spacings.length;
  const approx = prod(medianT) * numTraining;
  // ResEnc planners reuse nnUNetPlans' 2d / 3d_fullres data (generate_data_identifier)
  const id = (c: string) => (c === '3d_lowres' ? `${variant.plans_name}_${c}` : `nnUNetPlans_${c}`);
  const strip = (c: PlansConfiguration & { strides?: number[][] }): PlansConfiguration => {
    const { strides: _s, ...rest } = c;
    return rest;
  };
  const configurations: PlansJSON['configurations'] = {};
  let fullres: PlansConfiguration | null = null;
  let lowres: PlansConfiguration | null = null;
  if (medianT[0] !== 1) {
    fullres = strip(planConfigurationV2(spacingT, medianT, id('3d_fullres'), approx, ctx, variant));
    let medianNumVoxels = prod(medianT);
    let patchVoxels = prod(fullres.patch_size);
    const lowresSpacing = [...fullres.spacing];
    while (patchVoxels / medianNumVoxels < P.lowres_creation_threshold) {
      const maxS = Math.max(...lowresSpacing);
      const coarse = lowresSpacing.map((s) => maxS / s > 2);
      if (coarse.some((x) => x)) lowresSpacing.forEach((_, i) => coarse[i] && (lowresSpacing[i] *= P.spacing_increase_factor));
      else lowresSpacing.forEach((_, i) => (lowresSpacing[i] *= P.spacing_increase_factor));
      const shapeF = fullres.spacing.map((s, i) => (s / lowresSpacing[i]) * medianT[i]);
      medianNumVoxels = prod(shapeF);
      lowres = strip(
        planConfigurationV2([...lowresSpacing], shapeF.map((x) => roundHalfEven(x)), id('3d_lowres'), medianNumVoxels * numTraining, ctx, variant),
      );
      patchVoxels = prod(lowres.patch_size);
    }
    if (prod(medianT) / medianNumVoxels < 2) lowres = null; // "image size difference to 3d_fullres is too small"
    fullres.batch_dice = lowres !== null;
    if (lowres) lowres.batch_dice = false;
  }
  const plan2d = strip(planConfigurationV2(spacingT.slice(1), medianT.slice(1), id('2d'), approx, ctx, variant));
  plan2d.batch_dice = true;
  configurations['2d'] = plan2d;
  if (lowres) configurations['3d_lowres'] = { ...lowres, ...(fullres ? { next_stage: '3d_cascade_fullres' } : {}) };
  if (fullres) {
    configurations['3d_fullres'] = fullres;
    if (lowres) configurations['3d_cascade_fullres'] = { inherits_from: '3d_fullres', previous_stage: '3d_lowres' };
  }
  const medSpacing = transpose(medianAxis0(fp.spacings), forward);
  const medShape = transpose(medianAxis0(fp.shapes_after_crop), forward).map((x) => roundHalfEven(x));
  return {
    dataset_name: datasetName,
    plans_name: variant.plans_name,
    original_median_spacing_after_transp: medSpacing,
    original_median_shape_after_transp: medShape,
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: forward,
    transpose_backward: backward,
    configurations,
    experiment_planner_used: variant.experiment_planner_used,
    label_manager: 'LabelManager',
    // v2 statistics when the fingerprint has them (v2 CTNormalization reads these), else the deterministic v1 ones
    foreground_intensity_properties_per_channel: Object.fromEntries(
      keys.map((k) => [k, { ...(fp.v2_foreground_intensity_properties_per_channel ?? fp.foreground_intensity_properties_per_channel)[k] }]),
    ),
  };
}
