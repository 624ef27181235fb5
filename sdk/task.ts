/**
 * The fluent layer: `Task` and the objects its steps resolve to.
 *
 *   await Task.load(dir).fingerprint().plan().fold(0).train()   // no intermediate awaits
 *   const task = await Task.load(dir);                           // the inspectable Task
 *   const plans = await task.plan();  await plans.preprocess('3d_fullres');
 *
 * Thin on purpose: every step calls the pure functions of sdk/io, sdk/fingerprint, sdk/planning, sdk/preprocessing,
 * sdk/training and sdk/inference and caches their artifacts in nnU-Net's folders:
 *   <nnUNet_preprocessed>/<dataset folder>/dataset_fingerprint.json, <plans_name>.json, splits_final.json,
 *   <data_identifier>/...  and  <nnUNet_results>/<dataset folder>/...
 * Each step is one method of the object it continues (Task, TaskFingerprint, TaskPlans, Fold), returning a lazy
 * step (sdk/chain.ts); a pending step offers the same methods, so both styles above work. TaskFingerprint and
 * TaskPlans are the fingerprint and plans bound to their task (plain Fingerprint / Plans, e.g. from loadPlans, have
 * no steps). What each step caches and what invalidates it: README, "What is cached".
 *
 * One file because the fluent objects reference each other (Task → TaskPlans → Fold) and are read together.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import { lazy, stepName, type Lazy } from './chain';
import { loadDataset, type Dataset } from './io/dataset';
import { verifyDatasetIntegrity, type IntegrityReport } from './io/integrity';
import { computeFingerprint, loadFingerprint, saveFingerprint, Fingerprint } from './fingerprint/fingerprint';
import { planExperiment, type PlanOptions } from './planning/plan_experiment';
import { Plans, type PlansJSON } from './planning/plans';
import { loadPlans, savePlans } from './planning/plans_files';
import { generateSplits, loadSplits, saveSplits, type Split } from './planning/splits';
import { preprocessConfiguration, Preprocessed, type PreprocessConfigurationOptions } from './preprocessing/preprocessed_dataset';
import { trainFold, type TrainFoldOptions, type TrainingResult } from './training/trainer';
import { checkpointFile, loadTrainedNetwork } from './checkpoint/checkpoint';
import { nextStageUpToDate, predictNextStage } from './inference/cascade';
import { predictCases, type PredictCasesOptions, type PredictInputCase, type PredictionResult } from './inference/predict';
import { findBestConfigurationInResults, type FindBestOptions, type ModelSelectionResult } from './model_selection/consolidate';
import { initBackend } from './network/backend';
import { writeJsonAtomic, writeJsonAtomicIfChanged } from './io/atomic';
import { filesKey } from './io/files_key';
import { Protocol, protocolSpecFor, type ProtocolOptions } from './protocol/protocol';
import { configurationFolder, foldFolder, preprocessedFolder, resolveRoots, trainerNameFor } from './paths';

/** Training options of `fold(k).train(...)`: everything of trainFold that the fold does not already know. */
export type FoldTrainOptions = Partial<
  Omit<TrainFoldOptions, 'plans' | 'preprocessedDir' | 'trainCases' | 'valCases' | 'outputDir' | 'fold' | 'dataset'>
> & {
  /** default '3d_fullres' (nnU-Net's default), or '2d' when the plans have no 3D configuration */
  configuration?: string;
  /**
   * Retrain even when this fold finished earlier with the same settings (by default such a run is reused, and an
   * interrupted one resumes from its latest checkpoint: `resume: 'auto'`).
   */
  force?: boolean;
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
  /** predict every case again (by default a case made earlier from the same input, model and settings is reused) */
  force?: boolean;
};

export interface NextStageOptions {
  /** default: the fold's validation cases */
  cases?: readonly string[];
  mirroring?: boolean;
  progress?: boolean;
  /** predict again even when every file is newer than the 3d_lowres checkpoint */
  force?: boolean;
}

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

export class Task {
  readonly paths: TaskPaths;

  constructor(
    readonly dataset: Dataset,
    readonly options: TaskOptions = {},
    /** How this task was made (the start of every chain's name in errors), e.g. `Task.load("…")`. */
    readonly origin = `Task.load(${JSON.stringify(dataset.dir)})`,
  ) {
    this.paths = resolveTaskPaths(dataset.dir, options);
  }

