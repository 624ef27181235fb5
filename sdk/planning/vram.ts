/**
 * v1 `Generic_UNet.compute_approx_vram_consumption` (nnunet/network_architecture/generic_UNet.py) and the constants
 * the v1 planners compare it against. A unit-less proxy; values exceed 2^31, JS doubles hold them exactly (< 2^53).
 */

/** Generic_UNet class constants (nnunet/network_architecture/generic_UNet.py). */
export const GENERIC_UNET = {
  DEFAULT_BATCH_SIZE_3D: 2,
  BASE_NUM_FEATURES_3D: 30,
  MAX_NUMPOOL_3D: 999,
  MAX_NUM_FILTERS_3D: 320,
  BASE_NUM_FEATURES_2D: 30,
  DEFAULT_BATCH_SIZE_2D: 50,
  MAX_NUMPOOL_2D: 999,
  MAX_FILTERS_2D: 480,
  use_this_for_batch_size_computation_2D: 19739648,
  use_this_for_batch_size_computation_3D: 520000000,
} as const;

export function computeApproxVramConsumption(
  patchSize: readonly number[],
  poolOpKernelSizes: readonly (readonly number[])[],
  baseNumFeatures: number,
  maxNumFeatures: number,
  numModalities: number,
  numClasses: number,
  convPerStage = 2,
  deepSupervision = false,
): number {
  const npool = poolOpKernelSizes.length;
  const mapSize = [...patchSize];
  const p0 = mapSize.reduce((a, b) => a * b, 1);
  let tmp = (convPerStage * 2 + 1) * p0 * baseNumFeatures + numModalities * p0 + numClasses * p0;
  let numFeat = baseNumFeatures;
  for (let p = 0; p < npool; p++) {
    // in-place `/=` on numpy's int array truncates
    for (let i = 0; i < mapSize.length; i++) mapSize[i] = Math.trunc(mapSize[i] / poolOpKernelSizes[p][i]);
    numFeat = Math.min(numFeat * 2, maxNumFeatures);
    const numBlocks = p < npool - 1 ? convPerStage * 2 + 1 : convPerStage;
    const pm = mapSize.reduce((a, b) => a * b, 1);
    tmp += numBlocks * pm * numFeat;
    if (deepSupervision && p < npool - 2) tmp += pm * numClasses;
  }
  return tmp;
}
