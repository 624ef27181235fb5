/**
 * Class locations for foreground oversampling (S1 preprocessing.py GenericPreprocessor._run_internal):
 * one `np.random.RandomState(1234)` per case; for each foreground class in order, all voxel coordinates with that label
 * (np.argwhere, C order), and `rndst.choice(len(all_locs), n, replace=False)` of them with
 * n = max(min(10000, len), ceil(0.01 * len)). RandomState is numpy-exact, so the sampled subset equals the official one.
 */
import { RandomState } from '../util/random';

/** S1: num_samples = 10000 */
export const CLASS_LOCATIONS_NUM_SAMPLES = 10000;
/** S1: min_percent_coverage = 0.01 */
export const CLASS_LOCATIONS_MIN_PERCENT_COVERAGE = 0.01;
/** S1: np.random.RandomState(1234) */
export const CLASS_LOCATIONS_SEED = 1234;

/** Sampled (z, y, x) coordinates per class, flat: [z0, y0, x0, z1, y1, x1, ...]. */
export type ClassLocations = Record<string, Int32Array>;

export function numClassLocationSamples(n: number): number {
  if (n === 0) return 0;
  const t = Math.min(CLASS_LOCATIONS_NUM_SAMPLES, n);
  return Math.max(t, Math.ceil(n * CLASS_LOCATIONS_MIN_PERCENT_COVERAGE));
}

/**
 * Sample class locations from a segmentation of `shape` (z, y, x). `classes` are the dataset's foreground labels
 * (v1 plans `all_classes`), in order; every class gets an entry (empty when absent).
 */
export function sampleClassLocations(seg: ArrayLike<number>, shape: readonly number[], classes: readonly number[]): ClassLocations {
  const [, Y, X] = shape.length === 3 ? shape : [1, ...shape];
  const rng = new RandomState(CLASS_LOCATIONS_SEED);
  const out: ClassLocations = {};
  // count once, then gather flat indices per class
  const counts = new Map<number, number>();
  for (const c of classes) counts.set(c, 0);
  for (let i = 0; i < seg.length; i++) {
    const v = seg[i];
    const k = counts.get(v);
    if (k !== undefined) counts.set(v, k + 1);
  }
  for (const c of classes) {
    const n = counts.get(c) as number;
    if (n === 0) {
      out[String(c)] = new Int32Array(0);
      continue;
    }
    const idx = new Int32Array(n);
    for (let i = 0, q = 0; i < seg.length; i++) if (seg[i] === c) idx[q++] = i;
    const target = numClassLocationSamples(n);
    const chosen = rng.choiceWithoutReplacement(n, target);
    const locs = new Int32Array(target * 3);
    for (let j = 0; j < target; j++) {
      const f = idx[chosen[j]];
      const z = Math.floor(f / (Y * X));
      const r = f - z * Y * X;
      const y = Math.floor(r / X);
      locs[3 * j] = z;
      locs[3 * j + 1] = y;
      locs[3 * j + 2] = r - y * X;
    }
    out[String(c)] = locs;
  }
  return out;
}

/** As nested lists [[z, y, x], ...] (what the properties JSON stores, like nnU-Net's pickled arrays). */
export function classLocationsToLists(cl: ClassLocations): Record<string, number[][]> {
  const out: Record<string, number[][]> = {};
  for (const [k, v] of Object.entries(cl)) {
    const l: number[][] = [];
    for (let j = 0; j < v.length; j += 3) l.push([v[j], v[j + 1], v[j + 2]]);
    out[k] = l;
  }
  return out;
}

export function classLocationsFromLists(l: Record<string, number[][]>): ClassLocations {
  const out: ClassLocations = {};
  for (const [k, v] of Object.entries(l)) {
    const a = new Int32Array(v.length * 3);
    v.forEach((p, j) => a.set(p, 3 * j));
    out[k] = a;
  }
  return out;
}