  /**
   * Lazily load a raw task folder (MSD/v1 or v2 layout). Nothing is read until awaited.
   * @example
   *   const fold = await Task.load('nnUNet_raw/Task06_Lung').fingerprint().plan().fold(0);
   *   const result = await fold.train({ configuration: '3d_fullres' });   // reused when already trained
   */
  static load(dir: string, options: TaskOptions = {}): Lazy<Task> {
    const name = `Task.load(${JSON.stringify(dir)})`;
    return lazy(name, async () => {
      if (!fs.existsSync(dir)) throw new Error(`${dir}: no such task folder`);
      const task = new Task(loadDataset(dir), options, name);
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
  get fingerprintFile(): string {
    return path.join(this.paths.preprocessed, 'dataset_fingerprint.json');
  }
  get splitsFile(): string {
    return path.join(this.paths.preprocessed, 'splits_final.json');
  }

  summary(): string {
    return [this.dataset.summary(), `  nnUNet_preprocessed: ${this.paths.preprocessed}`, `  nnUNet_results: ${this.paths.results}`].join('\n');
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

  /** `<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>` */
  modelFolder(configuration: string, plansName = 'nnUNetPlansv2.1'): string {
    return configurationFolder(this.paths.resultsRoot, path.basename(this.paths.results), configuration, { plans: plansName });
  }

  /** nnU-Net's --verify_dataset_integrity; every problem names its case and file. Not cached (it reads the raw data). */
  verify(opts: { throwOnError?: boolean } = {}): Lazy<IntegrityReport> {
    return lazy('verify()', () => verifyDatasetIntegrity(this.dataset, opts), this.origin);
  }

  /** dataset_fingerprint.json: computed over worker threads, or reused when it covers the same cases (`force` recomputes). */
  fingerprint(opts: FingerprintStepOptions = {}): Lazy<TaskFingerprint> {
    return lazy('fingerprint()', async () => new TaskFingerprint(this, await fingerprintOf(this, opts)), this.origin);
  }

  /**
   * The plans (nnU-Net v2.1 planners by default; `preset` for v2's), from the cached fingerprint. Planning is pure
   * and fast: it always runs, and `<plans_name>.json` is rewritten only when it changed.
   * @example
   *   const plans = await task.plan({ gpuMemoryTargetGB: 11 });
   *   plans.table();   plans.network('3d_fullres').table;
   */
  plan(opts: PlanStepOptions = {}): Lazy<TaskPlans> {
    return lazy(
      stepName('plan', [opts]),
      async () => {
        const fp = new TaskFingerprint(this, await fingerprintOf(this, { force: opts.forceFingerprint }));
        return planOf(fp, opts);
      },
      this.origin,
    );
  }

  /** splits_final.json: reused when it exists (as nnU-Net does), else the official 5-fold KFold split. */
  splits(): Lazy<Split[]> {
    return lazy('splits()', () => splitsOf(this), this.origin);
  }

  /**
   * Predict new cases (a folder of `<case>_0000.nii.gz` / `<case>.nii.gz`, or volumes in memory) with a trained
   * configuration of this task: every trained fold (or `folds`) averaged, mirroring TTA, the configuration's
   * postprocessing.json applied, NIfTI written with each input's exact geometry. The plans are the ones the model
   * was trained with (`<model folder>/plans.json`). A case predicted earlier from the same input, model and settings
   * is reused (`force: true` predicts again).
   * @example
   *   const r = await task.predict('nnUNet_raw/Task06_Lung/imagesTs', { configuration: '3d_fullres', outputDir: 'pred' });
   *   r.table();
   */
  predict(input: string | PredictInputCase[], opts: TaskPredictOptions): Lazy<PredictionResult> {
    const shown = typeof input === 'string' ? JSON.stringify(input) : `${input.length} cases`;
    return lazy(
      `predict(${shown})`,
      async () => {
        const configuration = opts.configuration ?? '3d_fullres';
        const modelFolder = this.modelFolder(configuration, opts.plansName);
        const plansFile = path.join(modelFolder, 'plans.json');
        if (!fs.existsSync(plansFile)) throw new Error(`${modelFolder}: no trained model (plans.json missing): train '${configuration}' first`);
        const plans = loadPlans(plansFile);
        await initBackend();
        const { configuration: _c, plansName: _p, force, ...rest } = opts;
        let previousStage = opts.previousStage;
        if (configuration === '3d_cascade_fullres' && !previousStage) {
          const lowFolder = this.modelFolder('3d_lowres', opts.plansName);
          previousStage = { modelFolder: lowFolder, plans: loadPlans(path.join(lowFolder, 'plans.json')), configuration: '3d_lowres' };
        }
        return predictCases({ reuse: !force, ...rest, input, plans, configuration, modelFolder, previousStage });
      },
      this.origin,
    );
  }

  /**
   * nnUNet_find_best_configuration over this task's trained configurations: consolidated cross-validation of each,
   * every pair ensemble, with and without postprocessing; reports the best and how to predict with it.
   */
  /**
   * The reproduction protocol of this task as a job graph (sdk/protocol): plan_and_preprocess, every configuration
   * on every fold, the cascade's previous stage, model selection and test prediction. `.run({ jobs })` runs it here,
   * `.submit({...})` on Slurm; `.figure()` draws it with each step's state.
   */
  protocol(opts: ProtocolOptions = {}): Protocol {
    return new Protocol(protocolSpecFor(this, opts), () => this.caseIds);
  }

  findBestConfiguration(opts: Partial<FindBestOptions> = {}): Lazy<ModelSelectionResult> {
    return lazy(
      'findBestConfiguration()',
      async () => {
        const gtDir = opts.gtDir ?? path.join(this.dir, 'labelsTr');
        return findBestConfigurationInResults(this.paths.results, { ...opts, gtDir });
      },
      this.origin,
    );
  }
}

/** The dataset fingerprint of a task (a Fingerprint that knows its task, so it can plan). */
export class TaskFingerprint extends Fingerprint {
  constructor(
    readonly task: Task,
    fingerprint: Fingerprint,
  ) {
    super(fingerprint.json);
  }

  /** `Task.load(...) → fingerprint()` */
  get origin(): string {
    return `${this.task.origin} → fingerprint()`;
  }

  /** Plans from this fingerprint (see Task.plan). */
  plan(opts: PlanOptions = {}): Lazy<TaskPlans> {
    return lazy(stepName('plan', [opts]), () => planOf(this, opts), this.origin);
  }
}

/** The plans of a task: Plans that know their task, so they preprocess and give folds. */
export class TaskPlans extends Plans {
  constructor(
    readonly task: Task,
    json: PlansJSON,
    /** the chain that made these plans, e.g. `Task.load(...) → plan()` */
    readonly origin: string,
  ) {
    super(json);
  }

  /**
   * New plans with configuration overrides (patch size, batch size, ...), still bound to the task. Give them their
   * own `plansName` (nnU-Net v2's custom plans identifiers) when they should train into their own model folders
   * (`<trainer>__<plansName>__<configuration>`) instead of replacing the original plans' runs.
   * @example
   *   const small = plans.override({ '2d': { batch_size: 8 } }, { plansName: 'nnUNetPlansv2.1_bs8' });
   */
  override override(overrides: Parameters<Plans['override']>[0], opts: { plansName?: string } = {}): TaskPlans {
    const json = super.override(overrides).json;
    if (opts.plansName !== undefined) {
      if (!/^[A-Za-z0-9_.-]+$/.test(opts.plansName)) throw new Error(`override: plansName '${opts.plansName}' must be a folder-safe name`);
      json.plans_name = opts.plansName;
    }
    return new TaskPlans(this.task, json, `${this.origin} → override()`);
  }

  /** The network of a configuration; the task's classes and channels are known, so the parameter count is exact. */
  override network(name: string, opts: { numClasses?: number; numInputChannels?: number } = {}): ReturnType<Plans['network']> {
    return super.network(name, { numClasses: this.task.dataset.numClasses, ...opts });
  }

  /** Preprocess one configuration into <nnUNet_preprocessed>/<dataset>/<data_identifier>/ (cached per case, resumable). */
  preprocess(configuration: string, opts: PreprocessConfigurationOptions = {}): Lazy<Preprocessed> {
    return lazy(stepName('preprocess', [configuration]), () => preprocessFor(this, configuration, opts), this.origin);
  }

  /** One fold of the 5-fold cross-validation (splits_final.json), or 'all' (train on every case). */
  fold(k: number | 'all'): Lazy<Fold> {
    return lazy(stepName('fold', [k]), () => foldOf(this, k), this.origin);
  }
}

/** One fold of the 5-fold cross-validation of a planned task. */
export class Fold {
  constructor(
    readonly plans: TaskPlans,
    /** 0..4 (nnU-Net also knows 'all': train on every case) */
    readonly fold: number | 'all',
    /** training case ids of this fold (splits_final.json 'train') */
    readonly trainCases: string[],
    /** validation case ids of this fold (splits_final.json 'val') */
    readonly valCases: string[],
  ) {}

  get task(): Task {
    return this.plans.task;
  }

  /** `Task.load(...) → plan() → fold(k)` */
  get origin(): string {
    return `${this.plans.origin} → fold(${JSON.stringify(this.fold)})`;
  }

  summary(): string {
    return `fold ${this.fold} of ${this.task.name}: ${this.trainCases.length} training cases, ${this.valCases.length} validation cases`;
  }

  toString(): string {
    return this.summary();
  }

  table(): aq.ColumnTable {
    return aq.table({
      case: [...this.trainCases, ...this.valCases],
      subset: [...this.trainCases.map(() => 'train'), ...this.valCases.map(() => 'val')],
    });
  }

  /** `<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>` */
  configurationFolder(configuration: string): string {
    return configurationFolder(this.task.paths.resultsRoot, path.basename(this.task.paths.results), configuration, { plans: this.plans.plansName });
  }

  /** `<configuration folder>/fold_<k>` */
  outputDir(configuration: string): string {
    return foldFolder(this.configurationFolder(configuration), this.fold);
  }

  /** `<3d_lowres configuration folder>/pred_next_stage`: the cascade's previous-stage segmentations. */
  predNextStageDir(): string {
    return path.join(this.configurationFolder('3d_lowres'), 'pred_next_stage');
  }

  /**
   * Train one configuration on this fold as nnUNetTrainerV2 does (preprocessing it first if needed). A run that
   * finished earlier with the same settings is reused, an interrupted one resumes; `force: true` retrains.
   * The cascade reads the 3d_lowres stage's out-of-fold predictions (`pred_next_stage/`) unless `previousStageDir`
   * is given.
   * @example
   *   const r = await fold.train({ configuration: '2d', epochs: 50 });
   *   r.plot();   r.validation?.meanDice;
   */
  train(opts: FoldTrainOptions = {}): Lazy<TrainingResult> {
    return lazy(stepName('train', [opts]), () => trainFoldOf(this, opts), this.origin);
  }

  /**
   * predict_next_stage with this fold's trained 3d_lowres model for `cases` (default: the fold's validation cases,
   * which training already did). nnU-Net fills pred_next_stage out-of-fold by training 3d_lowres on all 5 folds;
   * predicting this fold's *training* cases instead is in-sample (optimistic cascade input) and only meant for
   * short demonstrations with one fold.
   */
  predictNextStage(opts: NextStageOptions = {}): Lazy<string[]> {
    return lazy(stepName('predictNextStage', [opts]), () => nextStageOf(this, opts), this.origin);
  }
}

// ---- the steps' work (module functions: the public objects above only expose lazy steps) ---------------------

/** Key of every raw training file of the task (a rewritten image or label invalidates the fingerprint). */
function rawFilesKey(task: Task): string {
  return filesKey(task.dataset.cases.flatMap((c) => [...c.imageFiles, ...(c.labelFile ? [c.labelFile] : [])]));
}

async function fingerprintOf(task: Task, opts: FingerprintStepOptions): Promise<Fingerprint> {
  // the raw files' key lives beside dataset_fingerprint.json, which keeps nnU-Net's schema
  const inputsFile = task.fingerprintFile.replace(/\.json$/, '.inputs.json');
  const key = rawFilesKey(task);
  if (!opts.force && fs.existsSync(task.fingerprintFile) && fs.existsSync(inputsFile)) {
    const cached = loadFingerprint(task.fingerprintFile);
    let recorded: string | null = null;
    try {
      recorded = (JSON.parse(fs.readFileSync(inputsFile, 'utf8')) as { raw_files_key?: string }).raw_files_key ?? null;
    } catch {
      recorded = null;
    }
    if (recorded === key && JSON.stringify(cached.json.case_identifiers) === JSON.stringify(task.caseIds)) return cached;
  }
  const fp = await computeFingerprint(task.dataset, { threads: opts.threads ?? task.options.threads });
  await saveFingerprint(fp, task.fingerprintFile);
  await writeJsonAtomic(inputsFile, { raw_files_key: key, note: 'nnunet-ts: key (path, size, mtime) of the raw files dataset_fingerprint.json was computed from' });
  return fp;
}

async function planOf(fp: TaskFingerprint, opts: PlanOptions): Promise<TaskPlans> {
  const task = fp.task;
  const plans = planExperiment(fp.json, { datasetName: path.basename(task.dir), ...opts });
  const file = path.join(task.paths.preprocessed, `${plans.plansName}.json`);
  const text = JSON.stringify(plans.toJSON());
  const old = fs.existsSync(file) ? JSON.stringify(loadPlans(file).toJSON()) : null;
  if (old !== text) await savePlans(plans, file);
  return new TaskPlans(task, plans.json, `${fp.origin} → plan()`);
}

async function splitsOf(task: Task): Promise<Split[]> {
  if (fs.existsSync(task.splitsFile)) {
    const s = loadSplits(task.splitsFile);
    const known = new Set(task.caseIds);
    const unknown = s.flatMap((f) => [...f.train, ...f.val]).find((id) => !known.has(id));
    if (unknown) throw new Error(`${task.splitsFile}: case '${unknown}' is not in ${task.dir}; delete the file to regenerate the split`);
    return s;
  }
  const s = generateSplits(task.caseIds);
  await saveSplits(s, task.splitsFile);
  return s;
}

function preprocessFor(plans: TaskPlans, configuration: string, opts: PreprocessConfigurationOptions = {}): Promise<Preprocessed> {
  const task = plans.task;
  return preprocessConfiguration(task.dataset, plans, configuration, {
    threads: task.options.threads,
    outDir: task.paths.preprocessedRoot,
    datasetFolder: path.basename(task.paths.preprocessed),
    ...opts,
  });
}

async function foldOf(plans: TaskPlans, k: number | 'all'): Promise<Fold> {
  const task = plans.task;
  if (k === 'all') return new Fold(plans, 'all', task.caseIds, task.caseIds);
  const s = await splitsOf(task);
  if (!Number.isInteger(k) || k < 0 || k >= s.length) {
    throw new Error(`fold ${k} does not exist: ${task.splitsFile} has folds 0..${s.length - 1} (or use 'all')`);
  }
  return new Fold(plans, k, [...s[k].train], [...s[k].val]);
}

async function trainFoldOf(fold: Fold, opts: FoldTrainOptions): Promise<TrainingResult> {
  const plans = fold.plans;
  const configuration = opts.configuration ?? (plans.hasConfiguration('3d_fullres') ? '3d_fullres' : '2d');
  if (!plans.hasConfiguration(configuration)) {
    throw new Error(`configuration '${configuration}' is not in the plans (${plans.configurationNames.join(', ')})`);
  }
  const pre = await preprocessFor(plans, configuration);
  // as nnU-Net, the model folder keeps the plans it was trained with (prediction reads them back, overrides included)
  await writeJsonAtomicIfChanged(path.join(fold.configurationFolder(configuration), 'plans.json'), plans.toJSON());
  let nextStage = opts.nextStage;
  if (configuration === '3d_lowres' && !nextStage && !opts.disableNextStagePrediction && plans.hasConfiguration('3d_cascade_fullres')) {
    const fullres = await preprocessFor(plans, '3d_fullres');
    nextStage = { fullresPreprocessedDir: fullres.dir, outputDir: fold.predNextStageDir() };
  }
  let previousStageDir = opts.previousStageDir;
  if (configuration === '3d_cascade_fullres' && !previousStageDir) {
    previousStageDir = fold.predNextStageDir();
    if (!fs.existsSync(previousStageDir)) {
      throw new Error(`3d_cascade_fullres needs the 3d_lowres predictions in ${previousStageDir}: train 3d_lowres on all folds first`);
    }
  }
  const { force, ...rest } = opts;
  return trainFold({
    resume: force ? false : 'auto',
    ...rest,
    configuration,
    plans,
    preprocessedDir: pre.dir,
    trainCases: fold.trainCases,
    valCases: fold.valCases,
    outputDir: fold.outputDir(configuration),
    fold: fold.fold,
    dataset: fold.task.dataset,
    previousStageDir,
    nextStage,
    trainerName: opts.trainerName ?? trainerNameFor(configuration),
  });
}

async function nextStageOf(fold: Fold, opts: NextStageOptions): Promise<string[]> {
  const plans = fold.plans;
  if (!plans.hasConfiguration('3d_cascade_fullres')) throw new Error(`the plans ${plans.plansName} have no cascade (no 3d_lowres stage)`);
  const cases = opts.cases ?? fold.valCases;
  const model = checkpointFile(fold.outputDir('3d_lowres'), 'checkpoint_final');
  if (!opts.force && nextStageUpToDate(fold.predNextStageDir(), cases, model)) {
    return cases.map((id) => path.join(fold.predNextStageDir(), `${id}_segFromPrevStage.npy`));
  }
  const low = await preprocessFor(plans, '3d_lowres');
  const full = await preprocessFor(plans, '3d_fullres');
  const net = loadTrainedNetwork(fold.outputDir('3d_lowres'));
  try {
    return await predictNextStage({
      net,
      plans,
      configuration: '3d_lowres',
      lowresPreprocessedDir: low.dir,
      fullresPreprocessedDir: full.dir,
      caseIds: cases,
      outputDir: fold.predNextStageDir(),
      numClasses: net.architecture.numClasses,
      mirroring: opts.mirroring,
      progress: opts.progress,
    });
  } finally {
    net.dispose();
  }
}

