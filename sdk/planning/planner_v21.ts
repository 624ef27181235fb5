/**
 * nnU-Net v1 planners with the v2.1 plans: ExperimentPlanner3D_v21 + ExperimentPlanner2D_v21 (plans nnUNetPlansv2.1).
 * Sources: nnunet/experiment_planning/experiment_planner_baseline_3DUNet.py (base class, plan_experiment, lowres
 * loop, normalization, mask-for-norm), experiment_planner_baseline_3DUNet_v21.py (target spacing, stage plan),
 * experiment_planner_baseline_2DUNet.py / _2DUNet_v21.py (2D), all at branch nnunetv1.
 *
 * Everything here works in the v1 "pickle" vocabulary (V1Plans); plans.ts converts to the v2 JSON schema.
 */
import type { DatasetFingerprintJSON } from '../fingerprint/fingerprint_types';
import { argmax, argsortLast, median, medianAxis0, percentile, percentileAxis0, prod, roundHalfEven } from '../util/numpy_compat';
import { getPoolAndConvProps } from './pool_and_conv_props';
import { computeApproxVramConsumption, GENERIC_UNET } from './vram';

/** ExperimentPlanner constants (v1 experiment_planner_baseline_3DUNet.py __init__). */
export const V1_PLANNER = {
  unet_max_num_filters: 320,
  unet_max_numpool: 999,
  unet_min_batch_size: 2,
  unet_featuremap_min_edge_length: 4,
  target_spacing_percentile: 50,
  anisotropy_threshold: 3,
  how_much_of_a_patient_must_the_network_see_at_stage0: 4,
  batch_size_covers_max_percent_of_dataset: 0.05,
  conv_per_stage: 2,
  /** ExperimentPlanner3D_v21 / 2D_v21 */
  unet_base_num_features: 32,
  /** ExperimentPlanner2D.__init__ (inherited by 2D_v21); the 2D network itself caps at 480 (Appendix B.2) */
  unet_max_num_filters_2d: 512,
} as const;

/** One entry of v1 `plans_per_stage` (all vectors transposed). */
export interface V1StagePlan {
  batch_size: number;
  num_pool_per_axis: number[];
  patch_size: number[];
  median_patient_size_in_voxels: number[];
  current_spacing: number[];
  original_spacing: number[];
  do_dummy_2D_data_aug: boolean;
  pool_op_kernel_sizes: number[][];
  conv_kernel_sizes: number[][];
}

/** The v1 plans pickle, minus machine-specific paths and the embedded dataset_properties. */
export interface V1Plans {
  num_stages: number;
  num_modalities: number;
  modalities: Record<string, string>;
  normalization_schemes: Record<string, 'CT' | 'nonCT'>;
  original_spacings: number[][];
  original_sizes: number[][];
  num_classes: number;
  all_classes: number[];
  base_num_features: number;
  use_mask_for_norm: Record<string, boolean>;
  keep_only_largest_region: null;
  min_region_size_per_class: null;
  min_size_per_class: null;
  transpose_forward: number[];
  transpose_backward: number[];
  data_identifier: string;
  plans_per_stage: Record<string, V1StagePlan>;
  preprocessor_name: string;
  conv_per_stage?: number;
}

/** One step of the patch-shrinking loop (for inspection and the Appendix A.2 test vector). */
export interface ShrinkStep {
  patch_size: number[];
  vram: number;
}

export interface StageOptions {
  /** receives the patch and VRAM proxy before the loop and after every shrink step */
  trace?: ShrinkStep[];
  /**
   * GPU memory the plans target, in GB (default 8, what ExperimentPlanner3D_v21 was tuned for). The VRAM reference
   * is scaled by GB/8 exactly as v1's alternative planner ExperimentPlanner3D_v21_11GB does (`ref * 11 / 8`);
   * v2 exposes the same idea as `nnUNetv2_plan_experiment -gpu_memory_target`.
   */
  gpuMemoryTargetGB?: number;
}

/** v1 planners were tuned for 8 GB (ExperimentPlanner3D_v21_11GB: `ref = use_this_for_batch_size_computation_3D * 11 / 8`). */
export const V1_REFERENCE_GPU_GB = 8;

function vramScale(opts: { gpuMemoryTargetGB?: number }): number {
  const gb = opts.gpuMemoryTargetGB ?? V1_REFERENCE_GPU_GB;
  if (!(gb > 0) || !Number.isFinite(gb)) throw new Error(`planner: gpuMemoryTargetGB must be a positive number, got ${gb}`);
  return gb / V1_REFERENCE_GPU_GB;
}

