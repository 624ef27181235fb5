/**
 * scipy.ndimage.map_coordinates (orders 0, 1, 3; scipy >= 1.6 semantics) and skimage.transform.resize (edge mode,
 * no anti-aliasing, clip) on C-order typed arrays — what batchgenerators' SpatialTransform, SimulateLowResolution and
 * nnU-Net's resize_segmentation call (reference Appendix C.1, C.2).
 *
 * mode 'constant': spline coefficients are computed on the unpadded input with the whole-sample-symmetric ("mirror")
 * boundary; a point whose coordinate lies outside [0, n−1] on any axis returns cval; taps that fall outside the array
 * fold back by mirror symmetry. mode 'nearest' (used by resize): the input is padded with 12 edge samples, the spline
 * uses the half-sample-symmetric ("reflect") boundary, coordinates are clamped into range.
 */
import { prod, stridesOf, toFloat64 } from './util';

const POLE3 = Math.sqrt(3) - 2; // cubic B-spline pole

export type BoundaryMode = 'mirror' | 'reflect';

/** In-place cubic B-spline prefilter of one strided line (scipy ni_splines.c, one pole). */
function filterLine(c: Float64Array, n: number, mode: BoundaryMode): void {
  if (n === 1) return;
  const z = POLE3;
  const gain = (1 - z) * (1 - 1 / z);
  for (let i = 0; i < n; i++) c[i] *= gain;
  // causal init
  if (mode === 'mirror') {
    let zi = z;
    const zn1 = Math.pow(z, n - 1);
    let c0 = c[0] + zn1 * c[n - 1];
    for (let i = 1; i < n - 1; i++) {
      c0 += zi * (c[i] + zn1 * c[n - 1 - i]);
      zi *= z;
    }
    c[0] = c0 / (1 - zn1 * zn1);
  } else {
    const first = c[0];
    const zn = Math.pow(z, n);
    let zi = z;
    let c0 = c[0] + zn * c[n - 1];
    for (let i = 1; i < n; i++) {
      c0 += zi * (c[i] + zn * c[n - 1 - i]);
      zi *= z;
    }
    c[0] = c0 * (z / (1 - zn * zn)) + first;
  }
  for (let i = 1; i < n; i++) c[i] += z * c[i - 1];
  // anti-causal init
  if (mode === 'mirror') c[n - 1] = ((z * c[n - 2] + c[n - 1]) * z) / (z * z - 1);
  else c[n - 1] *= z / (z - 1);
  for (let i = n - 2; i >= 0; i--) c[i] = z * (c[i + 1] - c[i]);
}

/** Cubic B-spline coefficients of an nd array (scipy spline_filter, order 3), returned as float64. */
export function splineFilter3(input: ArrayLike<number>, shape: readonly number[], mode: BoundaryMode): Float64Array {
  const out = toFloat64(input);
  const st = stridesOf(shape);
  const total = prod(shape);
  for (let ax = 0; ax < shape.length; ax++) {
    const n = shape[ax];
    if (n <= 1) continue;
    const line = new Float64Array(n);
    const s = st[ax];
    const lines = total / n;
    for (let l = 0; l < lines; l++) {
      // base offset of line l: index over all axes except ax
      const outer = Math.floor(l / s);
      const inner = l % s;
      const base = outer * s * n + inner;
      for (let i = 0; i < n; i++) line[i] = out[base + i * s];
      filterLine(line, n, mode);
      for (let i = 0; i < n; i++) out[base + i * s] = line[i];
    }
  }
  return out;
}

function mirrorIndex(i: number, n: number): number {
  if (i >= 0 && i < n) return i;
  if (n === 1) return 0;
  const p = 2 * (n - 1);
  i = ((i % p) + p) % p;
  return i >= n ? p - i : i;
}

function cubicWeights(t: number, w: Float64Array): void {
  // B-spline weights for taps at floor(x)-1 .. floor(x)+2, t = x - floor(x)
  const t2 = t * t;
  const t3 = t2 * t;
  const u = 1 - t;
  w[0] = (u * u * u) / 6;
  w[1] = (3 * t3 - 6 * t2 + 4) / 6;
  w[2] = (-3 * t3 + 3 * t2 + 3 * t + 1) / 6;
  w[3] = t3 / 6;
}

/**
 * Locates output point k for orders 1 and 3: false when its coordinate lies outside [0, n−1] on some axis (the point
 * gets cval); otherwise lo[d] = floor(x_d) and fr[d] = x_d − floor(x_d) for every axis.
 */
