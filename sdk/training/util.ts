/**
 * Small numeric helpers shared by the training building blocks (loader, augmentation, loss).
 * Arrays are C-order typed arrays; shapes list the axes outermost first ((B, C, Z, Y, X) or (C, Z, Y, X)).
 */

import { prod } from '../util/numeric';

/** numpy `round` (half to even; v1's oversampling index, DS shapes) and np.prod, shared with the rest of the SDK. */
export { prod, roundHalfEven } from '../util/numeric';

/** C-order strides (in elements). */
export function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

/** Python floor division for integers (`a // b`, rounds toward −inf). */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Python modulo (result has the sign of the divisor). */
export function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

export function meanOf(a: ArrayLike<number>, start = 0, end = a.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s += a[i];
  return s / (end - start);
}

/** numpy std (ddof 0), two-pass. */
export function stdOf(a: ArrayLike<number>, start = 0, end = a.length, mean?: number): number {
  const m = mean ?? meanOf(a, start, end);
  let s = 0;
  for (let i = start; i < end; i++) {
    const d = a[i] - m;
    s += d * d;
  }
  return Math.sqrt(s / (end - start));
}

export function minMaxOf(a: ArrayLike<number>, start = 0, end = a.length): [number, number] {
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = start; i < end; i++) {
    const v = a[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return [mn, mx];
}

/** Sorted unique values of an array (np.unique). */
export function uniqueSorted(a: ArrayLike<number>, start = 0, end = a.length): number[] {
  const s = new Set<number>();
  for (let i = start; i < end; i++) s.add(a[i]);
  return Array.from(s).sort((x, y) => x - y);
}

/**
 * Copy the box [lo, lo+size) of a C-order array `src` of shape `shape` into `dst` at element offset `dstOffset`
 * (dst laid out C-order over `size`). Parts of the box outside `src` are filled with `fill`.
 * This is numpy's crop-the-valid-region-then-np.pad(mode='constant') in one pass.
 */
export function cropPadInto(
  src: ArrayLike<number>,
  srcOffset: number,
  shape: readonly number[],
  lo: readonly number[],
  size: readonly number[],
  fill: number,
  dst: Float32Array,
  dstOffset: number,
): void {
  const nd = shape.length;
  const sst = stridesOf(shape);
  const dst_st = stridesOf(size);
  const total = prod(size);
  const last = nd - 1;
  const idx = new Array<number>(nd).fill(0);
  // iterate over all rows (all but last axis), copy the last axis with bounds checks
  const rows = total / size[last];
  for (let r = 0; r < rows; r++) {
    // decompose r into idx[0..last-1]
    let rem = r;
    let inside = true;
    let so = srcOffset;
    for (let d = last - 1; d >= 0; d--) {
      idx[d] = rem % size[d];
      rem = Math.floor(rem / size[d]);
    }
    let dOff = dstOffset;
    for (let d = 0; d < last; d++) {
      const si = lo[d] + idx[d];
      if (si < 0 || si >= shape[d]) inside = false;
      so += si * sst[d];
      dOff += idx[d] * dst_st[d];
    }
    const n = size[last];
    if (!inside) {
      dst.fill(fill, dOff, dOff + n);
      continue;
    }
    for (let i = 0; i < n; i++) {
      const si = lo[last] + i;
      dst[dOff + i] = si < 0 || si >= shape[last] ? fill : src[so + si];
    }
  }
}

/** Copy into a new Float64Array (the typed-array constructor; Float64Array.from walks an iterator and is slow). */
export function toFloat64(a: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  if (ArrayBuffer.isView(a)) out.set(a as unknown as ArrayLike<number>);
  else for (let i = 0; i < a.length; i++) out[i] = a[i];
  return out;
}