/**
 * Suffix of plans name and data identifier for a non-default GPU memory target (v1's 11GB planner writes
 * nnUNetPlansv2.1_big / nnUNetData_plans_v2.1_big; we name the target so that several can coexist).
 */
export function gpuTargetSuffix(gpuMemoryTargetGB?: number): string {
  if (gpuMemoryTargetGB === undefined || gpuMemoryTargetGB === V1_REFERENCE_GPU_GB) return '';
  return gpuTargetName(gpuMemoryTargetGB);
}

/** `_0p25GB` for 0.25: the plans-name suffix of any explicit GPU memory target (validated). */
export function gpuTargetName(gpuMemoryTargetGB: number): string {
  vramScale({ gpuMemoryTargetGB });
  return `_${String(gpuMemoryTargetGB).replace('.', 'p')}GB`;
}

/** The subset of the fingerprint the v1 planners read. */
export type PlannerFingerprint = Pick<
  DatasetFingerprintJSON,
  'spacings' | 'shapes_after_crop' | 'modalities' | 'all_classes' | 'size_reductions' | 'case_identifiers'
>;

/** v1 base ExperimentPlanner.get_target_spacing: per-axis median (used by the 2D planner). */
export function getTargetSpacingMedian(spacings: number[][]): number[] {
  return percentileAxis0(spacings, V1_PLANNER.target_spacing_percentile);
}

/**
 * ExperimentPlanner3D_v21.get_target_spacing: median, except for very anisotropic data (spacing and voxel count),
 * where the worst axis takes its 10th percentile. Uses sizes at original spacing (quirk kept, fixed only in v2.4).
 */
export function getTargetSpacingV21(spacings: number[][], sizes: number[][]): number[] {
  const target = percentileAxis0(spacings, V1_PLANNER.target_spacing_percentile);
  const targetSize = percentileAxis0(sizes, V1_PLANNER.target_spacing_percentile);
  const worst = argmax(target);
  const other = [0, 1, 2].filter((i) => i !== worst);
  const otherSpacings = other.map((i) => target[i]);
  const otherSizes = other.map((i) => targetSize[i]);
  const anisoSpacing = target[worst] > V1_PLANNER.anisotropy_threshold * Math.max(...otherSpacings);
  const anisoVoxels = targetSize[worst] * V1_PLANNER.anisotropy_threshold < Math.min(...otherSizes);
  if (anisoSpacing && anisoVoxels) {
    let t = percentile(
      spacings.map((s) => s[worst]),
      10,
    );
    if (t < Math.max(...otherSpacings)) t = Math.max(Math.max(...otherSpacings), t) + 1e-5;
    target[worst] = t;
  }
  return target;
}

/** transpose_forward = [argmax(spacing)] + the remaining axes ascending; transpose_backward its inverse. */
export function transposeFromSpacing(targetSpacing: readonly number[]): { forward: number[]; backward: number[] } {
  const m = argmax([...targetSpacing]);
  const forward = [m, ...[0, 1, 2].filter((i) => i !== m)];
  const backward = [0, 1, 2].map((i) => forward.indexOf(i));
  return { forward, backward };
}

export function transpose<T>(v: readonly T[], order: readonly number[]): T[] {
  return order.map((i) => v[i]);
}

/** new_shapes = spacing / target * size per case; median per axis (float, untransposed). */
export function medianShapeAtSpacing(spacings: number[][], sizes: number[][], target: readonly number[]): number[] {
  const newShapes = spacings.map((s, c) => s.map((si, i) => (si / target[i]) * sizes[c][i]));
  return medianAxis0(newShapes);
}

