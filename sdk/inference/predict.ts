/**
 * Prediction of new cases with trained folds (S1 nnunet/inference/predict.py `predict_cases` /
 * `predict_from_folder`, predict_simple.py): per case, test-time preprocessing exactly as training (crop to nonzero
 * with the -1 mask as seg, transpose, resample, normalize: GenericPreprocessor.preprocess_test_case), sliding window
 * (Gaussian, step 0.5, mirroring TTA) with every fold's checkpoint, mean of the folds' softmax, export to the
 * original geometry (uint8 NIfTI), optional float16 probabilities for ensembling, and the configuration's
 * postprocessing.json (v1 load_remove_save) when present.
 *
 * The cascade (3d_cascade_fullres) runs the 3d_lowres stage first on the same case (with its postprocessing, as v1's
 * predict_simple does with `lowres_segmentations`), then crops that segmentation with crop_bbox (v1 forgets the crop:
 * reference B, fixed here), transposes it, resizes it with resize_segmentation order 1 to the full-res preprocessed
 * shape and appends its one-hot encoding (labels 1..K-1) to the image channels.
 *
 * One case is in memory at a time; networks are loaded once and disposed at the end. A bad case (wrong number of
 * channels, unreadable file, geometry mismatch between channels) is recorded with its id and file; the other cases
 * still run and `predictCases` throws at the end (unless `throwOnError: false`).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import type { Volume } from '../io/volume';
import { Plans, PlansJSON, resolveConfiguration } from '../planning/plans';
import { PostprocessingJson } from '../postprocessing/connected_components';
import { readPostprocessingJson } from '../postprocessing/determine';
import type { GenericUNet } from '../network/generic_unet';
import { loadTrainedNetwork } from '../checkpoint/checkpoint';
import { progress } from '../util/progress';
import { exportPrediction } from './export_files';
import { inferenceModel, predictProbabilities, type InferenceModel } from './predict_volume';
import { TileWorkers, tileWorkerCount } from './tile_workers';
import { forwardFlops } from '../network/architecture';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../network/backend';
import { filesKey, modelKey, PredictionCache, volumesKey } from './prediction_cache';
import { foldFolder } from '../paths';
import { checkChannels, loadInputCase, listInputCases, readPreviousStageSegmentation, type InputCaseFiles, type PredictInputCase } from './input_cases';
export { loadInputCase, listInputCases, type InputCaseFiles, type PredictInputCase };

export type Checkpoint = 'checkpoint_final' | 'checkpoint_latest' | 'checkpoint_best';

/** A trained configuration: the plans, and the fold folders with checkpoints. */
export interface TrainedModel {
  plans: Plans | PlansJSON;
  configuration: string;
  /** `<results>/<dataset>/<trainer>__<plans>__<configuration>` holding fold_k/ (and postprocessing.json) */
  modelFolder?: string;
  /** folds to use (default: every fold_0..fold_4 with a final checkpoint in modelFolder) */
  folds?: (number | 'all')[];
  /** explicit fold folders instead of modelFolder + folds */
  foldFolders?: string[];
  /** networks already in memory (one per fold) instead of checkpoints; the caller keeps ownership (not disposed) */
  networks?: GenericUNet[];
  checkpoint?: Checkpoint;
  /**
   * Postprocessing: true (default) = `<modelFolder>/postprocessing.json` when it exists; false = none; a file or a
   * parsed postprocessing.json.
   */
  postprocessing?: boolean | string | PostprocessingJson;
  /** a cascade: its previous-stage segmentation enters uncropped, as official v1 prediction does (imported v1 models) */
  v1UncroppedCascadeInput?: boolean;
}