export function locatePoint(coords: readonly ArrayLike<number>[], shape: readonly number[], k: number, lo: Int32Array, fr: Float64Array): boolean {
  for (let d = 0; d < shape.length; d++) {
    const x = coords[d][k];
    if (!(x >= 0 && x <= shape[d] - 1)) return false;
    const f = Math.floor(x);
    lo[d] = f;
    fr[d] = x - f;
  }
  return true;
}

/**
 * Order-1 corners of a located point: for corner c (bit nd−1−d of c set: upper neighbour on axis d) the weight
 * ∏ (fr or 1 − fr) in axis order and the flat offset (strides st); the upper neighbour of the last sample only occurs
 * with weight 0 and is mirrored back into range, as scipy does.
 */
export function linearCorners(lo: Int32Array, fr: Float64Array, shape: readonly number[], st: readonly number[], weight: Float64Array, offset: Int32Array): void {
  const nd = shape.length;
  const corners = 1 << nd;
  for (let c = 0; c < corners; c++) {
    let w = 1;
    let off = 0;
    for (let d = 0; d < nd; d++) {
      const bit = (c >> (nd - 1 - d)) & 1;
      w *= bit ? fr[d] : 1 - fr[d];
      off += mirrorIndex(lo[d] + bit, shape[d]) * st[d];
    }
    weight[c] = w;
    offset[c] = off;
  }
}

export interface MapCoordinatesOptions {
  order: 0 | 1 | 3;
  /** Only 'constant' (SpatialTransform) here; see resizeEdge for the edge-mode resize. */
  mode?: 'constant';
  cval?: number;
  /** For order 3: coefficients already computed with splineFilter3(..., 'mirror'). */
  prefiltered?: Float64Array;
}

/**
 * map_coordinates(input, coords, order, mode='constant', cval): `coords[d][k]` is the input coordinate along axis d of
 * output point k. Writes into `out` (length = number of points) and returns it.
 */
export function mapCoordinates(
  input: ArrayLike<number>,
  shape: readonly number[],
  coords: readonly ArrayLike<number>[],
  opts: MapCoordinatesOptions,
  out?: Float32Array,
): Float32Array {
  const nd = shape.length;
  if (coords.length !== nd) throw new Error(`mapCoordinates: ${coords.length} coordinate arrays for a ${nd}-d input`);
  const m = coords[0].length;
  const res = out ?? new Float32Array(m);
  const cval = opts.cval ?? 0;
  const st = stridesOf(shape);
  const order = opts.order;
  if (order === 0) {
    for (let k = 0; k < m; k++) {
      let off = 0;
      let inside = true;
      for (let d = 0; d < nd; d++) {
        const x = coords[d][k];
        if (!(x >= 0 && x <= shape[d] - 1)) {
          inside = false;
          break;
        }
        off += Math.floor(x + 0.5) * st[d];
      }
      res[k] = inside ? input[off] : cval;
    }
    return res;
  }
  const lo = new Int32Array(nd);
  const fr = new Float64Array(nd);
  if (order === 1) {
    const corners = 1 << nd;
    const cw = new Float64Array(corners);
    const co = new Int32Array(corners);
    for (let k = 0; k < m; k++) {
      if (!locatePoint(coords, shape, k, lo, fr)) {
        res[k] = cval;
        continue;
      }
      linearCorners(lo, fr, shape, st, cw, co);
      let acc = 0;
      for (let c = 0; c < corners; c++) if (cw[c] !== 0) acc += cw[c] * input[co[c]];
      res[k] = acc;
    }
    return res;
  }
  if (order !== 3) throw new Error(`mapCoordinates: order ${order} not supported (0, 1, 3)`);
  const coef = opts.prefiltered ?? splineFilter3(input, shape, 'mirror');
  if (nd === 3) {
    mapCoordinates3dCubic(coef, shape, coords as readonly ArrayLike<number>[], cval, res);
    return res;
  }
  const W = Array.from({ length: nd }, () => new Float64Array(4));
  const I = Array.from({ length: nd }, () => new Int32Array(4));
  for (let k = 0; k < m; k++) {
    if (!locatePoint(coords, shape, k, lo, fr)) {
      res[k] = cval;
      continue;
    }
    for (let d = 0; d < nd; d++) {
      cubicWeights(fr[d], W[d]);
      for (let t = 0; t < 4; t++) I[d][t] = mirrorIndex(lo[d] - 1 + t, shape[d]) * st[d];
    }
    res[k] = evalSpline(coef, nd, W, I);
  }
  return res;
}

