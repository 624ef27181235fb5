/**
 * The theoretical receptive field of nnU-Net v1's Generic U-Net, from a plans configuration's
 * `pool_op_kernel_sizes` and `conv_kernel_sizes` alone (pure; no tensors).
 *
 * The network as nnUNetTrainerV2 builds it (architecture.ts): encoder stage 0 has `convPerStage` convolutions of
 * kernel K[0] at stride 1; stage d = 1..n starts with a convolution of kernel K[d] and stride P[d-1] followed by
 * `convPerStage - 1` more of kernel K[d]; the decoder goes back up through transposed convolutions (kernel = stride
 * = P[d]) each followed by `convPerStage` convolutions of kernel K[d]; the 1x1 segmentation head adds nothing.
 *
 * Computed exactly, per axis: every voxel of a long line carries the interval of input voxels it depends on, layer
 * by layer (a convolution of kernel k joins k neighbouring intervals, a transposed convolution with kernel ==
 * stride p copies each interval to p voxels). Behind upsampling the extent depends on a voxel's position relative
 * to the pooling grid, so the result gives the largest (`size`) and smallest (`minimum`) extent over output voxels
 * away from the border. The textbook recurrence (r += (k - 1) * j, j *= s; j /= p for a transposed convolution)
 * is returned too (`recurrence`): it is exact for up to 2 poolings of 2 with kernels 3 and lies between the two
 * for deeper networks (3 poolings: 71 / 79, recurrence 75; 5 poolings: 287 / 319, recurrence 315). The deepest path, through the bottleneck,
 * is the longest, so it is the network's field.
 */

/** The plans fields the receptive field depends on (a full plans configuration can be passed). */
export interface ReceptiveFieldConfiguration {
  pool_op_kernel_sizes: number[][];
  conv_kernel_sizes: number[][];
  /** v2 plans field; all entries equal (v1 uses 2 everywhere). */
  n_conv_per_stage_encoder?: number[];
}

export interface ReceptiveFieldStage {
  kind: 'encoder' | 'bottleneck' | 'decoder';
  /** encoder/bottleneck: resolution level d (0 = full resolution); decoder: the level it brings the features back to */
  level: number;
  /** receptive field per axis (input voxels): the largest over this stage's feature-map voxels */
  receptiveField: number[];
  /** the smallest over this stage's feature-map voxels (after upsampling it depends on the voxel's position) */
  minimum: number[];
  /** the textbook recurrence r += (k - 1) * j (see the file header) */
  recurrence: number[];
  /** distance per axis, in input voxels, between neighbouring voxels of this stage's feature map */
  jump: number[];
}

export interface ReceptiveField {
  /** receptive field per axis, in input voxels at the configuration's spacing: the largest over the output voxels */
  size: number[];
  /** the smallest over the output voxels (the extent depends on a voxel's position relative to the poolings) */
  minimum: number[];
  /** the textbook recurrence's value (see the file header) */
  recurrence: number[];
  /** every stage, from the input to the output */
  stages: ReceptiveFieldStage[];
}

function check(conf: ReceptiveFieldConfiguration, convPerStage: number): number {
  const P = conf.pool_op_kernel_sizes;
  const K = conf.conv_kernel_sizes;
  if (!Array.isArray(K) || K.length === 0) throw new Error('receptiveField: conv_kernel_sizes is empty');
  if (K.length !== P.length + 1) {
    throw new Error(`receptiveField: ${K.length} conv_kernel_sizes need ${K.length - 1} pool_op_kernel_sizes, got ${P.length}`);
  }
  const dims = K[0].length;
  for (const [name, list] of [['conv_kernel_sizes', K], ['pool_op_kernel_sizes', P]] as const) {
    list.forEach((k, i) => {
      if (k.length !== dims) throw new Error(`receptiveField: ${name}[${i}] has ${k.length} axes, expected ${dims}`);
      if (!k.every((v) => Number.isInteger(v) && v >= 1)) throw new Error(`receptiveField: ${name}[${i}] = [${k}] must be positive integers`);
    });
  }
  if (!(Number.isInteger(convPerStage) && convPerStage >= 1)) throw new Error(`receptiveField: convPerStage must be a positive integer, got ${convPerStage}`);
  return dims;
}

/** The layers along one axis, input to output: a convolution (kernel, stride) or a transposed one (kernel = stride). */
type AxisLayer = { conv: number; stride: number } | { up: number };

function axisLayers(P: number[][], K: number[][], a: number, convPerStage: number): { layers: AxisLayer[]; stageEnds: number[] } {
  const n = P.length;
  const layers: AxisLayer[] = [];
  const stageEnds: number[] = [];
  for (let d = 0; d <= n; d++) {
    for (let c = 0; c < convPerStage; c++) layers.push({ conv: K[d][a], stride: c === 0 && d > 0 ? P[d - 1][a] : 1 });
    stageEnds.push(layers.length);
  }
  for (let d = n - 1; d >= 0; d--) {
    layers.push({ up: P[d][a] });
    for (let c = 0; c < convPerStage; c++) layers.push({ conv: K[d][a], stride: 1 });
    stageEnds.push(layers.length);
  }
  return { layers, stageEnds };
}