export interface PredictCasesOptions extends TrainedModel {
  /** a folder in v2/MSD-test layout (`<case>_0000.nii.gz` or `<case>.nii.gz`) or cases in memory */
  input: string | PredictInputCase[];
  outputDir: string;
  /** only these case ids of the input folder */
  caseIds?: string[];
  /** mirroring TTA over all spatial axes (default true, v1 do_tta) */
  mirroring?: boolean;
  /** sliding-window step size (default 0.5) */
  stepSize?: number;
  /** write `<case>.npy` (float16) + `<case>.json` next to the NIfTI (v1 --save_npz) */
  saveProbabilities?: boolean;
  /** the 3d_lowres stage for 3d_cascade_fullres (same plans unless given) */
  previousStage?: Partial<TrainedModel> & { modelFolder?: string; foldFolders?: string[] };
  /**
   * A cascade: the previous stage's segmentations, `<folder>/<case>.nii.gz` in each input's geometry, instead of
   * predicting them with `previousStage` (v1 predict_simple `-l lowres_segmentations`, v2 `-prev_stage_predictions`).
   * Predictions made with it are not reused (`reuse`): the folder is not part of what the cache compares.
   */
  previousStagePredictions?: string;
  /** throw at the end if any case failed (default true) */
  throwOnError?: boolean;
  progress?: boolean;
  /** skip cases whose output NIfTI exists (v1 overwrite_existing=False) */
  skipExisting?: boolean;
  /**
   * Reuse a case's earlier prediction when it was made from the same input, model and settings
   * (`<outputDir>/predictions_manifest.json`, prediction_cache.ts). Default false here (v1 overwrites);
   * the fluent `task.predict()` reuses by default.
   */
  reuse?: boolean;
  /**
   * Extra wasm instances in worker threads that predict tiles in parallel with this thread (tile_workers.ts): 'auto'
   * (default) = cores - 1, at most 3, on wasm/cpu; 0 on one thread. Each holds one tile's activations in memory.
   * The segmentation does not depend on it.
   */
  tileWorkers?: number | 'auto';
}

export interface CaseStatus {
  id: string;
  ok: boolean;
  /** written segmentation */
  file?: string;
  probabilities?: string;
  error?: string;
  seconds: number;
  /** wall seconds per phase: preprocessing (incl. the cascade's low-res stage), sliding window, export */
  timings?: { preprocess_s: number; predict_s: number; export_s: number };
  skipped?: boolean;
  /** reused: made earlier from the same input, model and settings (`reuse`) */
  reused?: boolean;
}

export class PredictionResult {
  constructor(
    readonly outputDir: string,
    readonly configuration: string,
    readonly folds: string[],
    readonly cases: CaseStatus[],
    readonly postprocessing: PostprocessingJson | null,
  ) {}

  get failed(): CaseStatus[] {
    return this.cases.filter((c) => !c.ok);
  }

  /** One row per case: id, ok, file, error (what was predicted; the same on a re-run that reuses it). */
  table(): aq.ColumnTable {
    return aq.table({
      case: this.cases.map((c) => c.id),
      ok: this.cases.map((c) => c.ok),
      file: this.cases.map((c) => c.file ?? ''),
      error: this.cases.map((c) => c.error ?? ''),
    });
  }

  /** One row per case: how this call got it (predicted or reused) and its wall seconds per phase. */
  timings(): aq.ColumnTable {
    return aq.table({
      case: this.cases.map((c) => c.id),
      how: this.cases.map((c) => (c.reused ? 'reused' : c.skipped ? 'skipped (exists)' : c.ok ? 'predicted' : 'failed')),
      seconds: this.cases.map((c) => c.seconds),
      preprocess_s: this.cases.map((c) => c.timings?.preprocess_s ?? 0),
      predict_s: this.cases.map((c) => c.timings?.predict_s ?? 0),
      export_s: this.cases.map((c) => c.timings?.export_s ?? 0),
    });
  }

  summary(): string {
    const f = this.failed;
    return (
      `predicted ${this.cases.length - f.length}/${this.cases.length} cases with ${this.configuration} (folds ${this.folds.join(', ')}) into ${this.outputDir}` +
      (f.length ? `\n  failed: ${f.map((c) => `${c.id}: ${c.error}`).join('\n          ')}` : '')
    );
  }

