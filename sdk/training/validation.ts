/**
 * The end-of-training validation (nnUNetTrainer.validate; reference §8): sliding-window prediction of every held-out
 * case on its preprocessed data (Gaussian, step 0.5, mirroring TTA), export to the raw geometry as
 * `fold_k/validation_raw/<case>.nii.gz` (+ probabilities), summary.json against the raw labels, then
 * determine_postprocessing on the fold.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Dataset } from '../io/dataset';
import { readNifti, writeNifti } from '../io/nifti';
import type { Volume } from '../io/volume';
import { Plans, PlansJSON, resolveConfiguration } from '../planning/plans';
import type { GenericUNet } from '../network/generic_unet';
import { initBackend } from '../network/backend';
import { readCaseProperties, type StoredProperties } from '../preprocessing/preprocessed_dataset';
import { predictSlidingWindow } from '../inference/sliding_window';
import { tfjsPatchPredictor } from '../inference/tfjs_predictor';
import { exportPrediction } from '../inference/export_files';
import { preprocessedNetworkInput } from '../inference/cascade';
import { aggregateScoresLazy, makeSummaryJson, writeSummaryJson, SummaryJson } from '../evaluation/evaluator';
import { PostprocessingJson } from '../postprocessing/connected_components';
import { determinePostprocessing, PostprocessingCase, writePostprocessingJson } from '../postprocessing/determine';
import { progress } from '../util/progress';
import { SUMMARY_FILE, validationFolder } from '../paths';

export interface ValidationResult {
  summary: SummaryJson;
  summaryFile: string;
  /** Mean Dice per label over the validation cases (summary.json results.mean[label].Dice). */
  meanDice: Record<string, number>;
  predictions: string[];
  seconds: number;
  /** determine_postprocessing on this fold (fold_k/postprocessing.json, validation_raw_postprocessed/). */
  postprocessing: { file: string; json: PostprocessingJson; meanDice: Record<string, number>; summaryFile: string } | null;
}

export interface ValidateFoldOptions {
  net: GenericUNet;
  plans: Plans | PlansJSON;
  configuration: string;
  /** Network patch size (default the plans'). */
  patchSize?: number[];
  preprocessedDir: string;
  valCases: readonly string[];
  /** fold_k folder; predictions go to `<outputDir>/<folderName>/`. */
  outputDir: string;
  folderName?: string;
  dataset?: Dataset | null;
  mirroring?: boolean;
  saveProbabilities?: boolean;
  previousStageDir?: string;
  numClasses: number;
  /** summary.json name. */
  name?: string;
  stepSize?: number;
  progress?: boolean;
  /** Run determine_postprocessing afterwards (default false here; trainFold passes true as v1's validate). */
  determinePostprocessing?: boolean;
}

async function referenceLabel(o: ValidateFoldOptions, id: string, props: StoredProperties) {
  if (o.dataset) return (await o.dataset.case(id).loadLabel()).data;
  if (props.seg_file && fs.existsSync(props.seg_file)) return (await readNifti(props.seg_file)).data;
  throw new Error(`validation: no reference label for ${id} (pass the raw dataset; properties seg_file ${props.seg_file} not found)`);
}

/**
 * nnUNetTrainer.validate: sliding-window prediction (Gaussian, step 0.5, mirroring TTA) of every validation case on
 * its preprocessed data, export to the raw geometry as `<folder>/<case>.nii.gz` (+ probabilities), and
 * `<folder>/summary.json` over labels 0..K−1 against the raw reference labels.
 */