/** Order-3 evaluation specialised for 3D (the SpatialTransform hot loop); same arithmetic as the generic path. */
function mapCoordinates3dCubic(coef: Float64Array, shape: readonly number[], coords: readonly ArrayLike<number>[], cval: number, res: Float32Array): void {
  const [n0, n1, n2] = shape;
  const s0 = n1 * n2;
  const s1 = n2;
  const c0 = coords[0], c1 = coords[1], c2 = coords[2];
  const w0 = new Float64Array(4), w1 = new Float64Array(4), w2 = new Float64Array(4);
  const i0 = new Int32Array(4), i1 = new Int32Array(4), i2 = new Int32Array(4);
  const m = c0.length;
  for (let k = 0; k < m; k++) {
    const x0 = c0[k], x1 = c1[k], x2 = c2[k];
    if (!(x0 >= 0 && x0 <= n0 - 1 && x1 >= 0 && x1 <= n1 - 1 && x2 >= 0 && x2 <= n2 - 1)) {
      res[k] = cval;
      continue;
    }
    const f0 = Math.floor(x0), f1 = Math.floor(x1), f2 = Math.floor(x2);
    cubicWeights(x0 - f0, w0);
    cubicWeights(x1 - f1, w1);
    cubicWeights(x2 - f2, w2);
    for (let t = 0; t < 4; t++) {
      i0[t] = mirrorIndex(f0 - 1 + t, n0) * s0;
      i1[t] = mirrorIndex(f1 - 1 + t, n1) * s1;
      i2[t] = mirrorIndex(f2 - 1 + t, n2);
    }
    const j0 = i2[0], j1 = i2[1], j2 = i2[2], j3 = i2[3];
    const v0 = w2[0], v1 = w2[1], v2 = w2[2], v3 = w2[3];
    let acc = 0;
    for (let a = 0; a < 4; a++) {
      const oa = i0[a];
      let accB = 0;
      for (let b = 0; b < 4; b++) {
        const o = oa + i1[b];
        accB += w1[b] * (v0 * coef[o + j0] + v1 * coef[o + j1] + v2 * coef[o + j2] + v3 * coef[o + j3]);
      }
      acc += w0[a] * accB;
    }
    res[k] = acc;
  }
}

function evalSpline(coef: Float64Array, nd: number, W: Float64Array[], I: Int32Array[]): number {
  if (nd === 3) {
    let acc = 0;
    for (let a = 0; a < 4; a++) {
      const oa = I[0][a];
      const wa = W[0][a];
      let accB = 0;
      for (let b = 0; b < 4; b++) {
        const ob = oa + I[1][b];
        const ix = I[2];
        const wx = W[2];
        accB += W[1][b] * (wx[0] * coef[ob + ix[0]] + wx[1] * coef[ob + ix[1]] + wx[2] * coef[ob + ix[2]] + wx[3] * coef[ob + ix[3]]);
      }
      acc += wa * accB;
    }
    return acc;
  }
  if (nd === 2) {
    let acc = 0;
    for (let a = 0; a < 4; a++) {
      const oa = I[0][a];
      const ix = I[1];
      const wx = W[1];
      acc += W[0][a] * (wx[0] * coef[oa + ix[0]] + wx[1] * coef[oa + ix[1]] + wx[2] * coef[oa + ix[2]] + wx[3] * coef[oa + ix[3]]);
    }
    return acc;
  }
  if (nd === 1) {
    let acc = 0;
    for (let a = 0; a < 4; a++) acc += W[0][a] * coef[I[0][a]];
    return acc;
  }
  // generic
  let acc = 0;
  const taps = Math.pow(4, nd);
  for (let t = 0; t < taps; t++) {
    let w = 1;
    let off = 0;
    let r = t;
    for (let d = nd - 1; d >= 0; d--) {
      const j = r % 4;
      r = Math.floor(r / 4);
      w *= W[d][j];
      off += I[d][j];
    }
    acc += w * coef[off];
  }
  return acc;
}

/**
 * skimage.transform.resize(x, newShape, order, mode='edge', anti_aliasing=False, clip=True) for orders 0, 1, 3
 * (reference C.1): pixel-centre mapping x_in = (x_out + 0.5)·n_in/n_out − 0.5, edge replication, order 0 rounds half
 * up, order 3 is an interpolating cubic spline on the input padded by 12 edge samples, result clipped to the input
 * range. Separable evaluation (exact for tensor-product splines).
 */
