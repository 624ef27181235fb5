/**
 * Network topology from spacing and patch size: nnU-Net v1 `get_pool_and_conv_props` (the v2.1 "pool based on
 * spacing" rule, nnunet/experiment_planning/common_utils.py) and v2's variant
 * (nnunetv2/experiment_planning/experiment_planners/network_topology.py).
 */

export interface PoolAndConvProps {
  /** number of poolings per axis */
  num_pool_per_axis: number[];
  /** one entry per pooling step (v1 semantics, no leading stride-1 entry) */
  pool_op_kernel_sizes: number[][];
  /** one per resolution stage (pooling steps + 1, the last is the bottleneck) */
  conv_kernel_sizes: number[][];
  /** patch padded up to a multiple of shape_must_be_divisible_by */
  patch_size: number[];
  shape_must_be_divisible_by: number[];
}

/** v1 `get_shape_must_be_divisible_by`: 2 ** num_pool_per_axis. */
export function getShapeMustBeDivisibleBy(numPoolPerAxis: readonly number[]): number[] {
  return numPoolPerAxis.map((n) => 2 ** n);
}

/** v1 `pad_shape`: round each axis up to the next multiple (already divisible sizes are unchanged). */
export function padShape(shape: readonly number[], divisibleBy: readonly number[]): number[] {
  return shape.map((s, i) => {
    const d = divisibleBy[i];
    const r = s % d;
    return r === 0 ? s : s + d - r;
  });
}

/**
 * v1 `get_pool_and_conv_props(spacing, patch_size, min_feature_map_size, max_numpool)`.
 * Note (as in the original) the running size is divided by 2 as a float, not ceil'd.
 */
export function getPoolAndConvProps(
  spacing: readonly number[],
  patchSize: readonly number[],
  minFeatureMapSize = 4, // unet_featuremap_min_edge_length (v1 ExperimentPlanner)
  maxNumpool = 999, // unet_max_numpool (v1 ExperimentPlanner)
): PoolAndConvProps {
  const dim = spacing.length;
  const currentSpacing = [...spacing];
  const currentSize = [...patchSize];
  const pool: number[][] = [];
  const conv: number[][] = [];
  const numPool = new Array<number>(dim).fill(0);
  for (;;) {
    const minSpacing = Math.min(...currentSpacing);
    let valid: number[] = [];
    for (let i = 0; i < dim; i++) if (currentSpacing[i] / minSpacing < 2) valid.push(i);
    // conv kernel: the first strictly largest group of axes with pairwise spacing ratio < 2
    let axes: number[] = [];
    for (let a = 0; a < dim; a++) {
      const my = currentSpacing[a];
      const partners: number[] = [];
      for (let i = 0; i < dim; i++) if (currentSpacing[i] / my < 2 && my / currentSpacing[i] < 2) partners.push(i);
      if (partners.length > axes.length) axes = partners;
    }
    const convKernel = Array.from({ length: dim }, (_, i) => (axes.includes(i) ? 3 : 1));
    valid = valid.filter((i) => currentSize[i] >= 2 * minFeatureMapSize);
    valid = valid.filter((i) => numPool[i] < maxNumpool);
    if (valid.length === 0) break;
    const poolKernel = new Array<number>(dim).fill(1);
    for (const v of valid) {
      poolKernel[v] = 2;
      numPool[v] += 1;
      currentSpacing[v] *= 2;
      currentSize[v] /= 2;
    }
    pool.push(poolKernel);
    conv.push(convKernel);
  }
  const div = getShapeMustBeDivisibleBy(numPool);
  conv.push(new Array<number>(dim).fill(3));
  return {
    num_pool_per_axis: numPool,
    pool_op_kernel_sizes: pool,
    conv_kernel_sizes: conv,
    patch_size: padShape(patchSize, div),
    shape_must_be_divisible_by: div,
  };
}