/**
 * Exact extent along one axis: every voxel of a long line carries the [lo, hi] interval of input voxels it depends
 * on; returns the smallest and largest width after each stage, over voxels far from the line's ends.
 */
function exactAxis(layers: AxisLayer[], stageEnds: number[]): { min: number; max: number }[] {
  let bound = 1;
  let period = 1;
  let jump = 1;
  for (const l of layers) {
    if ('up' in l) continue;
    jump *= l.stride;
    period = Math.max(period, jump);
    bound += (l.conv - 1) * jump; // each conv adds at most (k - 1) times the coarsest jump it can see
  }
  const length = 4 * bound + 8 * period;
  let lo = Int32Array.from({ length }, (_, i) => i);
  let hi = Int32Array.from(lo);
  const out: { min: number; max: number }[] = [];
  let li = 0;
  for (const end of stageEnds) {
    for (; li < end; li++) {
      const l = layers[li];
      if ('up' in l) {
        const n = lo.length * l.up;
        const nlo = new Int32Array(n);
        const nhi = new Int32Array(n);
        for (let o = 0; o < n; o++) {
          nlo[o] = lo[Math.floor(o / l.up)];
          nhi[o] = hi[Math.floor(o / l.up)];
        }
        [lo, hi] = [nlo, nhi];
      } else {
        const n = Math.floor((lo.length - l.conv) / l.stride) + 1; // 'valid': padding moves intervals, never widens them
        const nlo = new Int32Array(n);
        const nhi = new Int32Array(n);
        for (let o = 0; o < n; o++) {
          nlo[o] = lo[o * l.stride]; // intervals grow monotonically along the line
          nhi[o] = hi[o * l.stride + l.conv - 1];
        }
        [lo, hi] = [nlo, nhi];
      }
    }
    // voxels whose interval lies in the middle half of the input line: no border effect
    let min = Infinity;
    let max = 0;
    for (let o = 0; o < lo.length; o++) {
      if (lo[o] < length / 4 || hi[o] >= (3 * length) / 4) continue;
      const w = hi[o] - lo[o] + 1;
      min = Math.min(min, w);
      max = Math.max(max, w);
    }
    if (max === 0) throw new Error('receptiveField: internal error, no voxel away from the border');
    out.push({ min, max });
  }
  return out;
}

/**
 * Receptive field of the Generic U-Net of a plans configuration, per axis in voxels at the configuration's spacing
 * (same axis order as the kernels: (z, y, x) in 3D, (y, x) in 2D). Multiply by the spacing for millimetres.
 */
export function receptiveField(conf: ReceptiveFieldConfiguration, opts: { convPerStage?: number } = {}): ReceptiveField {
  const perStage = conf.n_conv_per_stage_encoder;
  if (perStage && perStage.some((n) => n !== perStage[0])) {
    throw new Error(`receptiveField: n_conv_per_stage_encoder [${perStage}] varies per stage; only equal counts are supported`);
  }
  const convPerStage = opts.convPerStage ?? perStage?.[0] ?? 2;
  const dims = check(conf, convPerStage);
  const P = conf.pool_op_kernel_sizes;
  const K = conf.conv_kernel_sizes;
  const n = P.length;
  const perAxis = Array.from({ length: dims }, (_, a) => {
    const { layers, stageEnds } = axisLayers(P, K, a, convPerStage);
    return exactAxis(layers, stageEnds);
  });
  // standard recurrence r += (k - 1) * j, j *= s (transposed conv: j /= p)
  const r = new Array<number>(dims).fill(1);
  const j = new Array<number>(dims).fill(1);
  const stages: ReceptiveFieldStage[] = [];
  const conv = (kernel: number[], stride: number[] | null) => {
    for (let a = 0; a < dims; a++) {
      r[a] += (kernel[a] - 1) * j[a];
      if (stride) j[a] *= stride[a];
    }
  };
  const record = (kind: ReceptiveFieldStage['kind'], level: number) => {
    const i = stages.length;
    stages.push({ kind, level, receptiveField: perAxis.map((s) => s[i].max), minimum: perAxis.map((s) => s[i].min), recurrence: [...r], jump: [...j] });
  };
  for (let d = 0; d <= n; d++) {
    for (let c = 0; c < convPerStage; c++) conv(K[d], c === 0 && d > 0 ? P[d - 1] : null);
    record(d === n ? 'bottleneck' : 'encoder', d);
  }
  for (let d = n - 1; d >= 0; d--) {
    for (let a = 0; a < dims; a++) j[a] /= P[d][a];
    for (let c = 0; c < convPerStage; c++) conv(K[d], null);
    record('decoder', d);
  }
  const last = stages[stages.length - 1];
  return { size: last.receptiveField, minimum: last.minimum, recurrence: last.recurrence, stages };
}
