/**
 * v1 `determine_postprocessing` (S1 postprocessing/connected_components.py) on folders of .nii.gz, with its outputs:
 * <base>/postprocessing.json, <final>/*.nii.gz and <final>/summary.json. One case is in memory at a time.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readNifti, writeNifti } from '../io/nifti';
import { EvaluationResults, makeSummaryJson, readSummaryJson, writeSummaryJson } from '../evaluation/evaluator';
import { niftiFilesIn, readPair, toUint8Labels } from '../evaluation/folders';
import { determinePostprocessing, DeterminePostprocessingResult, PostprocessingCase, writePostprocessingJson } from './determine';
import { SUMMARY_FILE, VALIDATION_FOLDER } from '../paths';

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