/** ExperimentPlanner3D_v21.get_properties_for_stage. */
export function getPropertiesForStage3DV21(
  currentSpacing: number[],
  originalSpacing: number[],
  originalShape: number[],
  numCases: number,
  numModalities: number,
  numClasses: number,
  opts: StageOptions = {},
): V1StagePlan {
  const P = V1_PLANNER;
  const newMedianShape = originalShape.map((s, i) => roundHalfEven((originalSpacing[i] / currentSpacing[i]) * s));
  const datasetNumVoxels = prod(newMedianShape) * numCases;
  // isotropic-in-mm start (512 voxels along the finest axis), clipped to the median shape
  let v = currentSpacing.map((s) => 1 / s);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  v = v.map((x) => x / mean);
  const mn = Math.min(...v);
  const start = v.map((x) => roundHalfEven(x * ((1 / mn) * 512)));
  const inputPatch = start.map((s, i) => Math.min(s, newMedianShape[i]));

  const topo = (p: number[]) => getPoolAndConvProps(currentSpacing, p, P.unet_featuremap_min_edge_length, P.unet_max_numpool);
  let t = topo(inputPatch);
  let newShp = t.patch_size;
  // v2.1 computes as if with 30 features, scaled to 32 (fp16 frees the memory)
  const ref = ((GENERIC_UNET.use_this_for_batch_size_computation_3D * P.unet_base_num_features) / GENERIC_UNET.BASE_NUM_FEATURES_3D) * vramScale(opts);
  const vram = (shp: number[], pools: number[][]) =>
    computeApproxVramConsumption(shp, pools, P.unet_base_num_features, P.unet_max_num_filters, numModalities, numClasses, P.conv_per_stage);
  let here = vram(newShp, t.pool_op_kernel_sizes);
  opts.trace?.push({ patch_size: [...newShp], vram: here });
  while (here > ref) {
    const axis = argsortLast(newShp.map((s, i) => s / newMedianShape[i]));
    const tmp = [...newShp];
    tmp[axis] -= t.shape_must_be_divisible_by[axis];
    const divNew = topo(tmp).shape_must_be_divisible_by;
    const reduced = [...newShp];
    reduced[axis] -= divNew[axis];
    t = topo(reduced);
    newShp = t.patch_size;
    here = vram(newShp, t.pool_op_kernel_sizes);
    opts.trace?.push({ patch_size: [...newShp], vram: here });
  }
  let batchSize = Math.floor(Math.max(ref / here, 1) * GENERIC_UNET.DEFAULT_BATCH_SIZE_3D);
  let maxBatch = roundHalfEven((P.batch_size_covers_max_percent_of_dataset * datasetNumVoxels) / prod(newShp));
  maxBatch = Math.max(maxBatch, P.unet_min_batch_size);
  batchSize = Math.min(batchSize, maxBatch);
  return {
    batch_size: batchSize,
    num_pool_per_axis: t.num_pool_per_axis,
    patch_size: newShp,
    median_patient_size_in_voxels: newMedianShape,
    current_spacing: [...currentSpacing],
    original_spacing: [...originalSpacing],
    do_dummy_2D_data_aug: Math.max(...newShp) / newShp[0] > P.anisotropy_threshold,
    pool_op_kernel_sizes: t.pool_op_kernel_sizes,
    conv_kernel_sizes: t.conv_kernel_sizes,
  };
}

/** ExperimentPlanner2D_v21.get_properties_for_stage (quirk: first VRAM estimate with 30 features, later with 32). */
export function getPropertiesForStage2DV21(
  currentSpacing: number[],
  originalSpacing: number[],
  originalShape: number[],
  numCases: number,
  numModalities: number,
  numClasses: number,
  opts: StageOptions = {},
): V1StagePlan {
  const P = V1_PLANNER;
  const newMedianShape = originalShape.map((s, i) => roundHalfEven((originalSpacing[i] / currentSpacing[i]) * s));
  const datasetNumVoxels = prod(newMedianShape) * numCases;
  const inPlaneSpacing = currentSpacing.slice(1);
  const inPlaneMedian = newMedianShape.slice(1);
  const topo = (p: number[]) => getPoolAndConvProps(inPlaneSpacing, p, P.unet_featuremap_min_edge_length, P.unet_max_numpool);
  let t = topo(inPlaneMedian);
  let newShp = t.patch_size;
  // ref for batch size 2 (v1 2D_v21)
  const ref = ((GENERIC_UNET.use_this_for_batch_size_computation_2D * GENERIC_UNET.DEFAULT_BATCH_SIZE_2D) / 2) * vramScale(opts);
  let here = computeApproxVramConsumption(newShp, t.pool_op_kernel_sizes, 30, P.unet_max_num_filters_2d, numModalities, numClasses, P.conv_per_stage);
  opts.trace?.push({ patch_size: [...newShp], vram: here });
  while (here > ref) {
    const axis = argsortLast(newShp.map((s, i) => s / inPlaneMedian[i]));
    const tmp = [...newShp];
    tmp[axis] -= t.shape_must_be_divisible_by[axis];
    const divNew = topo(tmp).shape_must_be_divisible_by;
    const reduced = [...newShp];
    reduced[axis] -= divNew[axis];
    t = topo(reduced);
    newShp = t.patch_size;
    here = computeApproxVramConsumption(
      newShp,
      t.pool_op_kernel_sizes,
      P.unet_base_num_features,
      P.unet_max_num_filters_2d,
      numModalities,
      numClasses,
      P.conv_per_stage,
    );
    opts.trace?.push({ patch_size: [...newShp], vram: here });
  }
  let batchSize = Math.floor(ref / here) * 2;
  if (batchSize < P.unet_min_batch_size) {
    throw new Error(`2D planner: batch size ${batchSize} < ${P.unet_min_batch_size} for patch ${newShp.join('x')} ("This should not happen" in v1)`);
  }
  const maxBatch = roundHalfEven((P.batch_size_covers_max_percent_of_dataset * datasetNumVoxels) / prod(newShp));
  batchSize = Math.max(1, Math.min(batchSize, maxBatch));
  return {
    batch_size: batchSize,
    num_pool_per_axis: t.num_pool_per_axis,
    patch_size: newShp,
    median_patient_size_in_voxels: newMedianShape,
    current_spacing: [...currentSpacing],
    original_spacing: [...originalSpacing],
    pool_op_kernel_sizes: t.pool_op_kernel_sizes,
    conv_kernel_sizes: t.conv_kernel_sizes,
    do_dummy_2D_data_aug: false,
  };
}

