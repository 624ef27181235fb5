/**
 * Cross-validation consolidation and model selection on a results tree:
 *  - `consolidateFolds` = v1 postprocessing/consolidate_postprocessing.py `consolidate_folds`: every fold's
 *    validation_raw/*.nii.gz pooled into cv_niftis_raw (with the matching references in gt_niftis), evaluated
 *    (cv_niftis_raw/summary.json), postprocessing determined on the pooled folds (postprocessing.json +
 *    cv_niftis_postprocessed/).
 *  - `findBestConfigurationInResults` = v1 evaluation/model_selection/figure_out_what_to_submit.py (+ ensemble.py):
 *    every trained configuration consolidated and scored by the mean foreground Dice of cv_niftis_raw; every pair
 *    ensembled from the saved validation probabilities (mean, argmax, evaluate, its own postprocessing); the best
 *    picked by the pure `findBestConfiguration`; summary.csv and inference instructions written.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import { writeFileAtomicIfChanged, writeJsonAtomicIfChanged } from '../io/atomic';
import { progress } from '../util/progress';
import { ensembleProbabilityFiles } from '../ensembling/ensemble';
import { addForegroundMean, EvaluationResults, foregroundMeanDice, readSummaryJson } from '../evaluation/evaluator';
import { evaluateFolder, niftiFilesIn } from '../evaluation/folders';
import { determinePostprocessingFolder } from '../postprocessing/folders';
import type { PostprocessingJson } from '../postprocessing/connected_components';
import { configurationFolderName, foldFolder, SUMMARY_FILE, VALIDATION_FOLDER, validationFolder } from '../paths';
import {
  configurationPairs,
  ensembleName,
  findBestConfiguration,
  modelSelectionCsv,
  V1_CONFIGURATIONS,
  V1_DEFAULT_CASCADE_TRAINER,
  V1_DEFAULT_PLANS,
  V1_DEFAULT_TRAINER,
  BestConfiguration,
} from './model_selection';

export interface ConsolidateOptions {
  /** folds to pool (default 0..4, as v1) */
  folds?: (number | 'all')[];
  /** per-fold prediction folder (default 'validation_raw') */
  validationFolderName?: string;
  advancedPostprocessing?: boolean;
}

export interface ConsolidationResult {
  configurationFolder: string;
  cvNiftisRaw: string;
  cvNiftisPostprocessed: string;
  gtNiftis: string;
  /** evaluation of cv_niftis_raw (with the foreground 'mean' entry) */
  raw: EvaluationResults;
  /** mean foreground Dice of cv_niftis_raw (the model-selection score) */
  meanForegroundDice: number;
  postprocessing: PostprocessingJson;
  postprocessingFile: string;
}

function copyAtomic(src: string, dst: string): void {
  const tmp = `${dst}.tmp-${process.pid}`;
  fs.copyFileSync(src, tmp);
  fs.renameSync(tmp, dst);
}

function freshDir(d: string): void {
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d, { recursive: true });
}

/** Labels 0..K-1 of a fold's validation summary.json (its results.mean keys). */
function labelsFromSummary(file: string): number[] {
  const s = readSummaryJson(file);
  return Object.keys(s.results.mean)
    .filter((k) => k !== 'mean')
    .map(Number)
    .filter((k) => Number.isInteger(k) && k >= 0)
    .sort((a, b) => a - b);
}

/**
 * v1 consolidate_folds: pool the folds' validation predictions of one configuration folder
 * (`<trainer>__<plans>__<configuration>`), evaluate them against `gtDir` (`<case>.nii.gz` reference labels) and
 * determine the postprocessing on all folds together.
 */
