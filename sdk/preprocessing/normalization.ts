/**
 * Intensity normalization of nnU-Net v1 `GenericPreprocessor.resample_and_normalize` (S1 preprocessing.py), applied
 * per channel after resampling. The official arrays are float32 and numpy computes in float32 (a float32 array
 * combined with a Python-float scalar stays float32), so we emulate that arithmetic with Math.fround, including
 * numpy's pairwise float32 summation for the per-image mean and std. Result: bit-identical to numpy on the fixture
 * cases rather than "close".
 *
 * Schemes (v1 names; v2 names accepted): 'CT' (CTNormalization), 'CT2', 'nonCT' (ZScoreNormalization),
 * 'noNorm' (NoNormalization).
 */
import type { NormalizationScheme } from '../planning/plans_types';

export type V1NormalizationScheme = 'CT' | 'CT2' | 'nonCT' | 'noNorm';

/** CT statistics of one channel (v1 dataset_properties intensityproperties / v2 fingerprint). */
export interface CTIntensityStats {
  mean: number;
  /** v1 'sd' (population std of the foreground samples); v2 calls it 'std' */
  sd: number;
  percentile_00_5: number;
  percentile_99_5: number;
}

/** Map a v2 class name (as stored in our plans) or a v1 name to the v1 scheme. */
export function toV1Scheme(s: NormalizationScheme | V1NormalizationScheme | string): V1NormalizationScheme {
  switch (s) {
    case 'CT':
    case 'CTNormalization':
      return 'CT';
    case 'CT2':
      return 'CT2';
    case 'nonCT':
    case 'ZScoreNormalization':
      return 'nonCT';
    case 'noNorm':
    case 'NoNormalization':
      return 'noNorm';
    default:
      throw new Error(`normalization: unsupported scheme '${s}' (expected CT, CT2, nonCT, noNorm or the v2 class names)`);
  }
}

const f32 = Math.fround;

/** numpy FLOAT_pairwise_sum (float32 accumulators, 8-way unrolled blocks of <= 128, recursive halves). */
export function pairwiseSumF32(a: Float32Array, off = 0, n = a.length - off): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = f32(res + a[off + i]);
    return res;
  }
  if (n <= 128) {
    let r0 = a[off], r1 = a[off + 1], r2 = a[off + 2], r3 = a[off + 3];
    let r4 = a[off + 4], r5 = a[off + 5], r6 = a[off + 6], r7 = a[off + 7];
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      const p = off + i;
      r0 = f32(r0 + a[p]);
      r1 = f32(r1 + a[p + 1]);
      r2 = f32(r2 + a[p + 2]);
      r3 = f32(r3 + a[p + 3]);
      r4 = f32(r4 + a[p + 4]);
      r5 = f32(r5 + a[p + 5]);
      r6 = f32(r6 + a[p + 6]);
      r7 = f32(r7 + a[p + 7]);
    }
    let res = f32(f32(f32(r0 + r1) + f32(r2 + r3)) + f32(f32(r4 + r5) + f32(r6 + r7)));
    for (; i < n; i++) res = f32(res + a[off + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return f32(pairwiseSumF32(a, off, n2) + pairwiseSumF32(a, off + n2, n - n2));
}

/**
 * numpy's float32 add.reduce of a contiguous vector: the buffered reduction iterator hands the loop blocks of at most
 * 8192 elements (NPY_BUFSIZE); each block is summed pairwise and added to the running float32 total.
 */
export function reduceSumF32(a: Float32Array): number {
  const BUF = 8192;
  let res = 0;
  for (let off = 0; off < a.length; off += BUF) res = f32(res + pairwiseSumF32(a, off, Math.min(BUF, a.length - off)));
  return res;
}

/** numpy float32 `x.mean()` and `x.std()` (ddof 0) of a contiguous float32 vector. */
export function meanStdF32(x: Float32Array): { mean: number; std: number } {
  const n = x.length;
  if (n === 0) return { mean: NaN, std: NaN };
  // np.mean: float32 sum, then ret.dtype.type(ret / n)
  const mean = f32(reduceSumF32(x) / n);
  // np._var: arrmean = sum / n (float32), x = (arr - arrmean) ** 2 in float32, sum, / n, sqrt
  const sq = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const d = f32(x[i] - mean);
    sq[i] = d * d;
  }
  const v = f32(reduceSumF32(sq) / n);
  return { mean, std: f32(Math.sqrt(v)) };
}

