/**
 * The fluent layer: `Task` and its lazy steps.
 *
 *   await Task.load(dir).fingerprint().plan().fold(0)          // no intermediate awaits
 *   const task = await Task.load(dir);                          // the inspectable Task
 *   const plans = await task.plan();  await plans.preprocess('3d_fullres');
 *
 * Thin on purpose: every step calls the pure functions of sdk/io, sdk/fingerprint, sdk/planning,
 * sdk/preprocessing (and later training/inference) and caches their artifacts in nnU-Net's folders:
 *   <nnUNet_preprocessed>/<dataset folder>/dataset_fingerprint.json, <plans_name>.json, splits_final.json,
 *   <data_identifier>/...  and  <nnUNet_results>/<dataset folder>/...
 * Steps resolve to plain result objects (Dataset-backed Task, Fingerprint, Plans, Preprocessed, Fold); the
 * chain methods are also available on those resolved objects, so both styles work.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import { Step, child } from './chain';
import { loadDataset, type Dataset } from './io/dataset';
import { verifyDatasetIntegrity, type IntegrityReport } from './io/integrity';
import { computeFingerprint, loadFingerprint, saveFingerprint, Fingerprint } from './fingerprint/fingerprint';
import { planExperiment, type PlanOptions } from './planning/plan_experiment';
import { Plans, loadPlans, savePlans } from './planning/plans';
import { generateSplits, loadSplits, saveSplits, type Split } from './planning/splits';
import { preprocessConfiguration, Preprocessed, type PreprocessConfigurationOptions } from './preprocessing/preprocessed_dataset';
import { trainFold, type TrainFoldOptions, type TrainingResult } from './training/trainer';
import { loadTrainedNetwork } from './checkpoint/checkpoint';
import { predictNextStage } from './inference/cascade';
import { predictCases, type PredictCasesOptions, type PredictInputCase, type PredictionResult } from './inference/predict';
import { findBestConfigurationInResults, type FindBestOptions, type ModelSelectionResult } from './model_selection/consolidate';
import { initBackend } from './network/backend';
import { writeJsonAtomic } from './io/atomic';
import { configurationFolder, foldFolder, preprocessedFolder, resolveRoots, trainerNameFor } from './paths';

/** Training options of `fold(k).train(...)`: everything of trainFold that the fold does not already know. */
export type FoldTrainOptions = Partial<
  Omit<TrainFoldOptions, 'plans' | 'preprocessedDir' | 'trainCases' | 'valCases' | 'outputDir' | 'fold' | 'dataset'>
> & {
  /** default '3d_fullres' (nnU-Net's default), or '2d' when the plans have no 3D configuration */
  configuration?: string;
  /**
   * 3d_lowres only: skip predict_next_stage after validation (v1 run_training.py `--disable_next_stage_pred`).
   * By default, when the plans have a cascade, the fold's validation cases are predicted into
   * `<3d_lowres folder>/pred_next_stage/` (the cascade's input), as the official trainer does.
   */
  disableNextStagePrediction?: boolean;
};

export { trainerNameFor } from './paths';

export interface TaskOptions {
  /** Base folder for the nnU-Net roots when they are not given (default $NNUNET_WORK or ./nnunet_work). */
  workDir?: string;
  /** nnUNet_preprocessed root (default $nnUNet_preprocessed or <workDir>/nnUNet_preprocessed). */
  preprocessedRoot?: string;
  /** nnUNet_results root (default $nnUNet_results or <workDir>/nnUNet_results). */
  resultsRoot?: string;
  /** Worker threads for per-case work (default: cores available). */
  threads?: number;
  /** Run the integrity check when loading (nnU-Net's --verify_dataset_integrity); default false. */
  verify?: boolean;
}

export interface FingerprintStepOptions {
  /** recompute even if dataset_fingerprint.json exists */
  force?: boolean;
  threads?: number;
}

