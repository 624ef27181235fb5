/**
 * Direct (plain loop) reference implementations of the network ops, used by the op tests. Deliberately naive and
 * independent of sdk/network/ops.ts: PyTorch semantics (symmetric zero padding, floor output size), channels-last.
 */

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export function randArr(shape: number[], rnd: () => number): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = rnd() * 2 - 1;
  return { data, shape };
}

/** Mulberry32: a small seeded generator for test inputs. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * 3D convolution forward + both gradients for a given upstream gradient dy, by direct summation:
 * y[n,o,c'] = sum_{j,c} x[n, s*o + j - p, c] w[j, c, c'] (zero outside), and the adjoint sums.
 * x: [N,D,H,W,Ci], w: [kd,kh,kw,Ci,Co]. 2D is the special case D = 1, kd = 1.
 */
export function conv3dRef(
  x: Arr,
  w: Arr,
  s: number[],
  p: number[],
  dy?: Arr,
): { y: Arr; dx?: Arr; dw?: Arr } {
  const [n, d, h, wd, ci] = x.shape;
  const [kd, kh, kw, , co] = w.shape;
  const od = Math.floor((d + 2 * p[0] - kd) / s[0]) + 1;
  const oh = Math.floor((h + 2 * p[1] - kh) / s[1]) + 1;
  const ow = Math.floor((wd + 2 * p[2] - kw) / s[2]) + 1;
  const y = new Float64Array(n * od * oh * ow * co);
  const dx = dy ? new Float64Array(x.data.length) : undefined;
  const dw = dy ? new Float64Array(w.data.length) : undefined;
  const xi = (b: number, z: number, yy: number, xx: number) => (((b * d + z) * h + yy) * wd + xx) * ci;
  const wi = (a: number, bb: number, c: number) => ((a * kh + bb) * kw + c) * ci * co;
  for (let b = 0; b < n; b++)
    for (let oz = 0; oz < od; oz++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const yo = (((b * od + oz) * oh + oy) * ow + ox) * co;
          for (let a = 0; a < kd; a++) {
            const z = oz * s[0] + a - p[0];
            if (z < 0 || z >= d) continue;
            for (let bb = 0; bb < kh; bb++) {
              const yy = oy * s[1] + bb - p[1];
              if (yy < 0 || yy >= h) continue;
              for (let c = 0; c < kw; c++) {
                const xx = ox * s[2] + c - p[2];
                if (xx < 0 || xx >= wd) continue;
                const xo = xi(b, z, yy, xx);
                const wo = wi(a, bb, c);
                for (let i = 0; i < ci; i++) {
                  const xv = x.data[xo + i];
                  for (let o = 0; o < co; o++) {
                    y[yo + o] += xv * w.data[wo + i * co + o];
                    if (dy) {
                      const g = dy.data[yo + o];
                      dx![xo + i] += g * w.data[wo + i * co + o];
                      dw![wo + i * co + o] += g * xv;
                    }
                  }
                }
              }
            }
          }
        }
  const out: { y: Arr; dx?: Arr; dw?: Arr } = { y: { data: y, shape: [n, od, oh, ow, co] } };
  if (dy) {
    out.dx = { data: dx!, shape: x.shape };
    out.dw = { data: dw!, shape: w.shape };
  }
  return out;
}

/**
 * Transposed convolution with kernel == stride (PyTorch ConvTranspose, no padding) and its gradients:
 * y[n, s*i + j, o] = sum_c x[n, i, c] w[j, o, c]. x: [N,D,H,W,Ci], w: [kd,kh,kw,Co,Ci].
 */
export function convTranspose3dRef(x: Arr, w: Arr, dy?: Arr): { y: Arr; dx?: Arr; dw?: Arr } {
  const [n, d, h, wd, ci] = x.shape;
  const [kd, kh, kw, co] = w.shape;
  const [od, oh, ow] = [d * kd, h * kh, wd * kw];
  const y = new Float64Array(n * od * oh * ow * co);
  const dx = dy ? new Float64Array(x.data.length) : undefined;
  const dw = dy ? new Float64Array(w.data.length) : undefined;
  for (let b = 0; b < n; b++)
    for (let z = 0; z < d; z++)
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < wd; xx++)
          for (let a = 0; a < kd; a++)
            for (let bb = 0; bb < kh; bb++)
              for (let c = 0; c < kw; c++) {
                const yo = (((b * od + z * kd + a) * oh + yy * kh + bb) * ow + xx * kw + c) * co;
                const xo = (((b * d + z) * h + yy) * wd + xx) * ci;
                const wo = ((a * kh + bb) * kw + c) * co * ci;
                for (let o = 0; o < co; o++)
                  for (let i = 0; i < ci; i++) {
                    y[yo + o] += x.data[xo + i] * w.data[wo + o * ci + i];
                    if (dy) {
                      dx![xo + i] += dy.data[yo + o] * w.data[wo + o * ci + i];
                      dw![wo + o * ci + i] += dy.data[yo + o] * x.data[xo + i];
                    }
                  }
              }
  const out: { y: Arr; dx?: Arr; dw?: Arr } = { y: { data: y, shape: [n, od, oh, ow, co] } };
  if (dy) {
    out.dx = { data: dx!, shape: x.shape };
    out.dw = { data: dw!, shape: w.shape };
  }
  return out;
}

/** max |a - b| / max(1, max |b|): a relative error that is meaningful for both tiny and large values. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / Math.max(1, s);
}

/** A conv3d test case: input shape [N, D, H, W, Ci], kernel (z, y, x), strides (z, y, x), output channels. */
export interface Conv3dCase {
  x: number[];
  k: number[];
  s: number[];
  co: number;
}

/** Random input, filter and upstream gradient of a conv3d case (PyTorch 'same' padding), drawn in that order. */
export function conv3dCaseInputs(c: Conv3dCase, r: () => number): { pads: number[]; x: Arr; w: Arr; dy: Arr } {
  const pads = c.k.map((k) => (k - 1) >> 1);
  const x = randArr(c.x, r);
  const w = randArr([...c.k, c.x[4], c.co], r);
  const dy = randArr(conv3dRef(x, w, c.s, pads).y.shape, r);
  return { pads, x, w, dy };
}