  toString(): string {
    return this.summary();
  }
}

/** Thrown by predictCases when some cases failed; carries the full result. */
export class PredictionError extends Error {
  constructor(readonly result: PredictionResult) {
    super(`prediction failed for ${result.failed.length} of ${result.cases.length} cases:\n  ${result.failed.map((c) => `${c.id}: ${c.error}`).join('\n  ')}`);
  }
}


/** fold_k folders with the wanted checkpoint (default every fold_0..fold_4 found). */
export function findFoldFolders(modelFolder: string, folds?: (number | 'all')[], checkpoint: Checkpoint = 'checkpoint_final'): string[] {
  const has = (d: string) => fs.existsSync(path.join(d, `${checkpoint}.json`)) || fs.existsSync(path.join(d, checkpoint));
  if (folds && folds.length) {
    return folds.map((k) => {
      const d = foldFolder(modelFolder, k);
      if (!has(d)) throw new Error(`${d}: no ${checkpoint} (train fold ${k} first)`);
      return d;
    });
  }
  const found = [0, 1, 2, 3, 4].map((k) => foldFolder(modelFolder, k)).filter(has);
  if (found.length === 0) throw new Error(`${modelFolder}: no fold_0..fold_4 with a ${checkpoint}`);
  return found;
}

function resolvePostprocessing(m: TrainedModel): PostprocessingJson | null {
  const pp = m.postprocessing ?? true;
  if (pp === false) return null;
  if (typeof pp === 'string') return readPostprocessingJson(pp);
  if (pp === true) {
    const f = m.modelFolder ? path.join(m.modelFolder, 'postprocessing.json') : null;
    return f && fs.existsSync(f) ? readPostprocessingJson(f) : null;
  }
  return pp;
}

function requireModelFolder(m: TrainedModel): string {
  if (!m.modelFolder) throw new Error(`predict ${m.configuration}: give modelFolder, foldFolders or networks`);
  return m.modelFolder;
}

/** What, besides the input, decides a prediction: the model(s) and the settings (prediction_cache.ts). */
function predictionRunKey(o: PredictCasesOptions, foldFolders: string[], postprocessing: PostprocessingJson | null, previousStage: TrainedModel | null): string {
  const checkpoint = o.checkpoint ?? 'checkpoint_final';
  const main = modelKey({ plans: o.plans, configuration: o.configuration, foldFolders, checkpoint, postprocessing });
  const low = previousStage
    ? modelKey({
        plans: previousStage.plans,
        configuration: previousStage.configuration,
        foldFolders: previousStage.foldFolders ?? findFoldFolders(requireModelFolder(previousStage), previousStage.folds, checkpoint),
        checkpoint,
        postprocessing: resolvePostprocessing(previousStage),
      })
    : null;
  const settings = {
    configuration: o.configuration,
    checkpoint,
    mirroring: o.mirroring ?? true,
    stepSize: o.stepSize ?? 0.5,
    probabilities: Boolean(o.saveProbabilities),
    ...(o.v1UncroppedCascadeInput ? { v1UncroppedCascadeInput: true } : {}),
  };
  return JSON.stringify({ main, low, settings });
}

function loadModel(m: TrainedModel): InferenceModel {
  const json = m.plans instanceof Plans ? m.plans.json : m.plans;
  resolveConfiguration(json, m.configuration);
  let foldFolders = m.foldFolders;
  const owned = !m.networks;
  const nets: GenericUNet[] = m.networks ? [...m.networks] : [];
  if (m.networks) {
    if (m.networks.length === 0) throw new Error(`predict ${m.configuration}: networks is empty`);
    // names for the result's fold list: the given fold folders (e.g. an imported model's), else network_<i>
    foldFolders = m.foldFolders && m.foldFolders.length === m.networks.length ? m.foldFolders : m.networks.map((_, i) => `network_${i}`);
  } else {
    if (!foldFolders) {
      if (!m.modelFolder) throw new Error(`predict ${m.configuration}: give modelFolder, foldFolders or networks`);
      foldFolders = findFoldFolders(m.modelFolder, m.folds, m.checkpoint);
    }
    try {
      for (const d of foldFolders) nets.push(loadTrainedNetwork(d, m.checkpoint ?? 'checkpoint_final'));
    } catch (e) {
      for (const n of nets) n.dispose();
      throw e;
    }
  }
  return inferenceModel(
    { json, configuration: m.configuration, nets, foldFolders, postprocessing: resolvePostprocessing(m), owned, v1UncroppedCascadeInput: m.v1UncroppedCascadeInput },
    () => {
      if (owned) for (const n of nets) n.dispose();
    },
  );
}