export type TaskPredictOptions = Omit<PredictCasesOptions, 'input' | 'plans' | 'configuration' | 'modelFolder'> & {
  /** default '3d_fullres' */
  configuration?: string;
  /** default 'nnUNetPlansv2.1' */
  plansName?: string;
};

export interface PlanStepOptions extends PlanOptions {
  /** recompute the fingerprint too */
  forceFingerprint?: boolean;
}

/** Where a task's artifacts live (nnU-Net v2's three roots). */
export interface TaskPaths {
  raw: string;
  /** <nnUNet_preprocessed>/<dataset folder> */
  preprocessed: string;
  /** <nnUNet_results>/<dataset folder> */
  results: string;
  preprocessedRoot: string;
  resultsRoot: string;
}

export function resolveTaskPaths(datasetDir: string, opts: TaskOptions = {}): TaskPaths {
  const roots = resolveRoots(opts);
  const preprocessedRoot = roots.preprocessed;
  const resultsRoot = roots.results;
  const folder = path.basename(path.resolve(datasetDir));
  return {
    raw: path.resolve(datasetDir),
    preprocessed: preprocessedFolder(preprocessedRoot, folder),
    results: path.join(resultsRoot, folder),
    preprocessedRoot,
    resultsRoot,
  };
}

/** The task a resolved Fingerprint / Plans belongs to (so they keep chaining). */
const owner = new WeakMap<object, Task>();

function taskOf(obj: object, what: string): Task {
  const t = owner.get(obj);
  if (!t) throw new Error(`${what} is not attached to a Task: create it through Task.load(dir)...`);
  return t;
}

/** One fold of the 5-fold cross-validation of a planned task. */
export class Fold {
  constructor(
    readonly task: Task,
    readonly plans: Plans,
    /** 0..4 (nnU-Net also knows 'all': train on every case) */
    readonly fold: number | 'all',
    /** training case ids of this fold (splits_final.json 'train') */
    readonly trainCases: string[],
    /** validation case ids of this fold (splits_final.json 'val') */
    readonly valCases: string[],
  ) {}

  summary(): string {
    return `fold ${this.fold} of ${this.task.name}: ${this.trainCases.length} training cases, ${this.valCases.length} validation cases`;
  }

  toString(): string {
    return this.summary();
  }

  /** `<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>` */
  configurationFolder(configuration: string): string {
    return configurationFolder(this.task.paths.resultsRoot, path.basename(this.task.paths.results), configuration, { plans: this.plans.plansName });
  }

  /** `<configuration folder>/fold_<k>` */
  outputDir(configuration: string): string {
    return foldFolder(this.configurationFolder(configuration), this.fold);
  }

  /**
   * Train one configuration on this fold as nnUNetTrainerV2 does (preprocessing it first if needed).
   * The cascade reads the 3d_lowres stage's out-of-fold predictions (`pred_next_stage/`) unless
   * `previousStageDir` is given.
   */
  async trainNow(opts: FoldTrainOptions = {}): Promise<TrainingResult> {
    const configuration = opts.configuration ?? (this.plans.hasConfiguration('3d_fullres') ? '3d_fullres' : '2d');
    if (!this.plans.hasConfiguration(configuration)) {
      throw new Error(`configuration '${configuration}' is not in the plans (${this.plans.configurationNames.join(', ')})`);
    }
    const pre = await this.task.preprocessWith(this.plans, configuration);
    // as nnU-Net, the model folder keeps the plans it was trained with (prediction reads them back, overrides included)
    await writeJsonAtomic(path.join(this.configurationFolder(configuration), 'plans.json'), this.plans.toJSON());
    let nextStage = opts.nextStage;
    if (configuration === '3d_lowres' && !nextStage && !opts.disableNextStagePrediction && this.plans.hasConfiguration('3d_cascade_fullres')) {
      const fullres = await this.task.preprocessWith(this.plans, '3d_fullres');
      nextStage = { fullresPreprocessedDir: fullres.dir, outputDir: this.predNextStageDir() };
    }
    let previousStageDir = opts.previousStageDir;
    if (configuration === '3d_cascade_fullres' && !previousStageDir) {
      previousStageDir = this.predNextStageDir();
      if (!fs.existsSync(previousStageDir)) {
        throw new Error(`3d_cascade_fullres needs the 3d_lowres predictions in ${previousStageDir}: train 3d_lowres on all folds first`);
      }
    }
    return trainFold({
      ...opts,
      configuration,
      plans: this.plans,
      preprocessedDir: pre.dir,
      trainCases: this.trainCases,
      valCases: this.valCases,
      outputDir: this.outputDir(configuration),
      fold: this.fold,
      dataset: this.task.dataset,
      previousStageDir,
      nextStage,
      trainerName: opts.trainerName ?? trainerNameFor(configuration),
    });
  }

