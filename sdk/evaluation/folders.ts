/**
 * The evaluator on folders of .nii.gz, as v1's `evaluate_folder` (S1 evaluation/evaluator.py) runs it
 * (the postprocessing decision on folders: sdk/postprocessing/folders.ts). One case is in memory at a time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNifti } from '../io/nifti';
import type { Volume } from '../io/volume';
import { aggregateScoresLazy, EvaluationResults, makeSummaryJson, writeSummaryJson } from './evaluator';
import { SUMMARY_FILE } from '../paths';

/** Sorted .nii.gz file names of a folder (batchgenerators subfiles(suffix='.nii.gz', join=False)). */
export function niftiFilesIn(folder: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(folder);
  } catch (e) {
    throw new Error(`${folder}: cannot list folder: ${(e as Error).message}`);
  }
  return names.filter((n) => n.endsWith('.nii.gz') && fs.statSync(path.join(folder, n)).isFile()).sort();
}

/** Label map as uint8 (the postprocessing works on uint8 segmentations); refuses non-integer labels, naming the file. */
export function toUint8Labels(v: Volume, file: string): Uint8Array {
  if (v.data instanceof Uint8Array) return v.data;
  const out = new Uint8Array(v.data.length);
  for (let i = 0; i < out.length; i++) {
    const x = v.data[i];
    if (!(x >= 0 && x <= 255 && Number.isInteger(x))) throw new Error(`${file}: label value ${x} is not an integer in 0..255`);
    out[i] = x;
  }
  return out;
}

/** A prediction and its reference, with matching shapes. */
export async function readPair(predFile: string, gtFile: string): Promise<{ pred: Volume; gt: Volume }> {
  const [pred, gt] = await Promise.all([readNifti(predFile), readNifti(gtFile)]);
  if (pred.shape.some((s, i) => s !== gt.shape[i])) {
    throw new Error(`${predFile}: shape [${pred.shape}] differs from the reference ${gtFile} [${gt.shape}]`);
  }
  return { pred, gt };
}

/**
 * v1 `evaluate_folder`: every prediction against the reference of the same name; both folders must hold the same
 * files. Writes <predictions>/summary.json (unless `writeSummary` is false) and returns the results.
 * @example
 *   const res = await evaluateFolder('labelsTr', 'pred', [0, 1]);   // writes pred/summary.json
 *   res.mean['1'].Dice;
 */
export async function evaluateFolder(
  folderWithGts: string,
  folderWithPredictions: string,
  labels: readonly number[],
  opts: { writeSummary?: boolean; json?: { name?: string; description?: string; task?: string; author?: string } } = {},
): Promise<EvaluationResults> {
  const gts = niftiFilesIn(folderWithGts);
  const preds = niftiFilesIn(folderWithPredictions);
  const missingPred = gts.filter((f) => !preds.includes(f));
  const missingGt = preds.filter((f) => !gts.includes(f));
  if (missingPred.length) throw new Error(`${folderWithPredictions}: predictions missing for ${missingPred.join(', ')}`);
  if (missingGt.length) throw new Error(`${folderWithGts}: references missing for ${missingGt.join(', ')}`);
  const res = await aggregateScoresLazy(
    preds.length,
    async (i) => {
      const pf = path.join(folderWithPredictions, preds[i]);
      const gf = path.join(folderWithGts, preds[i]);
      const { pred, gt } = await readPair(pf, gf);
      return { test: pred.data, reference: gt.data, testName: pf, referenceName: gf };
    },
    labels,
  );
  if (opts.writeSummary ?? true) {
    await writeSummaryJson(path.join(folderWithPredictions, SUMMARY_FILE), makeSummaryJson(res, opts.json));
  }
  return res;
}
