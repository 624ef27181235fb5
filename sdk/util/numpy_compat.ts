/**
 * The few numpy semantics planning and the fingerprint depend on, reproduced exactly.
 */

/** numpy round (half to even) and np.prod: one definition for the whole SDK, re-exported for the planners. */
export { prod, roundHalfEven } from './numeric';

/** Sort a copy ascending (numeric). */
export function sortedNumeric(values: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(values as ArrayLike<number>);
  a.sort();
  return a;
}

/**
 * np.percentile(values, q) with the default 'linear' method on already sorted data. numpy 1.24 `_lerp`:
 * a + (b - a) * t, evaluated as b - (b - a) * (1 - t) when t >= 0.5 (keeps monotonicity).
 */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const idx = ((n - 1) * q) / 100;
  const lo = Math.floor(idx);
  const hi = Math.min(lo + 1, n - 1);
  const t = idx - lo;
  const a = sorted[lo];
  const b = sorted[hi];
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

export function percentile(values: ArrayLike<number>, q: number): number {
  return percentileSorted(sortedNumeric(values), q);
}

/** np.median (mean of the two middle elements for even counts). */
export function median(values: ArrayLike<number>): number {
  const s = sortedNumeric(values);
  const n = s.length;
  if (n === 0) return NaN;
  const m = n >> 1;
  return n % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Per-column np.percentile(np.vstack(rows), q, axis=0). */
export function percentileAxis0(rows: number[][], q: number): number[] {
  if (rows.length === 0) throw new Error('percentileAxis0: no rows');
  return rows[0].map((_, j) => percentile(rows.map((r) => r[j]), q));
}

/** Per-column np.median(np.vstack(rows), axis=0). */
export function medianAxis0(rows: number[][]): number[] {
  if (rows.length === 0) throw new Error('medianAxis0: no rows');
  return rows[0].map((_, j) => median(rows.map((r) => r[j])));
}

/** np.argmax: first index of the maximum. */
export function argmax(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/**
 * np.argsort(v)[-1] for the tiny (2-3 element) arrays of the shrink loop: numpy's introsort on <= 16 elements is an
 * insertion sort, hence stable, so among exact ties the highest index ends last.
 */
export function argsortLast(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] >= v[best]) best = i;
  return best;
}
