/**
 * The tiny numpy-compatible helpers that fingerprint, planning, preprocessing, training, inference and the data scripts
 * all need, defined once here (sdk/planning/numpy_compat.ts and sdk/training/util.ts re-export them).
 */

/**
 * numpy's round (np.round / np.rint on a float): half to even, where JS Math.round rounds half up. A zero result keeps
 * the sign of the input, as in numpy (np.round(-0.4) and np.round(-0.5) are -0.0); for x >= 0 this is also Python 3's
 * round(x). NaN and ±Infinity are returned unchanged.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move exact ties to the even neighbour
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** np.prod of a shape (1 for an empty one), multiplied left to right. */
export function prod(values: readonly number[]): number {
  let p = 1;
  for (const v of values) p *= v;
  return p;
}