export async function validateFold(o: ValidateFoldOptions): Promise<ValidationResult> {
  // the selected fast backend (wasm here), never tfjs's silent default cpu backend; idempotent
  await initBackend();
  const t0 = Date.now();
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  const cfg = resolveConfiguration(json, o.configuration);
  const patch = o.patchSize ?? cfg.patch_size;
  const dim = patch.length;
  const folder = validationFolder(o.outputDir, o.folderName);
  fs.mkdirSync(folder, { recursive: true });
  const predictor = tfjsPatchPredictor((x) => o.net.predict(x));
  const labels = Array.from({ length: o.numClasses }, (_, i) => i);
  const predictions: string[] = [];
  const bar = o.progress === false ? null : progress(`validate ${o.configuration}`, o.valCases.length);
  const results = await aggregateScoresLazy(
    o.valCases.length,
    async (i) => {
      const id = o.valCases[i];
      const props = readCaseProperties(o.preprocessedDir, id);
      const inp = preprocessedNetworkInput(o.preprocessedDir, id, o.numClasses, o.previousStageDir);
      const probs = await predictSlidingWindow(inp.data, inp.shape, {
        patchSize: patch,
        numClasses: o.numClasses,
        predictPatch: predictor,
        stepSize: o.stepSize ?? 0.5,
        useGaussian: true,
        mirrorAxes: o.mirroring === false ? [] : dim === 3 ? [0, 1, 2] : [0, 1],
      });
      const segFile = path.join(folder, `${id}.nii.gz`);
      const vol = await exportPrediction(
        { segmentation: segFile, probabilities: o.saveProbabilities ? path.join(folder, `${id}.npy`) : undefined },
        probs,
        props,
        { transposeBackward: json.transpose_backward },
      );
      predictions.push(segFile);
      const ref = await referenceLabel(o, id, props);
      bar?.tick(1, id);
      return { test: vol.data, reference: ref, testName: segFile, referenceName: o.dataset?.case(id).labelFile ?? props.seg_file ?? id };
    },
    labels,
  );
  bar?.done();
  const summary = makeSummaryJson(results, { name: o.name ?? `${o.configuration} val tiled True`, task: json.dataset_name });
  const summaryFile = path.join(folder, SUMMARY_FILE);
  await writeSummaryJson(summaryFile, summary);
  const meanDice: Record<string, number> = {};
  for (const l of labels) meanDice[String(l)] = results.mean[String(l)]?.Dice ?? NaN;
  let pp: ValidationResult['postprocessing'] = null;
  if (o.determinePostprocessing) {
    // v1 validate(): determine_postprocessing(output_folder, gt_niftis_folder, 'validation_raw', 'validation_raw_postprocessed')
    const ppFolder = path.join(o.outputDir, 'validation_raw_postprocessed');
    fs.mkdirSync(ppFolder, { recursive: true });
    const geometry = new Map<string, Volume>();
    const cases: PostprocessingCase[] = o.valCases.map((id, i) => ({
      name: id,
      load: async () => {
        const pred = await readNifti(predictions[i]);
        geometry.set(id, pred);
        const ref = await referenceLabel(o, id, readCaseProperties(o.preprocessedDir, id));
        return { prediction: Uint8Array.from(pred.data as ArrayLike<number>), reference: ref, shape: pred.shape, spacing: pred.spacing };
      },
    }));
    const r = await determinePostprocessing(cases, {
      classes: labels.slice(1),
      rawResults: results,
      validationRaw: o.folderName ?? 'validation_raw',
      validationFinal: 'validation_raw_postprocessed',
      onFinal: async (id, seg) => {
        const g = geometry.get(id) ?? (await readNifti(predictions[o.valCases.indexOf(id)]));
        await writeNifti(path.join(ppFolder, `${id}.nii.gz`), { ...g, data: seg }, { dtype: 'uint8' });
      },
    });
    const ppFile = path.join(o.outputDir, 'postprocessing.json');
    await writePostprocessingJson(ppFile, r.postprocessing);
    const ppSummaryFile = path.join(ppFolder, 'summary.json');
    await writeSummaryJson(ppSummaryFile, makeSummaryJson(r.final, { name: `${o.name ?? o.configuration} postprocessed`, task: json.dataset_name }));
    const ppDice: Record<string, number> = {};
    for (const l of labels) ppDice[String(l)] = r.final.mean[String(l)]?.Dice ?? NaN;
    pp = { file: ppFile, json: r.postprocessing, meanDice: ppDice, summaryFile: ppSummaryFile };
  }
  return { summary, summaryFile, meanDice, predictions, seconds: (Date.now() - t0) / 1000, postprocessing: pp };
}
