/**
 * scipy.ndimage.gaussian_filter (order 0): separable correlation with a normalised Gaussian of radius
 * int(truncate·σ + 0.5), truncate 4.0, one axis after the other (axis 0 first). One core, two numeric flavours, each
 * kept exactly as its callers have always computed it:
 *
 *  - `gaussianFilter` (augmentation: GaussianBlurTransform with mode 'reflect', elastic deformation with mode
 *    'constant', cval 0): float64 throughout; kernel from Math.exp, normalised by a left-to-right sum; taps accumulated
 *    left to right from 0 (`acc += w[j]·x[i−r+j]`); σ may differ per axis and axes with σ ≈ 0 are skipped.
 *  - `gaussianFilterFloat32` (the synthetic-lung generator, data-scripts/synthetic_lung.ts): bit-exact with scipy 1.10
 *    on x86_64 (the build the official synthetic-lung fixture was made with), mode 'reflect' only, float32 in place.
 *    Why bit-exact: the generator smooths Gaussian noise with it, and the smoothed field decides HU values after
 *    rounding; one ulp off flips a handful of voxels and the published voxel hashes would no longer match. What that
 *    takes (scipy/ndimage/_filters.py, src/ni_filters.c NI_Correlate1D):
 *     - kernel: x = arange(-r, r+1), phi = exp(-0.5 / sigma^2 * x^2), phi /= phi.sum(); numpy's exp (glibc) is
 *       correctly rounded here, V8's Math.exp is not always, so exp is evaluated exactly with BigInt; the sum is
 *       numpy's pairwise sum (8 accumulators).
 *     - every line is widened to double, extended by the boundary mode, correlated with the symmetric path
 *       `acc = x[i]*w[0]; for k = r..1: acc += (x[i-k] + x[i+k]) * w[k]` (no FMA on the x86_64 gcc build) and
 *       stored back as float32, which is the input of the next axis.
 *
 * The two flavours differ in the last bits (kernel exp and sum, tap order, float32 rounding between axes); switching
 * either caller to the other would change its results, so both stay.
 */
import { prod } from './util';

/** Correctly rounded exp(x) for a double x with |x| <= 700, by BigInt fixed point (used for a handful of weights). */
export function expCorrectlyRounded(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) > 700) throw new Error(`expCorrectlyRounded: argument out of range: ${x}`);
  if (x === 0) return 1;
  // x = k*ln2 + t with |t| <= ~0.35 keeps the series short; ln2 is needed to far more bits than a double has,
  // so work on exact rationals: x is a dyadic rational m * 2^e.
  const PREC = 256n; // fixed-point fraction bits
  const ONE = 1n << PREC;
  // exact x in fixed point (x has at most 1074 fraction bits, but |x| >= 2^-60 here matters; smaller x: exp = 1 +- ulp)
  const xf = toFixed(x, PREC);
  // ln2 to PREC bits via atanh series: ln2 = 2 * atanh(1/3)
  const ln2 = ln2Fixed(PREC);
  const k = BigInt(Math.round(x / Math.LN2));
  const t = xf - k * ln2;
  // exp(t) by Taylor series in fixed point
  let term = ONE;
  let sum = ONE;
  for (let n = 1n; n < 400n; n++) {
    term = (term * t) / (ONE * n);
    if (term === 0n) break;
    sum += term;
  }
  // value = sum * 2^k / 2^PREC; round to nearest double (ties to even) from the exact-enough integer
  return fixedToDouble(sum, Number(k) - Number(PREC));
}

let ln2Cache: { prec: bigint; value: bigint } | null = null;
function ln2Fixed(prec: bigint): bigint {
  if (ln2Cache && ln2Cache.prec === prec) return ln2Cache.value;
  const one = 1n << (prec + 16n);
  // atanh(1/3) = sum 1 / ((2n+1) 3^(2n+1))
  let sum = 0n;
  let pow3 = 3n;
  for (let n = 0n; ; n++) {
    const term = one / ((2n * n + 1n) * pow3);
    if (term === 0n) break;
    sum += term;
    pow3 *= 9n;
  }
  const value = (2n * sum) >> 16n;
  ln2Cache = { prec, value };
  return value;
}

function toFixed(x: number, prec: bigint): bigint {
  // exact decomposition of a double into mantissa * 2^exp
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const sign = hi >>> 31 ? -1n : 1n;
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (bexp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = bexp - 1075;
  }
  const shift = BigInt(e) + prec;
  const v = shift >= 0n ? mant << shift : mant >> -shift; // truncation below 2^-PREC is far below a double's ulp here
  return sign * v;
}

/** Round v * 2^e (v > 0 BigInt) to the nearest double, ties to even. */
function fixedToDouble(v: bigint, e: number): number {
  if (v <= 0n) throw new Error('fixedToDouble: non-positive');
  const bits = v.toString(2).length;
  let shift = bits - 53;
  let mant: bigint;
  if (shift > 0) {
    const rem = v & ((1n << BigInt(shift)) - 1n);
    const half = 1n << BigInt(shift - 1);
    mant = v >> BigInt(shift);
    if (rem > half || (rem === half && (mant & 1n) === 1n)) mant += 1n;
  } else {
    mant = v << BigInt(-shift);
  }
  if (mant === 1n << 53n) {
    mant >>= 1n;
    shift += 1;
  }
  // mant has 53 bits; the double is mant * 2^(e + shift) (normal range only: fine for exp of |x| <= 700)
  return Number(mant) * 2 ** (e + shift);
}