  /** `<3d_lowres configuration folder>/pred_next_stage`: the cascade's previous-stage segmentations. */
  predNextStageDir(): string {
    return path.join(this.configurationFolder('3d_lowres'), 'pred_next_stage');
  }

  /**
   * predict_next_stage with this fold's trained 3d_lowres model for `cases` (default: the fold's validation cases,
   * which training already did). nnU-Net fills pred_next_stage out-of-fold by training 3d_lowres on all 5 folds;
   * predicting this fold's *training* cases instead is in-sample (optimistic cascade input) and only meant for
   * short demonstrations with one fold.
   */
  async predictNextStage(opts: { cases?: readonly string[]; mirroring?: boolean; progress?: boolean } = {}): Promise<string[]> {
    if (!this.plans.hasConfiguration('3d_cascade_fullres')) throw new Error(`the plans ${this.plans.plansName} have no cascade (no 3d_lowres stage)`);
    const low = await this.task.preprocessWith(this.plans, '3d_lowres');
    const full = await this.task.preprocessWith(this.plans, '3d_fullres');
    const modelDir = this.outputDir('3d_lowres');
    const net = loadTrainedNetwork(modelDir);
    try {
      return await predictNextStage({
        net,
        plans: this.plans,
        configuration: '3d_lowres',
        lowresPreprocessedDir: low.dir,
        fullresPreprocessedDir: full.dir,
        caseIds: opts.cases ?? this.valCases,
        outputDir: this.predNextStageDir(),
        numClasses: net.architecture.numClasses,
        mirroring: opts.mirroring,
        progress: opts.progress,
      });
    } finally {
      net.dispose();
    }
  }

  /** Lazy form of trainNow (chains like every step). */
  train(opts: FoldTrainOptions = {}): TrainingStep {
    return new TrainingStep(`train(${opts.configuration ? JSON.stringify(opts.configuration) : ''})`, () => this.trainNow(opts));
  }

  table(): aq.ColumnTable {
    return aq.table({
      case: [...this.trainCases, ...this.valCases],
      subset: [...this.trainCases.map(() => 'train'), ...this.valCases.map(() => 'val')],
    });
  }
}

export class Task {
  readonly paths: TaskPaths;

  constructor(
    readonly dataset: Dataset,
    readonly options: TaskOptions = {},
  ) {
    this.paths = resolveTaskPaths(dataset.dir, options);
  }

  /** Lazily load a raw task folder (MSD/v1 or v2 layout). Nothing is read until awaited. */
  static load(dir: string, options: TaskOptions = {}): TaskStep {
    return new TaskStep(`Task.load(${JSON.stringify(dir)})`, async () => {
      if (!fs.existsSync(dir)) throw new Error(`${dir}: no such task folder`);
      const task = new Task(loadDataset(dir), options);
      if (options.verify) await task.verify({ throwOnError: true });
      return task;
    });
  }

  get name(): string {
    return this.dataset.name;
  }
  get dir(): string {
    return this.dataset.dir;
  }
  get channels(): string[] {
    return [...this.dataset.channelNames];
  }
  get labels(): Record<string, number> {
    return { ...this.dataset.labels };
  }
  get caseIds(): string[] {
    return this.dataset.cases.map((c) => c.id);
  }