export async function consolidateFolds(configurationFolder: string, gtDir: string, opts: ConsolidateOptions = {}): Promise<ConsolidationResult> {
  const folds = opts.folds ?? [0, 1, 2, 3, 4];
  const valName = opts.validationFolderName ?? VALIDATION_FOLDER;
  const cvRaw = path.join(configurationFolder, 'cv_niftis_raw');
  const gtOut = path.join(configurationFolder, 'gt_niftis');
  freshDir(cvRaw);
  freshDir(gtOut);
  let labels: number[] | null = null;
  const seen = new Map<string, number | 'all'>();
  for (const k of folds) {
    const dir = validationFolder(foldFolder(configurationFolder, k), valName);
    const summary = path.join(dir, SUMMARY_FILE);
    if (!fs.existsSync(summary)) throw new Error(`${summary}: missing (fold ${k} is not trained and validated)`);
    const l = labelsFromSummary(summary);
    if (labels && l.join() !== labels.join()) throw new Error(`${summary}: labels [${l}] differ from the other folds' [${labels}]`);
    labels = l;
    // v1 asserts that every validation case of the fold was predicted: the summary lists them
    const expected = readSummaryJson(summary).results.all.map((c) => path.basename(String(c.test ?? '')));
    const files = niftiFilesIn(dir);
    const missing = expected.filter((f) => f && !files.includes(f));
    if (missing.length) throw new Error(`${dir}: predictions missing for ${missing.join(', ')} (listed in its summary.json)`);
    for (const f of files) {
      const prev = seen.get(f);
      if (prev !== undefined) throw new Error(`${path.join(dir, f)}: case also predicted by fold ${prev} (folds must not overlap)`);
      seen.set(f, k);
      const gt = path.join(gtDir, f);
      if (!fs.existsSync(gt)) throw new Error(`${gt}: reference label missing for ${path.join(dir, f)}`);
      copyAtomic(path.join(dir, f), path.join(cvRaw, f));
      copyAtomic(gt, path.join(gtOut, f));
    }
  }
  if (!labels || seen.size === 0) throw new Error(`${configurationFolder}: no validation predictions in folds ${folds.join(', ')}`);
  const raw = await evaluateFolder(gtOut, cvRaw, labels, { json: { name: `${path.basename(configurationFolder)} cv` } });
  addForegroundMean(raw);
  const pp = await determinePostprocessingFolder(configurationFolder, gtOut, {
    rawSubfolder: 'cv_niftis_raw',
    finalSubfolder: 'cv_niftis_postprocessed',
    classes: labels.filter((l) => l !== 0),
    advancedPostprocessing: opts.advancedPostprocessing,
  });
  return {
    configurationFolder,
    cvNiftisRaw: cvRaw,
    cvNiftisPostprocessed: path.join(configurationFolder, 'cv_niftis_postprocessed'),
    gtNiftis: gtOut,
    raw,
    meanForegroundDice: foregroundMeanDice(raw),
    postprocessing: pp.postprocessing,
    postprocessingFile: path.join(configurationFolder, 'postprocessing.json'),
  };
}

export interface FindBestOptions {
  /** reference labels `<case>.nii.gz` (e.g. the raw task's labelsTr) */
  gtDir: string;
  /** candidates in v1 order (default 2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres: those trained) */
  configurations?: string[];
  folds?: (number | 'all')[];
  plans?: string;
  trainer?: string;
  cascadeTrainer?: string;
  /** --disable_ensembling */
  disableEnsembling?: boolean;
  /** reuse an existing cv_niftis_raw/summary.json instead of consolidating again */
  reuse?: boolean;
}

export interface EnsembleEvaluation {
  name: string;
  members: [string, string];
  folder: string;
  raw: EvaluationResults;
  meanForegroundDice: number;
  postprocessing: PostprocessingJson;
}

export interface InferenceInstructions {
  best: string;
  isEnsemble: boolean;
  configurations: string[];
  folds: (number | 'all')[];
  plans: string;
  commands: string[];
  postprocessingFile: string;
}

export class ModelSelectionResult {
  constructor(
    readonly resultsDir: string,
    readonly selection: BestConfiguration,
    readonly configurations: Record<string, ConsolidationResult>,
    readonly ensembles: EnsembleEvaluation[],
    readonly instructions: InferenceInstructions | null,
    readonly summaryCsv: string,
    /** per candidate the per-class mean Dice (results.mean with the foreground 'mean') */
    readonly meanDice: Record<string, Record<string, { Dice: number }>>,
  ) {}

  get best(): string | null {
    return this.selection.best;
  }