/** determine_normalization_scheme: 'CT' for exactly 'CT'/'ct', else 'nonCT'. */
export function determineNormalizationSchemeV1(modalities: Record<string, string>): Record<string, 'CT' | 'nonCT'> {
  const out: Record<string, 'CT' | 'nonCT'> = {};
  for (const k of Object.keys(modalities).sort((a, b) => Number(a) - Number(b))) {
    out[k] = modalities[k] === 'CT' || modalities[k] === 'ct' ? 'CT' : 'nonCT';
  }
  return out;
}

/** determine_whether_to_use_mask_for_norm: never for names containing 'CT'; else median size reduction < 3/4. */
export function determineUseMaskForNormV1(modalities: Record<string, string>, sizeReductions: Record<string, number>): Record<string, boolean> {
  const red = median(Object.values(sizeReductions));
  const out: Record<string, boolean> = {};
  for (const k of Object.keys(modalities).sort((a, b) => Number(a) - Number(b))) {
    out[k] = modalities[k].includes('CT') ? false : red < 3 / 4;
  }
  return out;
}

export interface V1PlanResult {
  plans: V1Plans;
  /** lowres spacing loop: number of 1.01 steps (0 when no lowres was attempted) */
  lowres_steps: number;
  /** whether a lowres stage was computed but dropped (too little size difference) */
  lowres_dropped: boolean;
  /** full-res shrink trace */
  trace_fullres: ShrinkStep[];
}

function commonV1(fp: PlannerFingerprint) {
  const numModalities = Object.keys(fp.modalities).length;
  return {
    num_modalities: numModalities,
    modalities: { ...fp.modalities },
    normalization_schemes: determineNormalizationSchemeV1(fp.modalities),
    original_spacings: fp.spacings.map((s) => [...s]),
    original_sizes: fp.shapes_after_crop.map((s) => [...s]),
    num_classes: fp.all_classes.length,
    all_classes: [...fp.all_classes],
    use_mask_for_norm: determineUseMaskForNormV1(fp.modalities, fp.size_reductions),
    keep_only_largest_region: null,
    min_region_size_per_class: null,
    min_size_per_class: null,
  };
}

function checkFingerprint(fp: PlannerFingerprint): void {
  const n = fp.spacings.length;
  if (n === 0) throw new Error('planner: the fingerprint has no cases');
  if (fp.shapes_after_crop.length !== n) {
    throw new Error(`planner: fingerprint has ${n} spacings but ${fp.shapes_after_crop.length} shapes_after_crop`);
  }
  for (let c = 0; c < n; c++) {
    const s = fp.spacings[c];
    const z = fp.shapes_after_crop[c];
    if (s.length !== 3 || z.length !== 3 || s.some((x) => !(x > 0)) || z.some((x) => !(x > 0))) {
      throw new Error(`planner: case ${fp.case_identifiers?.[c] ?? c} has invalid spacing ${s} or shape ${z}`);
    }
  }
  if (Object.keys(fp.modalities).length === 0) throw new Error('planner: the fingerprint lists no modalities (channels)');
}