/** numpy's pairwise summation of a float64 array (numpy/core/src/umath/loops_utils.h.src, PW_BLOCKSIZE 128). */
export function numpyPairwiseSum(a: Float64Array, start = 0, n = a.length): number {
  if (n < 8) {
    let res = -0.0; // numpy starts from -0.0 so that sum([-0.0]) is -0.0
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    const r = new Float64Array(8);
    for (let j = 0; j < 8; j++) r[j] = a[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpyPairwiseSum(a, start, n2) + numpyPairwiseSum(a, start + n2, n - n2);
}

/** scipy's _gaussian_kernel1d(sigma, 0, radius), bit-exact: normalized, symmetric, length 2r+1. */
export function gaussianKernel1dExact(sigma: number, radius: number): Float64Array {
  const c = -0.5 / (sigma * sigma);
  const phi = new Float64Array(2 * radius + 1);
  for (let i = -radius; i <= radius; i++) phi[i + radius] = expCorrectlyRounded(c * (i * i));
  const s = numpyPairwiseSum(phi);
  for (let i = 0; i < phi.length; i++) phi[i] /= s;
  return phi;
}

/** The augmentation kernel: Math.exp, normalised by a left-to-right sum, radius int(truncate·σ + 0.5). */
export function gaussianKernel1d(sigma: number, truncate = 4.0): Float64Array {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const w = new Float64Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 * i * i) / (sigma * sigma));
    w[i + radius] = v;
    s += v;
  }
  for (let i = 0; i < w.length; i++) w[i] /= s;
  return w;
}

/** Index into [0, n) of position i under scipy's 'reflect' extension (period 2n, half-sample symmetric). */
function reflectIndex(i: number, n: number): number {
  const p = 2 * n;
  let m = i % p;
  if (m < 0) m += p;
  return m < n ? m : p - 1 - m;
}

export type GaussianMode = 'reflect' | 'constant';

/**
 * Correlates every line along `axis` of the C-order array `data` (of `shape`) with the odd-length kernel `w`, in
 * place: each line is copied into a float64 buffer extended by r = (w.length − 1) / 2 samples per side ('reflect':
 * d c b a | a b c d | d c b a; 'constant': 0), so the stores never feed later reads. `symmetric` selects scipy's tap
 * order (centre tap first, then mirrored pairs from the outside in); otherwise taps are summed left to right from 0.
 */
function correlateAxis(
  data: Float32Array | Float64Array,
  shape: readonly number[],
  axis: number,
  w: Float64Array,
  mode: GaussianMode,
  symmetric: boolean,
): void {
  const r = (w.length - 1) / 2;
  const len = shape[axis];
  let stride = 1;
  for (let d = axis + 1; d < shape.length; d++) stride *= shape[d];
  const outer = data.length / (len * stride);
  const line = new Float64Array(len + 2 * r);
  const wc = w[r];
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < stride; s++) {
      const base = o * len * stride + s;
      for (let i = -r; i < len + r; i++) {
        const inside = i >= 0 && i < len;
        line[i + r] = inside ? data[base + i * stride] : mode === 'constant' ? 0 : data[base + reflectIndex(i, len) * stride];
      }
      if (symmetric) {
        for (let i = 0; i < len; i++) {
          const c = i + r;
          let acc = line[c] * wc;
          for (let k = r; k >= 1; k--) acc += (line[c - k] + line[c + k]) * w[r - k];
          data[base + i * stride] = acc; // into a Float32Array: rounds to nearest even, as the C cast does
        }
      } else {
        for (let i = 0; i < len; i++) {
          let acc = 0;
          for (let j = 0; j <= 2 * r; j++) acc += w[j] * line[i + j];
          data[base + i * stride] = acc;
        }
      }
    }
  }
}

/**
 * gaussian_filter(input, sigma, mode, truncate) as the augmentation transforms compute it (float64, see the file
 * comment); σ per axis or one for all, axes with σ <= 1e-15 are left as they are (scipy skips them). Returns a new
 * Float64Array; the input is not modified.
 */
export function gaussianFilter(
  input: ArrayLike<number>,
  shape: readonly number[],
  sigma: number | readonly number[],
  mode: GaussianMode = 'reflect',
  truncate = 4.0,
): Float64Array {
  const total = prod(shape);
  if (input.length !== total) throw new Error(`gaussianFilter: input has ${input.length} values, shape ${shape.join('x')} needs ${total}`);
  const cur = Float64Array.from(input);
  for (let ax = 0; ax < shape.length; ax++) {
    const sg = typeof sigma === 'number' ? sigma : sigma[ax];
    if (!(sg > 1e-15)) continue; // scipy skips axes with sigma ~ 0
    correlateAxis(cur, shape, ax, gaussianKernel1d(sg, truncate), mode, false);
  }
  return cur;
}

/**
 * In-place scipy.ndimage.gaussian_filter(data, sigma, mode='reflect', truncate) of a float32 array of the given shape,
 * bit-exact with scipy (see the file comment); all axes filtered, axis 0 first.
 */
export function gaussianFilterFloat32(data: Float32Array, shape: readonly number[], sigma: number, truncate = 4.0): Float32Array {
  const n = prod(shape);
  if (data.length !== n) throw new Error(`gaussianFilterFloat32: data has ${data.length} values, shape ${shape.join('x')} needs ${n}`);
  if (!(sigma > 0)) throw new Error(`gaussianFilterFloat32: sigma must be > 0, got ${sigma}`);
  const radius = Math.trunc(truncate * sigma + 0.5);
  const w = gaussianKernel1dExact(sigma, radius); // symmetric: w[radius + k] === w[radius - k]
  for (let axis = 0; axis < shape.length; axis++) correlateAxis(data, shape, axis, w, 'reflect', true);
  return data;
}