  /** One row per candidate: per-class Dice and the foreground average, as summary.csv. */
  table(): aq.ColumnTable {
    const names = this.selection.scores.map(([n]) => n);
    const classes = new Set<string>();
    for (const n of names) for (const k of Object.keys(this.meanDice[n] ?? {})) if (k !== 'mean' && k !== '0') classes.add(k);
    const cols: Record<string, unknown[]> = {
      model: names,
      score: this.selection.scores.map(([, s]) => s),
      best: names.map((n) => n === this.selection.best),
    };
    for (const c of [...classes].sort((a, b) => Number(a) - Number(b))) cols[`class${c}`] = names.map((n) => this.meanDice[n]?.[c]?.Dice ?? NaN);
    return aq.table(cols);
  }

  summary(): string {
    return [
      `model selection in ${this.resultsDir}:`,
      ...this.selection.scores.map(([n, s]) => `  ${n === this.selection.best ? '*' : ' '} ${n}: ${s.toFixed(4)}`),
      this.instructions ? `predict with:\n  ${this.instructions.commands.join('\n  ')}` : 'no best candidate (a score is NaN)',
    ].join('\n');
  }

  toString(): string {
    return this.summary();
  }
}

export { configurationFolderName } from '../paths';

function foldsComplete(folder: string, folds: (number | 'all')[]): boolean {
  return folds.every((k) => fs.existsSync(path.join(validationFolder(foldFolder(folder, k)), SUMMARY_FILE)));
}

/** v1 ensemble.py for one pair: merge each fold's validation probabilities, evaluate, determine postprocessing. */
async function evaluateEnsemble(
  resultsDir: string,
  m1: string,
  m2: string,
  gtNiftis: string,
  labels: number[],
  folds: (number | 'all')[],
  names: { plans?: string; trainer?: string; cascadeTrainer?: string },
): Promise<EnsembleEvaluation> {
  const name = ensembleName(m1, m2, names);
  const folder = path.join(resultsDir, 'ensembles', name);
  const out = path.join(folder, 'ensembled_raw');
  freshDir(out);
  const f1 = path.join(resultsDir, configurationFolderName(m1, names));
  const f2 = path.join(resultsDir, configurationFolderName(m2, names));
  const jobs: [string, string, string][] = [];
  for (const k of folds) {
    const d1 = validationFolder(foldFolder(f1, k));
    const d2 = validationFolder(foldFolder(f2, k));
    for (const f of niftiFilesIn(d1)) {
      const id = f.replace(/\.nii\.gz$/, '');
      const p1 = path.join(d1, `${id}.npy`);
      const p2 = path.join(d2, `${id}.npy`);
      for (const p of [p1, p2]) {
        if (!fs.existsSync(p)) throw new Error(`${p}: validation probabilities missing (train/validate with saveProbabilities to ensemble ${name})`);
      }
      jobs.push([p1, p2, path.join(out, f)]);
    }
  }
  const bar = progress(`ensemble ${m1}+${m2}`, jobs.length);
  for (const [p1, p2, o] of jobs) {
    await ensembleProbabilityFiles([p1, p2], o);
    bar.tick(1, path.basename(o));
  }
  bar.done();
  const raw = await evaluateFolder(gtNiftis, out, labels, { json: { name } });
  addForegroundMean(raw);
  const pp = await determinePostprocessingFolder(folder, gtNiftis, {
    rawSubfolder: 'ensembled_raw',
    finalSubfolder: 'ensembled_postprocessed',
    classes: labels.filter((l) => l !== 0),
  });
  return { name, members: [m1, m2], folder, raw, meanForegroundDice: foregroundMeanDice(raw), postprocessing: pp.postprocessing };
}

/**
 * v1 nnUNet_find_best_configuration on `<nnUNet_results>/<dataset>`: consolidate every trained configuration, score,
 * ensemble every pair, pick the best, write `<resultsDir>/summary.csv`, `inference_instructions.txt` and
 * `inference_instructions.json`.
 * @example
 *   const best = await findBestConfigurationInResults('nnUNet_results/Task06_Lung', { gtDir: 'nnUNet_raw/Task06_Lung/labelsTr' });
 *   best.table();
 */