/** ExperimentPlanner3D_v21.plan_experiment (3d_fullres, and 3d_lowres when the dataset is large enough). */
export function planExperiment3DV21(fp: PlannerFingerprint, opts: { gpuMemoryTargetGB?: number } = {}): V1PlanResult {
  checkFingerprint(fp);
  const P = V1_PLANNER;
  const numCases = fp.spacings.length;
  const numModalities = Object.keys(fp.modalities).length;
  const numClasses = fp.all_classes.length + 1;
  const target = getTargetSpacingV21(fp.spacings, fp.shapes_after_crop);
  const medianShape = medianShapeAtSpacing(fp.spacings, fp.shapes_after_crop, target);
  const { forward, backward } = transposeFromSpacing(target);
  const targetT = transpose(target, forward);
  const medianT = transpose(medianShape, forward);
  const trace: ShrinkStep[] = [];
  const gpu = { gpuMemoryTargetGB: opts.gpuMemoryTargetGB };
  const fullres = getPropertiesForStage3DV21(targetT, targetT, medianT, numCases, numModalities, numClasses, { trace, ...gpu });
  const stages: V1StagePlan[] = [fullres];
  let archVoxels = prod(fullres.patch_size);
  let steps = 0;
  let dropped = false;
  if (prod(medianShape) / archVoxels >= P.how_much_of_a_patient_must_the_network_see_at_stage0) {
    const lowresSpacing = [...target];
    let numVoxels = prod(medianShape);
    let lowres: V1StagePlan | undefined;
    while (numVoxels > P.how_much_of_a_patient_must_the_network_see_at_stage0 * archVoxels) {
      const maxSpacing = Math.max(...lowresSpacing);
      const coarse = lowresSpacing.map((s) => maxSpacing / s > 2);
      if (coarse.some((x) => x)) {
        for (let i = 0; i < 3; i++) if (coarse[i]) lowresSpacing[i] *= 1.01;
      } else {
        for (let i = 0; i < 3; i++) lowresSpacing[i] *= 1.01;
      }
      steps++;
      numVoxels = prod(target.map((t, i) => (t / lowresSpacing[i]) * medianShape[i]));
      lowres = getPropertiesForStage3DV21(transpose(lowresSpacing, forward), targetT, medianT, numCases, numModalities, numClasses, gpu);
      archVoxels = prod(lowres.patch_size);
    }
    if (!lowres) throw new Error('planner: lowres loop did not run (median/patch ratio exactly 4; v1 fails here too)');
    if (2 * prod(lowres.median_patient_size_in_voxels) < prod(fullres.median_patient_size_in_voxels)) stages.push(lowres);
    else dropped = true;
  }
  stages.reverse();
  const plansPerStage: Record<string, V1StagePlan> = {};
  stages.forEach((s, i) => (plansPerStage[String(i)] = s));
  return {
    plans: {
      num_stages: stages.length,
      ...commonV1(fp),
      base_num_features: P.unet_base_num_features,
      transpose_forward: forward,
      transpose_backward: backward,
      data_identifier: `nnUNetData_plans_v2.1${gpuTargetSuffix(opts.gpuMemoryTargetGB)}`,
      plans_per_stage: plansPerStage,
      preprocessor_name: 'GenericPreprocessor',
      conv_per_stage: P.conv_per_stage,
    },
    lowres_steps: steps,
    lowres_dropped: dropped,
    trace_fullres: trace,
  };
}

/** ExperimentPlanner2D_v21.plan_experiment (plain median target spacing, one stage). */
export function planExperiment2DV21(fp: PlannerFingerprint, opts: { gpuMemoryTargetGB?: number } = {}): V1PlanResult {
  checkFingerprint(fp);
  const numCases = fp.spacings.length;
  const numModalities = Object.keys(fp.modalities).length;
  const numClasses = fp.all_classes.length + 1;
  const target = getTargetSpacingMedian(fp.spacings);
  const medianShape = medianShapeAtSpacing(fp.spacings, fp.shapes_after_crop, target);
  const { forward, backward } = transposeFromSpacing(target);
  const targetT = transpose(target, forward);
  const medianT = transpose(medianShape, forward);
  const trace: ShrinkStep[] = [];
  const stage = getPropertiesForStage2DV21(targetT, targetT, medianT, numCases, numModalities, numClasses, { trace, gpuMemoryTargetGB: opts.gpuMemoryTargetGB });
  return {
    plans: {
      num_stages: 1,
      ...commonV1(fp),
      base_num_features: V1_PLANNER.unet_base_num_features,
      transpose_forward: forward,
      transpose_backward: backward,
      data_identifier: `nnUNetData_plans_v2.1${gpuTargetSuffix(opts.gpuMemoryTargetGB)}_2D`,
      plans_per_stage: { '0': stage },
      preprocessor_name: 'PreprocessorFor2D',
    },
    lowres_steps: 0,
    lowres_dropped: false,
    trace_fullres: trace,
  };
}
