/**
 * `get_patch_size` (S1 training/data_augmentation/default_data_augmentation.py) and the DA parameter setup of
 * nnUNetTrainerV2.setup_DA_params: the enlarged patch the loader crops so that rotation/scaling has real data
 * to sample from (reference §6.6, Appendix A.3).
 */
import { rotateVector2d, rotateVector3d, rotationMatrix2d, rotationMatrix3d } from './rotation';

export type AngleRange = number | readonly [number, number];

const deg = (d: number) => (d / 360) * 2 * Math.PI; // nnU-Net writes angles as d / 360 * 2π

function maxAbs(r: AngleRange): number {
  return typeof r === 'number' ? r : Math.max(Math.abs(r[0]), Math.abs(r[1]));
}

/**
 * Enlarged patch: rotate the extents vector about each axis by the (capped at 90°) limit, take component-wise max of
 * |rotated| and the original, divide by min(scale_range), truncate (astype(int)).
 */
export function getPatchSize(
  finalPatchSize: readonly number[],
  rotX: AngleRange,
  rotY: AngleRange,
  rotZ: AngleRange,
  scaleRange: readonly [number, number],
): number[] {
  const cap = deg(90); // min(90 / 360 * 2π, rot)
  const rx = Math.min(cap, maxAbs(rotX));
  const ry = Math.min(cap, maxAbs(rotY));
  const rz = Math.min(cap, maxAbs(rotZ));
  const coords = finalPatchSize.map(Number);
  let out = coords.slice();
  const takeMax = (v: readonly number[]) => (out = out.map((o, i) => Math.max(o, Math.abs(v[i]))));
  if (coords.length === 3) {
    takeMax(rotateVector3d(coords, rotationMatrix3d(rx, 0, 0)));
    takeMax(rotateVector3d(coords, rotationMatrix3d(0, ry, 0)));
    takeMax(rotateVector3d(coords, rotationMatrix3d(0, 0, rz)));
  } else if (coords.length === 2) {
    takeMax(rotateVector2d(coords, rotationMatrix2d(rx)));
  } else {
    throw new Error(`getPatchSize: patch must be 2D or 3D, got [${finalPatchSize}]`);
  }
  const mn = Math.min(scaleRange[0], scaleRange[1]);
  return out.map((v) => Math.trunc(v / mn));
}

/** The effective augmentation parameters of nnUNetTrainerV2 (reference §7.1), serialisable (sent to workers). */
export interface MoreDAParams {
  /** 2 or 3: dimensionality of the network patch. */
  dim: 2 | 3;
  /** Final (network) patch size, (z, y, x) or (y, x). */
  patchSize: number[];
  /** Patch the SpatialTransform outputs: patchSize, or patchSize[1:] in dummy-2D mode. */
  patchSizeForSpatialTransform: number[];
  /** Patch the training loader crops (basic_generator_patch_size). */
  basicGeneratorPatchSize: number[];
  dummy2D: boolean;
  doElastic: boolean;
  elasticDeformAlpha: [number, number];
  elasticDeformSigma: [number, number];
  pEldef: number;
  doRotation: boolean;
  rotationX: [number, number];
  rotationY: [number, number];
  rotationZ: [number, number];
  rotationPPerAxis: number;
  pRot: number;
  doScaling: boolean;
  scaleRange: [number, number];
  pScale: number;
  independentScaleFactorForEachAxis: boolean;
  randomCrop: boolean;
  borderModeData: 'constant';
  orderData: number;
  orderSeg: number;
  borderCvalSeg: number;
  doGamma: boolean;
  gammaRange: [number, number];
  gammaRetainStats: boolean;
  pGamma: number;
  doMirror: boolean;
  mirrorAxes: number[];
  /** Per data channel: was the nonzero mask used for normalisation (MaskTransform). */
  maskWasUsedForNormalization: boolean[] | null;
  selectedSegChannels: number[] | null;
  /** Cascade: move the previous-stage seg (seg channel 1) to one-hot data channels. */
  moveLastSegChannelToData: boolean;
  allSegmentationLabels: number[] | null;
  cascadeDoCascadeAugmentations: boolean;
  cascadeRandomBinaryTransformP: number;
  cascadeRandomBinaryTransformPPerLabel: number;
  cascadeRandomBinaryTransformSize: [number, number];
  cascadeRemoveConnCompP: number;
  cascadeRemoveConnCompMaxSizePercentThreshold: number;
  cascadeRemoveConnCompFillWithOtherClassP: number;
  /** Deep-supervision target scales (per output, per spatial axis), or null for no DS. */
  deepSupervisionScales: number[][] | null;
}

export interface SetupDAOptions {
  /** Network patch size from the plans, (z, y, x) or (y, x). */
  patchSize: readonly number[];
  /** Plans `pool_op_kernel_sizes` (net_num_pool_op_kernel_sizes). */
  poolOpKernelSizes: readonly (readonly number[])[];
  /** Plans `do_dummy_2D_data_aug` (3D only). */
  doDummy2DAug?: boolean;
  /** Plans `use_mask_for_norm` per channel. */
  useMaskForNorm?: boolean[] | Record<string, boolean> | null;
  /** Cascade full-res trainer: labels 1..K−1 of the previous stage. */
  cascadeLabels?: number[];
}