export interface NormalizeOptions {
  /** required for CT / CT2 */
  intensity?: CTIntensityStats;
  /** v1 use_nonzero_mask / plans use_mask_for_norm for this channel */
  useMaskForNorm: boolean;
  /** the resampled segmentation (with -1 outside the nonzero mask), needed when useMaskForNorm */
  seg?: ArrayLike<number> | null;
}

/** Normalize one channel in place (float32), exactly as GenericPreprocessor.resample_and_normalize. */
export function normalizeChannel(data: Float32Array, scheme: V1NormalizationScheme | NormalizationScheme, o: NormalizeOptions): Float32Array {
  const s = toV1Scheme(scheme);
  const n = data.length;
  if (o.useMaskForNorm && (!o.seg || o.seg.length !== n)) {
    throw new Error(`normalizeChannel: use_mask_for_norm needs the segmentation (${o.seg ? o.seg.length : 'none'} vs ${n} voxels)`);
  }
  if (s === 'CT' || s === 'CT2') {
    if (!o.intensity) throw new Error(`normalizeChannel: scheme ${s} needs the dataset's CT intensity properties`);
    const lb = f32(o.intensity.percentile_00_5);
    const ub = f32(o.intensity.percentile_99_5);
    let mean: number;
    let sd: number;
    if (s === 'CT') {
      mean = f32(o.intensity.mean);
      sd = f32(o.intensity.sd);
    } else {
      // CT2: mean/std of this image inside (lb, ub) exclusive, after clipping
      let cnt = 0;
      for (let i = 0; i < n; i++) if (data[i] > lb && data[i] < ub) cnt++;
      const sel = new Float32Array(cnt);
      for (let i = 0, q = 0; i < n; i++) if (data[i] > lb && data[i] < ub) sel[q++] = data[i];
      const ms = meanStdF32(sel);
      mean = ms.mean;
      sd = ms.std;
    }
    for (let i = 0; i < n; i++) {
      let v = data[i];
      // np.clip propagates NaN (NaNs were replaced by 0 before resampling anyway)
      if (v < lb) v = lb;
      else if (v > ub) v = ub;
      data[i] = f32(v - mean) / sd;
    }
    if (o.useMaskForNorm) {
      const seg = o.seg as ArrayLike<number>;
      for (let i = 0; i < n; i++) if (seg[i] < 0) data[i] = 0;
    }
    return data;
  }
  if (s === 'noNorm') return data;
  // nonCT: z-score inside the mask (all voxels unless use_mask_for_norm, then seg >= 0), zero outside
  const seg = o.seg;
  let sel: Float32Array;
  if (o.useMaskForNorm) {
    const sg = seg as ArrayLike<number>;
    let cnt = 0;
    for (let i = 0; i < n; i++) if (sg[i] >= 0) cnt++;
    sel = new Float32Array(cnt);
    for (let i = 0, q = 0; i < n; i++) if (sg[i] >= 0) sel[q++] = data[i];
  } else {
    sel = data;
  }
  const { mean, std } = meanStdF32(sel);
  // (std + 1e-8) is a float64 scalar; dividing a float32 array by it casts it to float32 (numpy 1.x value casting)
  const div = f32(std + 1e-8);
  if (o.useMaskForNorm) {
    const sg = seg as ArrayLike<number>;
    for (let i = 0; i < n; i++) data[i] = sg[i] >= 0 ? f32(data[i] - mean) / div : 0;
  } else {
    for (let i = 0; i < n; i++) data[i] = f32(data[i] - mean) / div;
  }
  return data;
}