export async function findBestConfigurationInResults(resultsDir: string, o: FindBestOptions): Promise<ModelSelectionResult> {
  const folds = o.folds ?? [0, 1, 2, 3, 4];
  const names = { plans: o.plans, trainer: o.trainer, cascadeTrainer: o.cascadeTrainer };
  const candidates = o.configurations ?? [...V1_CONFIGURATIONS];
  const consolidated: Record<string, ConsolidationResult> = {};
  const valid: string[] = [];
  for (const c of candidates) {
    const folder = path.join(resultsDir, configurationFolderName(c, names));
    if (!fs.existsSync(folder) || !foldsComplete(folder, folds)) {
      // v1 skips configurations that are not trained on all folds (prints and continues), unless asked for explicitly
      if (o.configurations) throw new Error(`${folder}: configuration ${c} is not trained and validated on folds ${folds.join(', ')}`);
      continue;
    }
    consolidated[c] = await consolidateFolds(folder, o.gtDir, { folds });
    valid.push(c);
  }
  if (valid.length === 0) throw new Error(`${resultsDir}: no configuration trained on folds ${folds.join(', ')}`);
  const meanDice: Record<string, Record<string, { Dice: number }>> = {};
  const confScores: [string, number][] = valid.map((c) => {
    meanDice[c] = consolidated[c].raw.mean as Record<string, { Dice: number }>;
    return [c, consolidated[c].meanForegroundDice];
  });
  const ensembles: EnsembleEvaluation[] = [];
  if (!o.disableEnsembling) {
    const labels = Object.keys(consolidated[valid[0]].raw.mean)
      .filter((k) => k !== 'mean')
      .map(Number)
      .sort((a, b) => a - b);
    for (const [m1, m2] of configurationPairs(valid)) {
      const e = await evaluateEnsemble(resultsDir, m1, m2, consolidated[valid[0]].gtNiftis, labels, folds, names);
      ensembles.push(e);
      meanDice[e.name] = e.raw.mean as Record<string, { Dice: number }>;
    }
  }
  const selection = findBestConfiguration(
    confScores,
    ensembles.map((e) => [e.name, e.meanForegroundDice] as [string, number]),
  );
  const numFg = Object.keys(meanDice[valid[0]]).filter((k) => k !== 'mean' && k !== '0').length;
  const csv = modelSelectionCsv(meanDice, numFg);
  // unchanged results keep their timestamps (the protocol's test prediction is keyed on them)
  await writeFileAtomicIfChanged(path.join(resultsDir, 'summary.csv'), csv);
  let instructions: InferenceInstructions | null = null;
  if (selection.best) {
    const plans = o.plans ?? V1_DEFAULT_PLANS;
    const fl = folds.join(' ');
    const configs = selection.members ?? [selection.best];
    const e = ensembles.find((x) => x.name === selection.best);
    const commands = configs.map(
      (c) => `nnunet-ts predict -i INPUT_FOLDER -o OUTPUT_FOLDER${selection.isEnsemble ? `_${c}` : ''} -t TASK_DIR -c ${c} -f ${fl}${plans !== V1_DEFAULT_PLANS ? ` -p ${plans}` : ''}${selection.isEnsemble ? ' --save-probabilities' : ''}`,
    );
    const ppFile = e ? path.join(e.folder, 'postprocessing.json') : consolidated[selection.best].postprocessingFile;
    if (selection.isEnsemble) {
      commands.push(`nnunet-ts ensemble -i ${configs.map((c) => `OUTPUT_FOLDER_${c}`).join(' ')} -o OUTPUT_FOLDER --postprocessing-file ${ppFile}`);
    }
    instructions = { best: selection.best, isEnsemble: selection.isEnsemble, configurations: configs, folds, plans, commands, postprocessingFile: ppFile };
    await writeFileAtomicIfChanged(
      path.join(resultsDir, 'inference_instructions.txt'),
      `Best: ${selection.best} (mean foreground Dice ${selection.bestScore.toFixed(4)} on the pooled ${folds.length}-fold cross-validation)\n\n` +
        `Run inference like this:\n\n${commands.join('\n')}\n`,
    );
    await writeJsonAtomicIfChanged(path.join(resultsDir, 'inference_instructions.json'), instructions);
  }
  return new ModelSelectionResult(resultsDir, selection, consolidated, ensembles, instructions, csv, meanDice);
}