  summary(): string {
    return [
      this.dataset.summary(),
      `  nnUNet_preprocessed: ${this.paths.preprocessed}`,
      `  nnUNet_results: ${this.paths.results}`,
    ].join('\n');
  }

  toString(): string {
    return this.summary();
  }

  /** One row per training case: id, image files, label file. */
  table(): aq.ColumnTable {
    const rel = (f?: string) => (f ? path.relative(this.dir, f) : '');
    return aq.table({
      case: this.dataset.cases.map((c) => c.id),
      images: this.dataset.cases.map((c) => c.imageFiles.map(rel).join(', ')),
      label: this.dataset.cases.map((c) => rel(c.labelFile)),
    });
  }

  /** nnU-Net's --verify_dataset_integrity; every problem names its case and file. */
  verify(opts: { throwOnError?: boolean } = {}): Promise<IntegrityReport> {
    return verifyDatasetIntegrity(this.dataset, opts);
  }

  get fingerprintFile(): string {
    return path.join(this.paths.preprocessed, 'dataset_fingerprint.json');
  }

  /** dataset_fingerprint.json: computed over worker threads, or reused when it covers the same cases. */
  fingerprint(opts: FingerprintStepOptions = {}): FingerprintStep {
    return new FingerprintStep('fingerprint()', async () => {
      let fp: Fingerprint | null = null;
      if (!opts.force && fs.existsSync(this.fingerprintFile)) {
        const cached = loadFingerprint(this.fingerprintFile);
        const same = JSON.stringify(cached.json.case_identifiers) === JSON.stringify(this.caseIds);
        if (same) fp = cached;
      }
      if (!fp) {
        fp = await computeFingerprint(this.dataset, { threads: opts.threads ?? this.options.threads });
        await saveFingerprint(fp, this.fingerprintFile);
      }
      owner.set(fp, this);
      return fp;
    });
  }

  /** Fingerprint (cached) then plan. */
  plan(opts: PlanStepOptions = {}): PlansStep {
    return this.fingerprint({ force: opts.forceFingerprint }).plan(opts);
  }

  /** Plans from a fingerprint; planning is pure and fast, so it always runs and the file is rewritten only if it changed. */
  async planFrom(fp: Fingerprint, opts: PlanOptions = {}): Promise<Plans> {
    const plans = planExperiment(fp.json, { datasetName: path.basename(this.dir), ...opts });
    const file = path.join(this.paths.preprocessed, `${plans.plansName}.json`);
    const text = JSON.stringify(plans.toJSON());
    const old = fs.existsSync(file) ? JSON.stringify(loadPlans(file).toJSON()) : null;
    if (old !== text) await savePlans(plans, file);
    owner.set(plans, this);
    return plans;
  }

  get splitsFile(): string {
    return path.join(this.paths.preprocessed, 'splits_final.json');
  }

  /** splits_final.json: reused when it exists (as nnU-Net does), else the official 5-fold KFold split. */
  async splits(): Promise<Split[]> {
    if (fs.existsSync(this.splitsFile)) {
      const s = loadSplits(this.splitsFile);
      const known = new Set(this.caseIds);
      const unknown = s.flatMap((f) => [...f.train, ...f.val]).find((id) => !known.has(id));
      if (unknown) throw new Error(`${this.splitsFile}: case '${unknown}' is not in ${this.dir}; delete the file to regenerate the split`);
      return s;
    }
    const s = generateSplits(this.caseIds);
    await saveSplits(s, this.splitsFile);
    return s;
  }

  async foldOf(plans: Plans, k: number | 'all'): Promise<Fold> {
    if (k === 'all') return new Fold(this, plans, 'all', this.caseIds, this.caseIds);
    const s = await this.splits();
    if (!Number.isInteger(k) || k < 0 || k >= s.length) {
      throw new Error(`fold ${k} does not exist: ${this.splitsFile} has folds 0..${s.length - 1} (or use 'all')`);
    }
    return new Fold(this, plans, k, [...s[k].train], [...s[k].val]);
  }