export function resizeEdge(
  input: ArrayLike<number>,
  shape: readonly number[],
  newShape: readonly number[],
  order: 0 | 1 | 3,
): Float32Array {
  const nd = shape.length;
  if (newShape.length !== nd) throw new Error(`resizeEdge: shape [${shape}] vs new shape [${newShape}]`);
  let mn = Infinity;
  let mx = -Infinity;
  const n0 = prod(shape);
  for (let i = 0; i < n0; i++) {
    const v = input[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  let cur: Float64Array;
  let curShape = shape.slice();
  if (order === 3) {
    // pad 12 edge-replicated samples on every side, then spline coefficients with the reflect boundary
    const pad = 12;
    const pShape = shape.map((s) => s + 2 * pad);
    const padded = new Float64Array(prod(pShape));
    const pst = stridesOf(pShape);
    const sst = stridesOf(shape);
    const idx = new Array(nd).fill(0);
    for (let i = 0; i < padded.length; i++) {
      let r = i;
      let so = 0;
      for (let d = nd - 1; d >= 0; d--) {
        idx[d] = r % pShape[d];
        r = Math.floor(r / pShape[d]);
      }
      for (let d = 0; d < nd; d++) so += Math.min(shape[d] - 1, Math.max(0, idx[d] - pad)) * sst[d];
      padded[i] = input[so];
      void pst;
    }
    cur = splineFilter3(padded, pShape, 'reflect');
    curShape = pShape;
    // evaluate separably axis by axis on the coefficient array: interpolating along one axis of a tensor-product
    // spline with B-spline weights over coefficients gives coefficients of the remaining axes.
    for (let ax = 0; ax < nd; ax++) {
      const nIn = shape[ax];
      const nOut = newShape[ax];
      const outShape = curShape.slice();
      outShape[ax] = nOut;
      const res = new Float64Array(prod(outShape));
      const inSt = stridesOf(curShape);
      const outSt = stridesOf(outShape);
      const outer = prod(curShape.slice(0, ax));
      const inner = prod(curShape.slice(ax + 1));
      const w = new Float64Array(4);
      const lenP = curShape[ax];
      for (let o = 0; o < nOut; o++) {
        let x = ((o + 0.5) * nIn) / nOut - 0.5;
        x += pad; // evaluated on the edge-padded spline (no clamp: matters for upsampling near the border)
        const f = Math.floor(x);
        cubicWeights(x - f, w);
        const taps = [0, 1, 2, 3].map((t) => Math.min(lenP - 1, Math.max(0, f - 1 + t)));
        for (let a = 0; a < outer; a++) {
          const ib = a * inSt[ax] * lenP;
          const ob = a * outSt[ax] * nOut + o * outSt[ax];
          for (let b = 0; b < inner; b++) {
            let acc = 0;
            for (let t = 0; t < 4; t++) acc += w[t] * cur[ib + taps[t] * inSt[ax] + b];
            res[ob + b] = acc;
          }
        }
      }
      cur = res;
      curShape = outShape;
    }
    // strip the padding of the axes (all axes were resampled, so none is left padded)
  } else {
    cur = toFloat64(input);
    for (let ax = 0; ax < nd; ax++) {
      const nIn = shape[ax];
      const nOut = newShape[ax];
      const outShape = curShape.slice();
      outShape[ax] = nOut;
      const res = new Float64Array(prod(outShape));
      const outer = prod(curShape.slice(0, ax));
      const inner = prod(curShape.slice(ax + 1));
      for (let o = 0; o < nOut; o++) {
        const x = Math.min(nIn - 1, Math.max(0, ((o + 0.5) * nIn) / nOut - 0.5));
        let i0: number, i1: number, t: number;
        if (order === 0) {
          i0 = Math.min(nIn - 1, Math.floor(x + 0.5));
          i1 = i0;
          t = 0;
        } else {
          i0 = Math.floor(x);
          i1 = Math.min(nIn - 1, i0 + 1);
          t = x - i0;
        }
        for (let a = 0; a < outer; a++) {
          const ib = a * nIn * inner;
          const ob = (a * nOut + o) * inner;
          for (let b = 0; b < inner; b++)
            res[ob + b] = t === 0 ? cur[ib + i0 * inner + b] : (1 - t) * cur[ib + i0 * inner + b] + t * cur[ib + i1 * inner + b];
        }
      }
      cur = res;
      curShape = outShape;
    }
  }
  const out = new Float32Array(cur.length);
  for (let i = 0; i < cur.length; i++) out[i] = Math.min(mx, Math.max(mn, cur[i]));
  return out;
}