/**
 * nnUNetTrainerV2.setup_DA_params (+ the cascade trainer's additions): default_3D/2D_augmentation_params with
 * rotation ±30° (3D), the 2D aspect rule, dummy-2D, the enlarged loader patch computed with the *default* scale range
 * (0.85, 1.25) before it becomes (0.7, 1.4) (quirk B.3), elastic off, seg channel 0 selected.
 */
export function setupDAParams(o: SetupDAOptions): MoreDAParams {
  const patch = o.patchSize.map(Number);
  const dim = patch.length as 2 | 3;
  if (dim !== 2 && dim !== 3) throw new Error(`setupDAParams: patch size must be 2D or 3D, got [${patch}]`);
  const dummy2D = dim === 3 && !!o.doDummy2DAug;
  // default_3D_augmentation_params (S1 default_data_augmentation.py)
  let rotationX: [number, number] = [-deg(15), deg(15)];
  let rotationY: [number, number] = [-deg(15), deg(15)];
  let rotationZ: [number, number] = [-deg(15), deg(15)];
  let elasticAlpha: [number, number] = [0, 900];
  const elasticSigma: [number, number] = [9, 13];
  let mirrorAxes = [0, 1, 2];
  if (dim === 3) {
    rotationX = [-deg(30), deg(30)];
    rotationY = [-deg(30), deg(30)];
    rotationZ = [-deg(30), deg(30)];
    if (dummy2D) {
      elasticAlpha = [0, 200]; // default_2D_augmentation_params
      rotationX = [-deg(180), deg(180)];
    }
  } else {
    // default_2D_augmentation_params
    elasticAlpha = [0, 200];
    rotationX = [-deg(180), deg(180)];
    rotationY = [-deg(0), deg(0)];
    rotationZ = [-deg(0), deg(0)];
    mirrorAxes = [0, 1];
    if (Math.max(...patch) / Math.min(...patch) > 1.5) rotationX = [-deg(15), deg(15)];
  }
  const defaultScale: [number, number] = [0.85, 1.25];
  let basic: number[];
  let forSpatial: number[];
  if (dummy2D) {
    basic = [patch[0], ...getPatchSize(patch.slice(1), rotationX, rotationY, rotationZ, defaultScale)];
    forSpatial = patch.slice(1);
  } else {
    basic = getPatchSize(patch, rotationX, rotationY, rotationZ, defaultScale);
    forSpatial = patch.slice();
  }
  let mask: boolean[] | null = null;
  if (o.useMaskForNorm != null) {
    mask = Array.isArray(o.useMaskForNorm)
      ? o.useMaskForNorm.slice()
      : Object.keys(o.useMaskForNorm)
          .sort((a, b) => Number(a) - Number(b))
          .map((k) => !!(o.useMaskForNorm as Record<string, boolean>)[k]);
  }
  const cascade = !!o.cascadeLabels;
  return {
    dim,
    patchSize: patch,
    patchSizeForSpatialTransform: forSpatial,
    basicGeneratorPatchSize: basic,
    dummy2D,
    doElastic: false,
    elasticDeformAlpha: elasticAlpha,
    elasticDeformSigma: elasticSigma,
    pEldef: 0.2,
    doRotation: true,
    rotationX,
    rotationY,
    rotationZ,
    rotationPPerAxis: 1,
    pRot: 0.2,
    doScaling: true,
    scaleRange: [0.7, 1.4],
    pScale: 0.2,
    independentScaleFactorForEachAxis: false,
    randomCrop: false,
    borderModeData: 'constant',
    orderData: 3, // get_moreDA_augmentation defaults: order_data=3, order_seg=1, border_val_seg=-1
    orderSeg: 1,
    borderCvalSeg: -1,
    doGamma: true,
    gammaRange: [0.7, 1.5],
    gammaRetainStats: true,
    pGamma: 0.3,
    doMirror: true,
    mirrorAxes,
    maskWasUsedForNormalization: mask,
    selectedSegChannels: cascade ? [0, 1] : [0],
    moveLastSegChannelToData: cascade,
    allSegmentationLabels: cascade ? o.cascadeLabels!.slice() : null,
    cascadeDoCascadeAugmentations: cascade,
    cascadeRandomBinaryTransformP: 0.4,
    cascadeRandomBinaryTransformPPerLabel: 1,
    cascadeRandomBinaryTransformSize: [1, 8],
    cascadeRemoveConnCompP: 0.2,
    cascadeRemoveConnCompMaxSizePercentThreshold: 0.15,
    cascadeRemoveConnCompFillWithOtherClassP: 0.0,
    deepSupervisionScales: getDeepSupervisionScales(o.poolOpKernelSizes, dim),
  };
}

/** [[1,…,1]] + 1/cumprod(pool kernels) for all but the last pooling step (nnUNetTrainerV2.setup_DA_params). */
export function getDeepSupervisionScales(pools: readonly (readonly number[])[], dim: number): number[][] {
  const out: number[][] = [new Array(dim).fill(1)];
  const cum = new Array(dim).fill(1);
  for (let i = 0; i < pools.length - 1; i++) {
    for (let d = 0; d < dim; d++) cum[d] *= pools[i][d];
    out.push(cum.map((c) => 1 / c));
  }
  return out;
}