  /** `<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>` */
  modelFolder(configuration: string, plansName = 'nnUNetPlansv2.1'): string {
    return configurationFolder(this.paths.resultsRoot, path.basename(this.paths.results), configuration, { plans: plansName });
  }

  /**
   * Predict new cases (a folder of `<case>_0000.nii.gz` / `<case>.nii.gz`, or volumes in memory) with a trained
   * configuration of this task: every trained fold (or `folds`) averaged, mirroring TTA, the configuration's
   * postprocessing.json applied, NIfTI written with each input's exact geometry. The plans are the ones the model
   * was trained with (`<model folder>/plans.json`).
   */
  predict(input: string | PredictInputCase[], opts: TaskPredictOptions): PredictionStep {
    return new PredictionStep(`predict(${typeof input === 'string' ? JSON.stringify(input) : `${input.length} cases`})`, async () => {
      const configuration = opts.configuration ?? '3d_fullres';
      const modelFolder = this.modelFolder(configuration, opts.plansName);
      const plansFile = path.join(modelFolder, 'plans.json');
      if (!fs.existsSync(plansFile)) throw new Error(`${modelFolder}: no trained model (plans.json missing): train '${configuration}' first`);
      const plans = loadPlans(plansFile);
      await initBackend();
      const { configuration: _c, plansName: _p, ...rest } = opts;
      let previousStage = opts.previousStage;
      if (configuration === '3d_cascade_fullres' && !previousStage) {
        const lowFolder = this.modelFolder('3d_lowres', opts.plansName);
        previousStage = { modelFolder: lowFolder, plans: loadPlans(path.join(lowFolder, 'plans.json')), configuration: '3d_lowres' };
      }
      return predictCases({ ...rest, input, plans, configuration, modelFolder, previousStage });
    });
  }

  /**
   * nnUNet_find_best_configuration over this task's trained configurations: consolidated cross-validation of each,
   * every pair ensemble, with and without postprocessing; reports the best and how to predict with it.
   */
  findBestConfiguration(opts: Partial<FindBestOptions> = {}): Step<ModelSelectionResult> {
    return new Step('findBestConfiguration()', async () => {
      const gtDir = opts.gtDir ?? path.join(this.dir, 'labelsTr');
      return findBestConfigurationInResults(this.paths.results, { ...opts, gtDir });
    });
  }

  /** Preprocess one configuration into <nnUNet_preprocessed>/<dataset>/<data_identifier>/ (resumable). */
  preprocessWith(plans: Plans, configuration: string, opts: PreprocessConfigurationOptions = {}): Promise<Preprocessed> {
    return preprocessConfiguration(this.dataset, plans, configuration, {
      threads: this.options.threads,
      outDir: this.paths.preprocessedRoot,
      datasetFolder: path.basename(this.paths.preprocessed),
      ...opts,
    });
  }
}

// ---- lazy steps ------------------------------------------------------------------------------------------

export class TaskStep extends Step<Task> {
  predict(input: string | PredictInputCase[], opts: TaskPredictOptions): PredictionStep {
    return child(this, 'predict()', PredictionStep, (t) => t.predict(input, opts));
  }
  findBestConfiguration(opts: Partial<FindBestOptions> = {}): Step<ModelSelectionResult> {
    return child(this, 'findBestConfiguration()', Step as new (n: string, c: () => Promise<ModelSelectionResult>, p?: Step<unknown>) => Step<ModelSelectionResult>, (t) =>
      t.findBestConfiguration(opts),
    );
  }
  fingerprint(opts: FingerprintStepOptions = {}): FingerprintStep {
    return child(this, 'fingerprint()', FingerprintStep, (t) => t.fingerprint(opts));
  }
  plan(opts: PlanStepOptions = {}): PlansStep {
    return this.fingerprint({ force: opts.forceFingerprint }).plan(opts);
  }
  verify(opts: { throwOnError?: boolean } = {}): Step<IntegrityReport> {
    return child(this, 'verify()', Step as new (n: string, c: () => Promise<IntegrityReport>, p?: Step<unknown>) => Step<IntegrityReport>, (t) =>
      t.verify(opts),
    );
  }
}

