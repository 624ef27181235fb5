/**
 * scipy.ndimage.gaussian_filter (order 0, mode 'reflect', truncate 4.0) on a float32 (z, y, x) volume, bit-exact with
 * scipy 1.10 on x86_64 (the build the official synthetic-lung fixture was made with).
 *
 * Why bit-exact: the synthetic-lung generator smooths Gaussian noise with it, and the smoothed field decides HU values
 * after rounding; one ulp off flips a handful of voxels and the published voxel hashes would no longer match.
 * What that takes (scipy/ndimage/_filters.py, src/ni_filters.c NI_Correlate1D):
 *  - kernel: x = arange(-r, r+1), phi = exp(-0.5 / sigma^2 * x^2), phi /= phi.sum()  (r = int(truncate*sigma + 0.5));
 *    numpy's exp (glibc) is correctly rounded here, V8's Math.exp is not always, so exp is evaluated exactly with BigInt;
 *    the sum is numpy's pairwise sum (8 accumulators).
 *  - per axis 0, 1, 2: every line is widened to double, extended by reflection ('d c b a | a b c d | d c b a'),
 *    correlated with the symmetric path `acc = x[i]*w[0]; for k = r..1: acc += (x[i-k] + x[i+k]) * w[k]` (no FMA on
 *    the x86_64 gcc build) and stored back as float32, which is the input of the next axis.
 */

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

/** scipy's _gaussian_kernel1d(sigma, 0, radius): normalized, symmetric, length 2r+1. */
export function gaussianKernel1d(sigma: number, radius: number): Float64Array {
  const c = -0.5 / (sigma * sigma);
  const phi = new Float64Array(2 * radius + 1);
  for (let i = -radius; i <= radius; i++) phi[i + radius] = expCorrectlyRounded(c * (i * i));
  const s = numpyPairwiseSum(phi);
  for (let i = 0; i < phi.length; i++) phi[i] /= s;
  return phi;
}

/** Index into [0, n) of position i under scipy's 'reflect' extension (period 2n, half-sample symmetric). */
function reflectIndex(i: number, n: number): number {
  const p = 2 * n;
  let m = i % p;
  if (m < 0) m += p;
  return m < n ? m : p - 1 - m;
}

/**
 * In-place scipy.ndimage.gaussian_filter(data, sigma, mode='reflect', truncate=4.0) of a float32 volume of the given
 * (z, y, x) shape; all axes filtered, axis 0 first.
 */
export function gaussianFilterFloat32(data: Float32Array, shape: readonly number[], sigma: number, truncate = 4.0): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`gaussianFilterFloat32: data has ${data.length} values, shape ${shape.join('x')} needs ${n}`);
  if (!(sigma > 0)) throw new Error(`gaussianFilterFloat32: sigma must be > 0, got ${sigma}`);
  const radius = Math.trunc(truncate * sigma + 0.5);
  const w = gaussianKernel1d(sigma, radius); // symmetric: w[radius + k] === w[radius - k]
  const wc = w[radius];
  const ndim = shape.length;
  for (let axis = 0; axis < ndim; axis++) {
    const len = shape[axis];
    let stride = 1;
    for (let d = axis + 1; d < ndim; d++) stride *= shape[d];
    const outer = n / (len * stride);
    const line = new Float64Array(len + 2 * radius);
    for (let o = 0; o < outer; o++) {
      for (let s = 0; s < stride; s++) {
        const base = o * len * stride + s;
        for (let i = -radius; i < len + radius; i++) line[i + radius] = data[base + reflectIndex(i, len) * stride];
        for (let i = 0; i < len; i++) {
          const c = i + radius;
          let acc = line[c] * wc;
          for (let k = radius; k >= 1; k--) acc += (line[c - k] + line[c + k]) * w[radius - k];
          data[base + i * stride] = acc; // Float32Array store rounds to nearest even, as the C cast does
        }
      }
    }
  }
  return data;
}
