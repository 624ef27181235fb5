/**
 * File-level wrappers of the evaluator and the postprocessing decision, as v1 runs them on folders of .nii.gz:
 * `evaluate_folder` (S1 evaluation/evaluator.py) and `determine_postprocessing` (S1 postprocessing/
 * connected_components.py) with its outputs: <base>/postprocessing.json, <final>/*.nii.gz and <final>/summary.json.
 * One case is in memory at a time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNifti, writeNifti } from '../io/nifti';
import type { Volume } from '../io/volume';
import { aggregateScoresLazy, EvaluationResults, makeSummaryJson, readSummaryJson, writeSummaryJson } from './evaluator';
import { determinePostprocessing, DeterminePostprocessingResult, PostprocessingCase, writePostprocessingJson } from './connected_components';
import { SUMMARY_FILE, VALIDATION_FOLDER } from '../paths';

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

function toUint8Labels(v: Volume, file: string): Uint8Array {
  if (v.data instanceof Uint8Array) return v.data;
  const out = new Uint8Array(v.data.length);
  for (let i = 0; i < out.length; i++) {
    const x = v.data[i];
    if (!(x >= 0 && x <= 255 && Number.isInteger(x))) throw new Error(`${file}: label value ${x} is not an integer in 0..255`);
    out[i] = x;
  }
  return out;
}

async function readPair(predFile: string, gtFile: string): Promise<{ pred: Volume; gt: Volume }> {
  const [pred, gt] = await Promise.all([readNifti(predFile), readNifti(gtFile)]);
  if (pred.shape.some((s, i) => s !== gt.shape[i])) {
    throw new Error(`${predFile}: shape [${pred.shape}] differs from the reference ${gtFile} [${gt.shape}]`);
  }
  return { pred, gt };
}

/**
 * v1 `evaluate_folder`: every prediction against the reference of the same name; both folders must hold the same
 * files. Writes <predictions>/summary.json (unless `writeSummary` is false) and returns the results.
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

/**
 * v1 `determine_postprocessing(base, gt_labels_folder, raw_subfolder_name, final_subf_name)`: decide on the
 * predictions in <base>/<raw> (its summary.json gives the classes and the raw scores, as in v1; it is computed
 * when missing), write <base>/postprocessing.json, the postprocessed predictions to <base>/<final> (same geometry
 * as the raw files) and <base>/<final>/summary.json.
 */
export async function determinePostprocessingFolder(
  base: string,
  gtLabelsFolder: string,
  opts: {
    rawSubfolder?: string;
    finalSubfolder?: string;
    classes?: readonly number[];
    diceThreshold?: number;
    advancedPostprocessing?: boolean;
    postprocessingJsonName?: string;
  } = {},
): Promise<DeterminePostprocessingResult> {
  const rawSub = opts.rawSubfolder ?? VALIDATION_FOLDER;
  const finalSub = opts.finalSubfolder ?? 'validation_final';
  const rawDir = path.join(base, rawSub);
  const finalDir = path.join(base, finalSub);
  const files = niftiFilesIn(rawDir);
  const summaryFile = path.join(rawDir, SUMMARY_FILE);
  let rawResults: EvaluationResults | undefined;
  let classes = opts.classes ? [...opts.classes] : undefined;
  if (fs.existsSync(summaryFile)) {
    const s = readSummaryJson(summaryFile);
    rawResults = s.results;
    // v1: classes = the labels != 0 of the raw summary
    classes ??= Object.keys(s.results.mean)
      .filter((k) => k !== 'mean')
      .map(Number)
      .filter((k) => k !== 0);
  }
  if (!classes || classes.length === 0) {
    throw new Error(`${summaryFile}: missing; pass the foreground classes (opts.classes) to evaluate ${rawDir}`);
  }
  const cases: PostprocessingCase[] = files.map((f) => ({
    name: f,
    load: async () => {
      const { pred, gt } = await readPair(path.join(rawDir, f), path.join(gtLabelsFolder, f));
      return { prediction: toUint8Labels(pred, path.join(rawDir, f)), reference: gt.data, shape: pred.shape, spacing: pred.spacing };
    },
  }));
  const r = await determinePostprocessing(cases, {
    classes,
    diceThreshold: opts.diceThreshold,
    advancedPostprocessing: opts.advancedPostprocessing,
    rawResults,
    validationRaw: rawSub,
    validationFinal: finalSub,
    onFinal: async (name, seg) => {
      const src = await readNifti(path.join(rawDir, name));
      await writeNifti(path.join(finalDir, name), { ...src, data: seg }, { dtype: 'uint8' });
    },
  });
  await writePostprocessingJson(path.join(base, opts.postprocessingJsonName ?? 'postprocessing.json'), r.postprocessing);
  const withNames: EvaluationResults = {
    all: r.final.all.map((c) => ({ ...c, test: path.join(finalDir, String(c.test)), reference: path.join(gtLabelsFolder, String(c.reference)) })),
    mean: r.final.mean,
  };
  await writeSummaryJson(path.join(finalDir, SUMMARY_FILE), makeSummaryJson(withNames));
  return r;
}
