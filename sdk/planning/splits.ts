/**
 * Cross-validation folds, identical to nnU-Net v1 `nnUNetTrainer.do_split` (and v2 `generate_crossval_split`):
 * sklearn KFold(n_splits=5, shuffle=True, random_state=12345) over the sorted case identifiers. KFold shuffles
 * arange(n) once with numpy's legacy RandomState(12345).shuffle and cuts consecutive test chunks; the first n % k
 * chunks get one extra case. Stored as splits_final.json: a list of {train, val}, both sorted.
 */
import * as fs from 'fs';
import { readJsonSync, writeJsonAtomic, writeJsonAtomicSync } from '../io/atomic';
import { RandomState } from '../util/random';

export interface Split {
  train: string[];
  val: string[];
}

/** nnU-Net's seed for the folds (nnUNetTrainer.do_split). */
export const SPLIT_SEED = 12345;

/** sklearn KFold(n_splits, shuffle=True, random_state=seed) test-index chunks for n samples. */
export function kfoldTestIndices(n: number, nSplits = 5, seed = SPLIT_SEED): number[][] {
  if (!Number.isInteger(nSplits) || nSplits < 2) throw new Error(`KFold: n_splits must be an integer >= 2, got ${nSplits}`);
  if (n < nSplits) throw new Error(`KFold: cannot have n_splits=${nSplits} greater than the number of samples n=${n}`);
  const indices = Array.from({ length: n }, (_, i) => i);
  new RandomState(seed).shuffle(indices);
  const out: number[][] = [];
  let start = 0;
  for (let k = 0; k < nSplits; k++) {
    const size = Math.floor(n / nSplits) + (k < n % nSplits ? 1 : 0);
    out.push(indices.slice(start, start + size));
    start += size;
  }
  return out;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The 5-fold split of nnU-Net over case identifiers (sorted first, as nnU-Net sorts the dataset keys). */
export function generateSplits(caseIds: readonly string[], nSplits = 5, seed = SPLIT_SEED): Split[] {
  const dup = caseIds.find((c, i) => caseIds.indexOf(c) !== i);
  if (dup !== undefined) throw new Error(`generateSplits: duplicate case identifier '${dup}'`);
  const keys = [...caseIds].sort(byString);
  return kfoldTestIndices(keys.length, nSplits, seed).map((test) => {
    const inTest = new Set(test);
    return {
      train: keys.filter((_, i) => !inTest.has(i)).sort(byString),
      val: test.map((i) => keys[i]).sort(byString),
    };
  });
}

function checkSplits(j: unknown, file: string): Split[] {
  if (!Array.isArray(j)) throw new Error(`${file}: splits_final.json must be a list of {train, val}`);
  j.forEach((s, i) => {
    const ok = s && Array.isArray(s.train) && Array.isArray(s.val) && [...s.train, ...s.val].every((x: unknown) => typeof x === 'string');
    if (!ok) throw new Error(`${file}: split ${i} must be {train: string[], val: string[]}`);
  });
  return j as Split[];
}

export async function saveSplits(splits: Split[], file: string): Promise<void> {
  await writeJsonAtomic(file, splits);
}

export function saveSplitsSync(splits: Split[], file: string): void {
  writeJsonAtomicSync(file, splits);
}

export function loadSplits(file: string): Split[] {
  if (!fs.existsSync(file)) throw new Error(`loadSplits: ${file} does not exist`);
  return checkSplits(readJsonSync(file), file);
}