export class FingerprintStep extends Step<Fingerprint> {
  plan(opts: PlanOptions = {}): PlansStep {
    return child(this, 'plan()', PlansStep, (fp) => taskOf(fp, 'Fingerprint').planFrom(fp, opts));
  }
}

export class PlansStep extends Step<Plans> {
  preprocess(configuration: string, opts: PreprocessConfigurationOptions = {}): PreprocessedStep {
    return child(this, `preprocess(${JSON.stringify(configuration)})`, PreprocessedStep, (p) =>
      taskOf(p, 'Plans').preprocessWith(p, configuration, opts),
    );
  }
  fold(k: number | 'all'): FoldStep {
    return child(this, `fold(${JSON.stringify(k)})`, FoldStep, (p) => taskOf(p, 'Plans').foldOf(p, k));
  }
  override(overrides: Parameters<Plans['override']>[0]): PlansStep {
    return child(this, 'override()', PlansStep, (p) => {
      const o = p.override(overrides);
      owner.set(o, taskOf(p, 'Plans'));
      return o;
    });
  }
}

export class PreprocessedStep extends Step<Preprocessed> {}

export class FoldStep extends Step<Fold> {
  /** `await Task.load(dir).fingerprint().plan().fold(0).train({configuration: '2d', epochs: 10})` */
  train(opts: FoldTrainOptions = {}): TrainingStep {
    return child(this, `train(${opts.configuration ? JSON.stringify(opts.configuration) : ''})`, TrainingStep, (f) => f.trainNow(opts));
  }
}

export class TrainingStep extends Step<TrainingResult> {}

export class PredictionStep extends Step<PredictionResult> {}

// ---- the same chain methods on resolved objects -------------------------------------------------------------

declare module './fingerprint/fingerprint' {
  interface Fingerprint {
    /** Plan from this fingerprint (needs a Fingerprint obtained through a Task). */
    plan(opts?: PlanOptions): PlansStep;
  }
}
declare module './planning/plans' {
  interface Plans {
    /** Preprocess one configuration (needs Plans obtained through a Task). */
    preprocess(configuration: string, opts?: PreprocessConfigurationOptions): PreprocessedStep;
    /** One cross-validation fold (needs Plans obtained through a Task). */
    fold(k: number | 'all'): FoldStep;
  }
}

Fingerprint.prototype.plan = function (this: Fingerprint, opts: PlanOptions = {}): PlansStep {
  return new PlansStep('plan()', () => taskOf(this, 'Fingerprint').planFrom(this, opts));
};
Plans.prototype.preprocess = function (this: Plans, configuration: string, opts: PreprocessConfigurationOptions = {}) {
  return new PreprocessedStep(`preprocess(${JSON.stringify(configuration)})`, () => taskOf(this, 'Plans').preprocessWith(this, configuration, opts));
};
Plans.prototype.fold = function (this: Plans, k: number | 'all') {
  return new FoldStep(`fold(${JSON.stringify(k)})`, () => taskOf(this, 'Plans').foldOf(this, k));
};
// Overridden plans stay attached to the task they came from.
const originalOverride = Plans.prototype.override;
Plans.prototype.override = function (this: Plans, overrides) {
  const o = originalOverride.call(this, overrides);
  const t = owner.get(this);
  if (t) owner.set(o, t);
  return o;
};
// Plans obtained through a Task know the dataset's classes, so network() includes the exact parameter count.
const originalNetwork = Plans.prototype.network;
Plans.prototype.network = function (this: Plans, name: string, opts: { numClasses?: number; numInputChannels?: number } = {}) {
  const t = owner.get(this);
  const filled = t ? { numClasses: t.dataset.numClasses, numInputChannels: undefined, ...opts } : opts;
  return originalNetwork.call(this, name, filled);
};