/** Forward GFLOP of one sliding-window network call of `model`: one tile, times its mirrorings with TTA. */
function callGflop(model: InferenceModel, mirroring: boolean): number {
  const mirrors = mirroring ? 2 ** model.patch.length : 1;
  return (forwardFlops(model.nets[0].architecture, model.patch, 1) * mirrors) / 1e9;
}

/**
 * Predict cases with the averaged folds of one trained configuration (v1 predict_from_folder). Writes
 * `<outputDir>/<case>.nii.gz` (uint8, the input's geometry) and, when asked, `<case>.npy` + `<case>.json`.
 * @example
 *   const r = await predictCases({ plans, configuration: '3d_fullres', modelFolder, input: 'imagesTs', outputDir: 'pred' });
 *   r.table();
 */
export async function predictCases(o: PredictCasesOptions): Promise<PredictionResult> {
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  const cfg = resolveConfiguration(json, o.configuration);
  const isCascade = o.configuration === '3d_cascade_fullres' || Boolean(cfg.previous_stage);
  // every input problem found before loading networks is still reported per case
  const inputs: { id: string; load: () => Promise<Volume[]>; key: () => string }[] = [];
  const numChannels = cfg.normalization_schemes.length;
  if (typeof o.input === 'string') {
    let cases = listInputCases(o.input);
    if (o.caseIds) {
      const missing = o.caseIds.filter((id) => !cases.some((c) => c.id === id));
      if (missing.length) throw new Error(`${o.input}: no input files for case(s) ${missing.join(', ')}`);
      cases = cases.filter((c) => o.caseIds?.includes(c.id));
    }
    if (cases.length === 0) throw new Error(`${o.input}: no .nii.gz cases found`);
    for (const c of cases) inputs.push({ id: c.id, load: () => loadInputCase(c, numChannels), key: () => filesKey(c.files) });
  } else {
    for (const c of o.input) {
      inputs.push({
        id: c.id,
        load: async () => {
          checkChannels(c.id, c.images, numChannels);
          return c.images;
        },
        key: () => volumesKey(c.images),
      });
    }
  }
  fs.mkdirSync(o.outputDir, { recursive: true });
  let previousStage: TrainedModel | null = null;
  if (o.previousStagePredictions && !isCascade) throw new Error(`predict ${o.configuration}: not a cascade, previousStagePredictions does not apply`);
  if (isCascade && !o.previousStagePredictions) {
    const prevName = cfg.previous_stage ?? '3d_lowres';
    const ps = o.previousStage;
    if (!ps || (!ps.modelFolder && !ps.foldFolders)) {
      throw new Error(`predict ${o.configuration}: the cascade needs the ${prevName} model (previousStage.modelFolder)`);
    }
    previousStage = { plans: ps.plans ?? o.plans, configuration: ps.configuration ?? prevName, checkpoint: o.checkpoint, folds: o.folds, ...ps } as TrainedModel;
  }
  // the networks are loaded on the first case that is not reused
  const foldFolders = o.networks
    ? o.foldFolders && o.foldFolders.length === o.networks.length
      ? o.foldFolders // names for in-memory networks (e.g. an imported model's folds)
      : o.networks.map((_, i) => `network_${i}`)
    : (o.foldFolders ?? findFoldFolders(requireModelFolder(o), o.folds, o.checkpoint));
  const postprocessing = resolvePostprocessing(o);
  const cache = o.reuse && !o.networks && !previousStage?.networks && !o.previousStagePredictions ? new PredictionCache(o.outputDir, predictionRunKey(o, foldFolders, postprocessing, previousStage)) : null;
  let model: InferenceModel | null = null;
  let lowres: InferenceModel | null = null;
  let tileWorkers: TileWorkers | null = null;
  const statuses: CaseStatus[] = [];
  try {
    const bar = o.progress === false ? null : progress(`predict ${o.configuration}`, inputs.length);
    for (const inp of inputs) {
      const t0 = Date.now();
      const segFile = path.join(o.outputDir, `${inp.id}.nii.gz`);
      const probFile = o.saveProbabilities ? path.join(o.outputDir, `${inp.id}.npy`) : undefined;
      if (o.skipExisting && fs.existsSync(segFile) && (!probFile || fs.existsSync(probFile))) {
        statuses.push({ id: inp.id, ok: true, file: segFile, probabilities: probFile, seconds: 0, skipped: true });
        bar?.tick(1, inp.id);
        continue;
      }
      const fail = (e: unknown) => {
        const msg = (e as Error).message;
        statuses.push({ id: inp.id, ok: false, error: msg.includes(inp.id) ? msg : `case ${inp.id}: ${msg}`, seconds: (Date.now() - t0) / 1000 });
      };
      let inputKey: string | null = null;
      try {
        inputKey = cache ? inp.key() : null;
      } catch (e) {
        fail(e);
        bar?.tick(1, inp.id);
        continue;
      }
      if (cache && inputKey && cache.isFresh(inp.id, inputKey, [segFile, probFile])) {
        statuses.push({ id: inp.id, ok: true, file: segFile, probabilities: probFile, seconds: 0, skipped: true, reused: true });
        bar?.tick(1, inp.id);
        continue;
      }
      // a model that cannot load fails the whole call (not each case)
      model ??= loadModel({ ...o, foldFolders });
      if (previousStage) lowres ??= loadModel(previousStage);
      const nTileWorkers = tileWorkers ? 0 : tileWorkerCount(o.tileWorkers, callGflop(model, o.mirroring !== false));
      if (nTileWorkers > 0) tileWorkers = await TileWorkers.start(nTileWorkers, tf.getBackend() as BackendName);
      try {
        await cache?.forget(inp.id);
        const images = await inp.load();
        const previousSegmentation = o.previousStagePredictions ? await readPreviousStageSegmentation(o.previousStagePredictions, inp.id, images[0]) : undefined;
        const { probs, properties, preprocess_s, predict_s } = await predictProbabilities(images, inp.id, model, lowres, {
          ...o,
          tileRunner: tileWorkers ?? undefined,
          previousSegmentation,
        });
        const te = performance.now();
        await exportPrediction({ segmentation: segFile, probabilities: probFile }, probs, properties, {
          transposeBackward: json.transpose_backward,
          postprocessing: model.postprocessing,
        });
        const timings = { preprocess_s, predict_s, export_s: (performance.now() - te) / 1000 };
        if (cache && inputKey) await cache.record(inp.id, inputKey);
        statuses.push({ id: inp.id, ok: true, file: segFile, probabilities: probFile, seconds: (Date.now() - t0) / 1000, timings });
      } catch (e) {
        fail(e);
      }
      bar?.tick(1, inp.id);
    }
    bar?.done();
  } finally {
    await tileWorkers?.close();
    if (model?.owned) for (const n of model.nets) n.dispose();
    if (lowres?.owned) for (const n of lowres.nets) n.dispose();
  }
  const result = new PredictionResult(
    o.outputDir,
    o.configuration,
    foldFolders.map((d) => path.basename(d)),
    statuses,
    postprocessing,
  );
  if (result.failed.length && o.throwOnError !== false) throw new PredictionError(result);
  return result;
}
