/**
 * scipy.ndimage.gaussian_filter (order 0): separable correlation with a normalised Gaussian of radius
 * int(truncate·σ + 0.5), truncate 4.0; mode 'reflect' (d c b a | a b c d, used by GaussianBlurTransform) or
 * 'constant' with cval 0 (used by elastic deformation). Each axis pass is computed in float64.
 */
import { prod, stridesOf, toFloat64 } from './util';

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

function reflectIndex(i: number, n: number): number {
  const p = 2 * n;
  i = ((i % p) + p) % p;
  return i >= n ? p - 1 - i : i;
}

export function gaussianFilter(
  input: ArrayLike<number>,
  shape: readonly number[],
  sigma: number | readonly number[],
  mode: 'reflect' | 'constant' = 'reflect',
  truncate = 4.0,
): Float64Array {
  let cur = toFloat64(input);
  const st = stridesOf(shape);
  const total = prod(shape);
  for (let ax = 0; ax < shape.length; ax++) {
    const sg = typeof sigma === 'number' ? sigma : sigma[ax];
    if (!(sg > 1e-15)) continue; // scipy skips axes with sigma ~ 0
    const w = gaussianKernel1d(sg, truncate);
    const r = (w.length - 1) / 2;
    const n = shape[ax];
    const s = st[ax];
    const out = new Float64Array(total);
    const line = new Float64Array(n);
    const lines = total / n;
    for (let l = 0; l < lines; l++) {
      const base = Math.floor(l / s) * s * n + (l % s);
      for (let i = 0; i < n; i++) line[i] = cur[base + i * s];
      for (let i = 0; i < n; i++) {
        let acc = 0;
        for (let k = -r; k <= r; k++) {
          const j = i + k;
          let v: number;
          if (j >= 0 && j < n) v = line[j];
          else if (mode === 'constant') v = 0;
          else v = line[reflectIndex(j, n)];
          acc += w[k + r] * v;
        }
        out[base + i * s] = acc;
      }
    }
    cur = out;
  }
  return cur;
}
