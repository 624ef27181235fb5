/**
 * The training loop of nnU-Net v1's nnUNetTrainerV2 (S1 training/network_training/nnUNetTrainerV2.py,
 * nnUNetTrainer.py, network_trainer.py::run_training / on_epoch_end / save_checkpoint / validate;
 * nnUNetTrainerV2_CascadeFullRes.py; cascade_stuff/predict_next_stage.py; reference §6, §7, §8, §10.1–10.3, A.3–A.5)
 * over the building blocks in sdk/training, sdk/network and sdk/inference:
 *
 *   per epoch e:  lr = poly(e) -> `iterationsPerEpoch` SGD steps on augmented batches (BatchGenerator workers run
 *                 ahead) -> `validationIterations` batches without augmentation (loss + online tp/fp/fn) ->
 *                 global pseudo-Dice, moving average, log line, checkpoints
 *   at the end:   checkpoint_final, then full sliding-window validation of the held-out cases exported to the raw
 *                 geometry (fold_k/validation_raw/<case>.nii.gz) and summary.json.
 *
 * Determinism: every batch is a function of (seed, epoch, iteration, train|val) only: the loader's RandomState is
 * reseeded per batch and each epoch gets its own BatchGenerator whose per-batch augmentation seeds come from a
 * RandomState seeded with (seed, epoch, split). So batches never depend on worker timing, and an interrupted run
 * resumed from a checkpoint sees exactly the batches the uninterrupted run saw. The network is initialised from a
 * seed derived from the base seed.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as aq from 'arquero';
import * as tf from '@tensorflow/tfjs';
import { readJsonSync } from '../io/atomic';
import { readNpy, writeNpy } from '../io/npy';
import type { Dataset } from '../io/dataset';
import { readNifti, writeNifti } from '../io/nifti';
import type { Volume } from '../io/volume';
import { determinePostprocessing, PostprocessingCase, PostprocessingJson, writePostprocessingJson } from '../evaluation/connected_components';
import { Plans, PlansConfiguration, PlansJSON, resolveConfiguration } from '../planning/plans';
import { GenericUNet, initialValues } from '../network/generic_unet';
import { buildArchitecture } from '../network/architecture';
import { loadNetwork } from '../network/weights';
import { backendInfo, initBackend, useNativeConv3d } from '../network/backend';
import { predictSlidingWindow, argmaxClasses } from '../inference/sliding_window';
import { tfjsPatchPredictor } from '../inference/tfjs_predictor';
import { exportPrediction } from '../inference/export';
import { aggregateScoresLazy, makeSummaryJson, writeSummaryJson, SummaryJson } from '../evaluation/evaluator';
import { resampleChannel } from '../preprocessing/resampling';
import type { StoredProperties } from '../preprocessing/preprocessed_dataset';
import { RandomState } from '../util/random';
import { progress } from '../util/progress';
import { defaultThreads } from '../util/pool';
import { trainingCurves } from '../viz/training_curves';
import type { Figure } from '../viz/figure';
import { DataLoader2D, DataLoader3D, CaseProvider, NpyFolderCaseProvider, PreprocessedCase, LoaderBatch } from './data_loader';
import { setupDAParams, MoreDAParams } from './patch_size';
import { BatchGenerator, BatchSource } from './batch_generator';
import { dcAndCeLoss, deepSupervisionWeights, multipleOutputLoss } from './dice_ce_loss';
import { batchToTensors } from './tensors';
import { clipGradNorm, polyLR, SGDNesterov } from './optimizer';
import { OnlineEvaluation, EvalCriterionMovingAverage } from './online_evaluation';
import { AugBatch } from './transforms/base';
import { accumulateGradients, chunkedValidationLoss } from './accumulation';
import { GradientWorkers } from './data_parallel';
import {
  checkIdentity,
  checkpointFile,
  CheckpointIdentity,
  findResumeCheckpoint,
  readCheckpoint,
  removeCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
  TrainerState,
} from './checkpoint';
import { readTrainingLog, TrainingLogEntry, writeTrainingLog } from './training_log';
import { configurationFolder, DEFAULT_TRAINER, foldFolder, predNextStageFolder, SUMMARY_FILE, trainerNameFor, validationFolder } from '../paths';

/** nnUNetTrainerV2 constants (S1 nnUNetTrainerV2.__init__ / nnUNetTrainer.__init__). */
export const V2_MAX_NUM_EPOCHS = 1000;
export const V2_ITERATIONS_PER_EPOCH = 250; // num_batches_per_epoch
export const V2_VALIDATION_ITERATIONS = 50; // num_val_batches_per_epoch
export const V2_INITIAL_LR = 0.01;
export const V2_GRAD_CLIP = 12; // clip_grad_norm_(..., 12)
export const V2_SAVE_EVERY = 50; // network_trainer.save_every
export const V2_OVERSAMPLE_FOREGROUND = 0.33; // nnUNetTrainer.oversample_foreground_percent
/** nnUNetTrainerV2.on_epoch_end: at this epoch, a metric of exactly 0 lowers momentum to 0.95 and re-initialises. */
export const V2_MOMENTUM_RESCUE_EPOCH = 100;
export const V2_MOMENTUM_RESCUE_VALUE = 0.95;

export interface EpochInfo {
  entry: TrainingLogEntry;
  log: readonly TrainingLogEntry[];
  maxEpochs: number;
}

export interface IterationInfo {
  epoch: number;
  iteration: number;
  split: 'train' | 'val';
  loss: number;
  /** tf.memory().numTensors after the step (tests check it stays flat). */
  numTensors: number;
  /** Seconds this iteration waited for its augmented batch (training iterations). */
  waitS: number;
  /** Seconds of the step itself (forward, backward, clip, SGD update; or the validation forward). */
  stepS: number;
}

export interface TrainFoldOptions {
  plans: Plans | PlansJSON;
  /** '2d' | '3d_fullres' | '3d_lowres' | '3d_cascade_fullres' (any configuration of the plans). */
  configuration: string;
  /** Preprocessed folder of this configuration (<id>.npy, <id>_seg.npy, <id>.json), or sdk/preprocessing's handle. */
  preprocessedDir: string | { dir: string };
  trainCases: readonly string[];
  valCases: readonly string[];
  /** `<nnUNet_results>/<dataset>/<trainer>__<plans>__<configuration>/fold_<k>/` (created). */
  outputDir: string;
  fold: number | 'all';
  /** Raw dataset: validation reads the reference labels from it (else from the properties' seg_file). */
  dataset?: Dataset | null;
  /** Default 1000. */
  epochs?: number;
  /** Default 250. */
  iterationsPerEpoch?: number;
  /** Default 50. */
  validationIterations?: number;
  /** Override of the plans batch size (applied after reading the plans, as a user override). */
  batchSize?: number;
  /** Override of the plans patch size. */
  patchSize?: number[];
  /** Base seed (default 12345). */
  seed?: number;
  /** Augmentation worker threads (default 2; 0 runs augmentation inline). */
  numThreads?: number;
  /** Save checkpoint_latest every N epochs (default 50 = v1 save_every). */
  checkpointEvery?: number;
  /** Save checkpoint_best whenever the moving average improves (v1 default true). */
  saveBest?: boolean;
  /** true: continue from the latest checkpoint (error if none); 'auto': continue if one exists. Default false. */
  resume?: boolean | 'auto';
  /** Full validation of valCases after training (default true). */
  validate?: boolean;
  /** Mirroring TTA in the final validation (default true). */
  mirroring?: boolean;
  /** Also write validation_raw/<case>.npy (+ .json) float16 probabilities for ensembling. */
  saveProbabilities?: boolean;
  /** Called after every epoch (live plots). */
  onEpoch?: (info: EpochInfo) => void | Promise<void>;
  /** Called after every training/validation iteration. */
  onIteration?: (info: IterationInfo) => void;
  /**
   * true (default): seeded; false without a seed: a random base seed (recorded in the checkpoint). Batches are a
   * function of the seed in both cases.
   */
  deterministic?: boolean;
  /** Stop (as if killed) after this many epochs of this call; checkpoints/logs are as written by then. Tests. */
  stopAfterEpochs?: number;
  /** Cascade: folder with `<case>_segFromPrevStage.npy` (the previous stage's pred_next_stage). */
  previousStageDir?: string;
  /** Trainer name recorded in checkpoints (default nnUNetTrainerV2, or nnUNetTrainerV2CascadeFullRes). */
  trainerName?: string;
  /** Number of classes including background (default from the preprocessed folder's foreground classes). */
  numClasses?: number;
  /** Terminal progress bar (default true). */
  progress?: boolean;
  /**
   * 3d_lowres with a next stage (run_training.py): after validation, predict this fold's validation cases for the
   * cascade (predictNextStage) into `outputDir` (normally predNextStageDir(...)), at the full-res preprocessed shapes.
   */
  nextStage?: { fullresPreprocessedDir: string; outputDir: string };
  /** After validation, decide largest-component postprocessing on this fold (v1 validate default true). */
  determinePostprocessing?: boolean;
  /** Initial learning rate (default 0.01). */
  initialLr?: number;
  /**
   * Samples per forward/backward chunk; gradients are accumulated exactly over the chunks (accumulation.ts).
   * 'auto' (default): chunks on the wasm backend sized to stay inside its 4 GB heap, whole batches elsewhere.
   */
  microBatchSize?: number | 'auto';
  /**
   * Worker threads that each compute the gradients of a share of every batch on their own wasm/cpu backend instance
   * (data parallelism, data_parallel.ts): the batch is split into 1 + N shards. 'auto' (default): cores - 1, at most
   * 3, on wasm/cpu (tfjs-wasm uses one core; the official trainer's torch uses them all); 0 = this thread only.
   * Ignored on native TensorFlow, which uses every core itself. The gradients equal the single-thread ones up to
   * float summation order; a run is reproducible for a fixed N (resume with the same N).
   */
  gradientWorkers?: number | 'auto';
}

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

/** The outcome of trainFold: log, metrics, paths; `.table()` and `.plot()` for notebooks. */
export class TrainingResult {
  constructor(
    readonly outputDir: string,
    readonly configuration: string,
    readonly fold: number | 'all',
    readonly log: TrainingLogEntry[],
    readonly checkpoint: string,
    readonly validation: ValidationResult | null,
    /** Wall seconds of the training epochs run by this call (not counting validation). */
    readonly trainSeconds: number,
    readonly stoppedEarly: boolean,
  ) {}

  get logFile(): string {
    return path.join(this.outputDir, 'training_log.jsonl');
  }

  /** Final online pseudo-Dice per class (last epoch). */
  get finalPseudoDice(): number[] {
    return this.log.length ? this.log[this.log.length - 1].pseudo_dice.slice() : [];
  }

  /** One row per epoch. */
  table(): aq.ColumnTable {
    const nC = Math.max(0, ...this.log.map((e) => e.pseudo_dice.length));
    const cols: Record<string, unknown[]> = {
      epoch: this.log.map((e) => e.epoch),
      train_loss: this.log.map((e) => e.train_loss),
      val_loss: this.log.map((e) => e.val_loss),
      mean_pseudo_dice: this.log.map((e) => e.mean_pseudo_dice),
      ema: this.log.map((e) => e.ema),
      lr: this.log.map((e) => e.lr),
      epoch_time: this.log.map((e) => e.epoch_time),
      wait_augmentation_s: this.log.map((e) => e.wait_augmentation_s),
    };
    for (let c = 0; c < nC; c++) cols[`pseudo_dice_${c + 1}`] = this.log.map((e) => e.pseudo_dice[c] ?? NaN);
    return aq.table(cols);
  }

  /** nnU-Net style progress figure (loss, pseudo-Dice, EMA, epoch time, lr). */
  plot(opts: { classNames?: string[] } = {}): Figure {
    return trainingCurves(this.log, { title: `${this.configuration} fold ${this.fold}`, classNames: opts.classNames });
  }

  summary(): string {
    const last = this.log[this.log.length - 1];
    const lines = [
      `training ${this.configuration} fold ${this.fold}: ${this.log.length} epochs in ${this.outputDir}`,
      last
        ? `  last epoch ${last.epoch}: train loss ${last.train_loss.toFixed(4)}, val loss ${last.val_loss.toFixed(4)}, ` +
          `pseudo Dice [${last.pseudo_dice.map((d) => d.toFixed(3)).join(', ')}], EMA ${last.ema.toFixed(4)}`
        : '  no epochs',
    ];
    if (this.validation) {
      lines.push(
        `  validation: ${Object.entries(this.validation.meanDice)
          .map(([k, v]) => `Dice ${k} ${v.toFixed(4)}`)
          .join(', ')} (${this.validation.summaryFile})`,
      );
    }
    return lines.join('\n');
  }

  toString(): string {
    return this.summary();
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// seeds

/** 32-bit mix (murmur3 finaliser) of (seed, epoch, iteration, split) -> RandomState seed. */
export function deriveSeed(seed: number, epoch: number, iteration: number, split: number): number {
  let h = 0x9e3779b9 ^ (seed >>> 0);
  for (const v of [epoch, iteration, split]) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

const SPLIT_TRAIN = 1;
const SPLIT_VAL = 2;
const SPLIT_AUG_TRAIN = 3;
const SPLIT_AUG_VAL = 4;
const SPLIT_INIT = 5;

/** Reseeds the loader per batch so batch k of (epoch, split) only depends on the seed. */
class SeededBatchSource implements BatchSource {
  private k = 0;
  constructor(
    private readonly loader: DataLoader3D | DataLoader2D,
    private readonly seed: number,
    private readonly epoch: number,
    private readonly split: number,
  ) {}
  generateTrainBatch(): Promise<LoaderBatch> {
    this.loader.rng.setState(new RandomState(deriveSeed(this.seed, this.epoch, this.k++, this.split)).getState());
    return this.loader.generateTrainBatch();
  }
}

/** Adds `segFromPrevStage` (cascade) from a pred_next_stage folder to the cases of another provider. */
export class PrevStageCaseProvider implements CaseProvider {
  private cache = new Map<string, PreprocessedCase>();
  constructor(private readonly inner: CaseProvider, readonly prevStageDir: string) {}
  get caseIds(): readonly string[] {
    return this.inner.caseIds;
  }
  async load(id: string): Promise<PreprocessedCase> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const c = await this.inner.load(id);
    const seg = readSegFromPrevStage(this.prevStageDir, id, c.shape.slice(1));
    const out = { ...c, segFromPrevStage: seg };
    this.cache.set(id, out);
    return out;
  }
}

function readSegFromPrevStage(dir: string, id: string, spatial: readonly number[]): Uint8Array {
  const f = path.join(dir, `${id}_segFromPrevStage.npy`);
  if (!fs.existsSync(f)) throw new Error(`cascade: ${f} is missing (run predictNextStage for the 3d_lowres fold that validates ${id})`);
  const a = readNpy(f);
  const sp = a.shape.length === 4 ? a.shape.slice(1) : a.shape;
  if (sp.join() !== spatial.join()) throw new Error(`${f}: shape [${a.shape}] does not match the preprocessed case [${spatial}]`);
  return a.data instanceof Uint8Array ? a.data : Uint8Array.from(a.data as ArrayLike<number>);
}

// ---------------------------------------------------------------------------------------------------------------------
// setup

interface Setup {
  cfg: PlansConfiguration;
  plansName: string;
  datasetName: string;
  transposeBackward: number[];
  numClasses: number;
  numImageChannels: number;
  cascade: boolean;
  params: MoreDAParams;
  dim: 2 | 3;
}

function readPreprocessingMeta(dir: string): { foregroundClasses: number[] } | null {
  const f = path.join(dir, 'preprocessing.json');
  if (!fs.existsSync(f)) return null;
  const m = readJsonSync<{ settings?: { foregroundClasses?: number[] } }>(f);
  return m.settings?.foregroundClasses ? { foregroundClasses: m.settings.foregroundClasses } : null;
}

function caseProps(dir: string, id: string): StoredProperties {
  const f = path.join(dir, `${id}.json`);
  if (!fs.existsSync(f)) throw new Error(`${dir}: no preprocessed case '${id}' (${f} missing)`);
  return readJsonSync<StoredProperties>(f);
}

/** `<results>/<dataset>/<trainer>__<plans>__<configuration>/fold_<k>` (nnU-Net's results layout). */
export function foldOutputDir(
  resultsRoot: string,
  datasetName: string,
  plansName: string,
  configuration: string,
  fold: number | 'all',
  trainer = trainerNameFor(configuration),
): string {
  return foldFolder(configurationFolder(resultsRoot, datasetName, configuration, { plans: plansName, trainer, cascadeTrainer: trainer }), fold);
}

/** v1's pred_next_stage folder of a 3d_lowres trainer (input of the cascade). */
export function predNextStageDir(resultsRoot: string, datasetName: string, plansName: string, trainer = DEFAULT_TRAINER): string {
  return predNextStageFolder(resultsRoot, datasetName, plansName, trainer);
}

function setupRun(o: TrainFoldOptions & { preprocessedDir: string }): Setup {
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  let cfg = resolveConfiguration(json, o.configuration);
  if (o.batchSize !== undefined) cfg = { ...cfg, batch_size: o.batchSize };
  if (o.patchSize !== undefined) cfg = { ...cfg, patch_size: o.patchSize.slice() };
  const dim = cfg.patch_size.length as 2 | 3;
  if (!fs.existsSync(o.preprocessedDir)) throw new Error(`trainFold: preprocessed folder ${o.preprocessedDir} does not exist`);
  if (o.trainCases.length === 0) throw new Error('trainFold: no training cases');
  let numClasses = o.numClasses;
  if (numClasses === undefined) {
    const meta = readPreprocessingMeta(o.preprocessedDir);
    if (!meta) throw new Error(`trainFold: ${path.join(o.preprocessedDir, 'preprocessing.json')} missing; pass numClasses`);
    const fg = meta.foregroundClasses.slice().sort((a, b) => a - b);
    if (fg.some((l, i) => l !== i + 1)) throw new Error(`trainFold: labels must be consecutive 1..K (nnU-Net v1), got [${fg}]`);
    numClasses = fg.length + 1;
  }
  const props = caseProps(o.preprocessedDir, o.trainCases[0]);
  const numImageChannels = props.data_shape[0];
  const cascade = o.previousStageDir !== undefined;
  const cascadeLabels = cascade ? Array.from({ length: numClasses - 1 }, (_, i) => i + 1) : undefined;
  const params = setupDAParams({
    patchSize: cfg.patch_size,
    poolOpKernelSizes: cfg.pool_op_kernel_sizes,
    doDummy2DAug: dim === 3 ? cfg.do_dummy_2D_data_aug : false,
    useMaskForNorm: cfg.use_mask_for_norm,
    cascadeLabels,
  });
  return {
    cfg,
    plansName: json.plans_name,
    datasetName: json.dataset_name,
    transposeBackward: json.transpose_backward.slice(),
    numClasses,
    numImageChannels,
    cascade,
    params,
    dim,
  };
}

function buildNetwork(s: Setup, seed: number): GenericUNet {
  const arch = buildArchitecture(s.cfg, {
    numInputChannels: s.numImageChannels + (s.cascade ? s.numClasses - 1 : 0), // cascade: one-hot labels 1..K-1
    numClasses: s.numClasses,
  });
  return new GenericUNet(arch, undefined, { seed: deriveSeed(seed, 0, 0, SPLIT_INIT) });
}

function makeProvider(o: TrainFoldOptions & { preprocessedDir: string }, ids: readonly string[]): CaseProvider {
  const base = new NpyFolderCaseProvider(o.preprocessedDir, ids);
  return o.previousStageDir ? new PrevStageCaseProvider(base, o.previousStageDir) : base;
}

function makeLoader(s: Setup, provider: CaseProvider, training: boolean): DataLoader3D | DataLoader2D {
  const patch = s.cfg.patch_size;
  const opts = {
    patchSize: training ? s.params.basicGeneratorPatchSize : patch,
    finalPatchSize: patch,
    batchSize: s.cfg.batch_size,
    oversampleForegroundPercent: V2_OVERSAMPLE_FOREGROUND,
    hasPrevStage: s.cascade,
  };
  const rng = new RandomState(0); // reseeded per batch by SeededBatchSource
  return s.dim === 3 ? new DataLoader3D(provider, opts, rng) : new DataLoader2D(provider, opts, rng);
}

// ---------------------------------------------------------------------------------------------------------------------
// one iteration

function lossFn(batchDice: boolean) {
  // DC_and_CE_loss({'batch_dice': batch_dice, 'smooth': 1e-5, 'do_bg': False}, {}) (nnUNetTrainer.__init__)
  return (l: tf.Tensor, t: tf.Tensor) => dcAndCeLoss(l, t, { batchDice, smooth: 1e-5, doBg: false });
}

function namedVariables(net: GenericUNet): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const v of net.variables.values()) out[v.name] = v;
  return out;
}

/**
 * Loss and gradients (caller disposes) of one training batch, as trainStep computes them: DC+CE with deep
 * supervision over the whole batch, through the gradient workers when there are any, else in chunks of `chunk`
 * samples (one tape when the batch fits in a chunk).
 */
export async function stepGradients(
  net: GenericUNet,
  data: tf.Tensor,
  targets: tf.Tensor[],
  weights: number[],
  batchDice: boolean,
  chunk: number,
  pool: GradientWorkers | null = null,
): Promise<{ loss: number; grads: tf.NamedTensorMap }> {
  if (pool) return pool.computeGradients(net, data, targets, weights, batchDice, chunk);
  if (chunk < data.shape[0]) return accumulateGradients(net, data, targets, weights, batchDice, chunk);
  const loss = lossFn(batchDice);
  const r = tf.variableGrads(() => multipleOutputLoss(net.forward(data, { training: true }), targets, weights, loss), net.trainableVariables());
  const l = r.value.dataSync()[0];
  r.value.dispose();
  return { loss: l, grads: r.grads };
}

/** One SGD step (nnUNetTrainerV2.run_iteration with do_backprop): loss, backward, clip to 12, step. */
async function trainStep(
  net: GenericUNet,
  sgd: SGDNesterov,
  vars: Record<string, tf.Variable>,
  batch: AugBatch,
  weights: number[],
  batchDice: boolean,
  chunk: number,
  pool: GradientWorkers | null,
) {
  const { data, targets } = batchToTensors(batch);
  try {
    const { loss, grads } = await stepGradients(net, data, targets, weights, batchDice, chunk, pool);
    const clipped = clipGradNorm(grads, V2_GRAD_CLIP);
    tf.dispose(grads);
    sgd.step(vars, clipped.grads);
    tf.dispose(clipped.grads);
    return { loss, gradNorm: clipped.totalNorm };
  } finally {
    data.dispose();
    tf.dispose(targets);
  }
}

/** Validation iteration (run_iteration without backprop, with online evaluation). */
function valStep(net: GenericUNet, batch: AugBatch, weights: number[], batchDice: boolean, ev: OnlineEvaluation, chunk: number): number {
  const { data, targets } = batchToTensors(batch);
  try {
    if (chunk < data.shape[0]) return chunkedValidationLoss(net, data, targets, weights, batchDice, chunk, (l0, t0) => ev.addBatch(l0, t0));
    const outs = net.forward(data, { training: false });
    const l = multipleOutputLoss(outs, targets, weights, lossFn(batchDice));
    ev.addBatch(outs[0], targets[0]);
    const v = l.dataSync()[0];
    l.dispose();
    tf.dispose(outs);
    return v;
  } finally {
    data.dispose();
    tf.dispose(targets);
  }
}

/**
 * Closes a batch generator. BatchGenerator.close() itself keeps its workers ref'd until they have exited (batches
 * posted after close() began are dropped without unref'ing), so no keep-alive timer is needed here any more.
 */
function closeGenerator(g: BatchGenerator): Promise<void> {
  return g.close();
}

/** Budget of (patch voxels x base features) per chunk on wasm: 3d 40x56x40 x 32 -> 2 samples, 2d 56x40 x 32 -> 83. */
export const WASM_CHUNK_BUDGET = 6e6;

/** Gradient worker threads for `gradientWorkers` (0 on native TensorFlow). */
export function gradientWorkerCount(n: number | 'auto'): number {
  if (useNativeConv3d()) return 0;
  if (n === 'auto') return Math.max(0, Math.min(defaultThreads() - 1, 3));
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`trainFold: gradientWorkers must be a non-negative integer or 'auto', got ${n}`);
  return n;
}

/** Samples per forward/backward chunk of a training step (`microBatchSize` option; also used by `bench network`). */
export function microBatchSize(o: number | 'auto', cfg: Pick<PlansConfiguration, 'patch_size' | 'UNet_base_num_features'>): number {
  if (o !== 'auto') {
    if (!(Number.isInteger(o) && o >= 1)) throw new Error(`trainFold: microBatchSize must be a positive integer or 'auto', got ${o}`);
    return o;
  }
  if (tf.getBackend() !== 'wasm') return Infinity;
  const vox = cfg.patch_size.reduce((a, b) => a * b, 1) * cfg.UNet_base_num_features;
  return Math.max(1, Math.floor(WASM_CHUNK_BUDGET / vox));
}

function mean(a: readonly number[]): number {
  return a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN;
}

// ---------------------------------------------------------------------------------------------------------------------
// trainFold

/**
 * Train one configuration on one fold as nnUNetTrainerV2 (or the cascade full-res trainer when `previousStageDir`
 * is given), checkpointing as it goes, then validate the held-out cases (unless `validate: false`).
 */
export async function trainFold(opts: TrainFoldOptions): Promise<TrainingResult> {
  // the selected fast backend (wasm here), never tfjs's silent default cpu backend; idempotent
  await initBackend();
  const o: TrainFoldOptions & { preprocessedDir: string } = {
    ...opts,
    preprocessedDir: typeof opts.preprocessedDir === 'string' ? opts.preprocessedDir : opts.preprocessedDir.dir,
  };
  const s = setupRun(o);
  const maxEpochs = o.epochs ?? V2_MAX_NUM_EPOCHS;
  const itersPerEpoch = o.iterationsPerEpoch ?? V2_ITERATIONS_PER_EPOCH;
  const valIters = o.validationIterations ?? V2_VALIDATION_ITERATIONS;
  const checkpointEvery = o.checkpointEvery ?? V2_SAVE_EVERY;
  const threads = o.numThreads ?? 2;
  const initialLr = o.initialLr ?? V2_INITIAL_LR;
  if (!(maxEpochs >= 1 && itersPerEpoch >= 1 && valIters >= 0 && checkpointEvery >= 1))
    throw new Error(`trainFold: bad schedule (epochs ${maxEpochs}, iterations ${itersPerEpoch}, validation ${valIters}, checkpointEvery ${checkpointEvery})`);
  const trainerName = o.trainerName ?? (s.cascade ? 'nnUNetTrainerV2CascadeFullRes' : 'nnUNetTrainerV2');
  const identity: CheckpointIdentity = {
    trainer: trainerName,
    plans_name: s.plansName,
    configuration: o.configuration,
    fold: o.fold,
    dataset_name: s.datasetName,
  };
  fs.mkdirSync(o.outputDir, { recursive: true });
  const logFile = path.join(o.outputDir, 'training_log.jsonl');

  // ---- state: fresh or resumed
  let seed = o.seed ?? (o.deterministic === false ? Math.floor(Math.random() * 2 ** 32) : 12345);
  let startEpoch = 0;
  let log: TrainingLogEntry[] = [];
  const ema = new EvalCriterionMovingAverage(0.9);
  let bestEma: number | null = null;
  const sgd = new SGDNesterov({ lr: initialLr, momentum: 0.99, weightDecay: 3e-5, nesterov: true });
  let net: GenericUNet | null = null;
  let ckFile: string | null = null;
  if (o.resume) {
    ckFile = findResumeCheckpoint(o.outputDir);
    if (!ckFile && o.resume === true)
      throw new Error(`trainFold: resume requested but ${o.outputDir} holds no checkpoint_latest.json or checkpoint_final.json`);
  }
  if (ckFile) {
    const ck = readCheckpoint(ckFile);
    checkIdentity(ckFile, ck.manifest.identity, identity);
    const st = ck.state;
    if (st.maxEpochs !== maxEpochs)
      throw new Error(`${ckFile}: checkpoint was trained for ${st.maxEpochs} epochs, this run asks for ${maxEpochs} (the poly LR schedule would change)`);
    seed = st.seed;
    net = buildNetwork(s, seed);
    restoreCheckpoint(ck, net, sgd);
    startEpoch = st.epoch;
    log = st.log.slice();
    ema.value = st.ema;
    bestEma = st.bestEma;
    sgd.momentum = st.momentum;
  } else {
    // a fresh start replaces an earlier run's checkpoints, so a later resume can never continue a mix of two runs
    for (const n of ['checkpoint_latest', 'checkpoint_best', 'checkpoint_final'] as const) removeCheckpoint(o.outputDir, n);
    net = buildNetwork(s, seed);
  }
  const vars = namedVariables(net);
  const chunk = microBatchSize(o.microBatchSize ?? 'auto', s.cfg);
  const nOut = s.cfg.pool_op_kernel_sizes.length;
  const dsWeights = deepSupervisionWeights(nOut);
  const trainProvider = makeProvider(o, o.trainCases);
  const valProvider = o.valCases.length ? makeProvider(o, o.valCases) : null;
  const stateOf = (epochsDone: number): TrainerState => ({
    epoch: epochsDone,
    maxEpochs,
    iterationsPerEpoch: itersPerEpoch,
    validationIterations: valIters,
    seed,
    momentum: sgd.momentum,
    ema: ema.value,
    bestEma,
    log,
  });

  const makeTrainGen = (epoch: number) => {
    const g = new BatchGenerator(new SeededBatchSource(makeLoader(s, trainProvider, true), seed, epoch, SPLIT_TRAIN), {
      params: s.params,
      threads,
      seed: deriveSeed(seed, epoch, 0, SPLIT_AUG_TRAIN),
    });
    g.warmUp();
    return g;
  };

  // data parallelism over extra wasm/cpu instances (native TensorFlow already uses every core)
  const nWorkers = gradientWorkerCount(o.gradientWorkers ?? 'auto');
  const pool = nWorkers > 0 ? await GradientWorkers.start(nWorkers, net.architecture, backendInfo().backend) : null;

  // ---- epochs
  const t0 = Date.now();
  let stopped = false;
  let epochsThisCall = 0;
  let nextGen: BatchGenerator | null = null;
  try {
    for (let epoch = startEpoch; epoch < maxEpochs; epoch++) {
      if (o.stopAfterEpochs !== undefined && epochsThisCall >= o.stopAfterEpochs) {
        stopped = true;
        break;
      }
      const te = Date.now();
      sgd.lr = polyLR(epoch, maxEpochs, initialLr, 0.9); // maybe_update_lr: epoch e trains with poly(e)
      const bar = o.progress === false ? null : progress(`${o.configuration} fold ${o.fold} epoch ${epoch + 1}/${maxEpochs}`, itersPerEpoch + valIters, {
            group: `train ${o.configuration} fold ${o.fold}`,
          });
      const gen = nextGen ?? makeTrainGen(epoch);
      nextGen = null;
      const losses: number[] = [];
      const norms: number[] = [];
      try {
        for (let it = 0; it < itersPerEpoch; it++) {
          const batch = await gen.next();
          const ts = Date.now();
          const r = await trainStep(net, sgd, vars, batch, dsWeights, s.cfg.batch_dice, chunk, pool);
          const stepS = (Date.now() - ts) / 1000;
          losses.push(r.loss);
          norms.push(r.gradNorm);
          o.onIteration?.({ epoch, iteration: it, split: 'train', loss: r.loss, numTensors: tf.memory().numTensors, waitS: gen.stats.waitMsLast / 1000, stepS });
          bar?.tick(1, `loss ${r.loss.toFixed(4)}`);
        }
      } finally {
        await closeGenerator(gen);
      }
      const waitS = gen.stats.waitMsTotal / 1000;
      const trainS = (Date.now() - te) / 1000;
      // the next epoch's augmentation starts now, in the workers, while this thread validates
      const willContinue = epoch + 1 < maxEpochs && !(o.stopAfterEpochs !== undefined && epochsThisCall + 1 >= o.stopAfterEpochs);
      if (willContinue) nextGen = makeTrainGen(epoch + 1);

      // validation iterations: no augmentation, online Dice (validation pipeline runs inline: it is cheap)
      const ev = new OnlineEvaluation(s.numClasses);
      const valLosses: number[] = [];
      if (valProvider && valIters > 0) {
        const vgen = new BatchGenerator(new SeededBatchSource(makeLoader(s, valProvider, false), seed, epoch, SPLIT_VAL), {
          params: s.params,
          validation: true,
          threads: 0,
          prefetch: 1,
          seed: deriveSeed(seed, epoch, 0, SPLIT_AUG_VAL),
        });
        try {
          for (let it = 0; it < valIters; it++) {
            const batch = await vgen.next();
            const ts = Date.now();
            const l = valStep(net, batch, dsWeights, s.cfg.batch_dice, ev, chunk);
            valLosses.push(l);
            o.onIteration?.({ epoch, iteration: it, split: 'val', loss: l, numTensors: tf.memory().numTensors, waitS: vgen.stats.waitMsLast / 1000, stepS: (Date.now() - ts) / 1000 });
            bar?.tick(1, `val loss ${l.toFixed(4)}`);
          }
        } finally {
          await closeGenerator(vgen);
        }
      }
      const fin = ev.finish();
      const metric = valProvider && valIters > 0 ? fin.meanDice : null;
      const valLoss = mean(valLosses);
      const emaValue = ema.update(metric, Number.isNaN(valLoss) ? undefined : valLoss);
      const entry: TrainingLogEntry = {
        epoch,
        train_loss: mean(losses),
        val_loss: valLoss,
        pseudo_dice: fin.globalDicePerClass,
        mean_pseudo_dice: fin.meanDice,
        ema: emaValue,
        lr: sgd.lr,
        epoch_time: (Date.now() - te) / 1000,
        wait_augmentation_s: waitS,
        augmentation_s_per_batch: gen.stats.augmentMsMean / 1000,
        seconds_per_iteration: trainS / itersPerEpoch,
        grad_norm_mean: mean(norms),
        timestamp: new Date().toISOString(),
      };
      log.push(entry);
      epochsThisCall++;
      await writeTrainingLog(logFile, log);
      bar?.done(`loss ${entry.train_loss.toFixed(4)} val ${valLoss.toFixed(4)} dice [${fin.globalDicePerClass.map((d) => d.toFixed(3)).join(',')}]`);

      // nnUNetTrainerV2.on_epoch_end: momentum rescue (a network stuck at Dice 0 is re-initialised)
      if (epoch === V2_MOMENTUM_RESCUE_EPOCH && metric === 0) {
        sgd.momentum = V2_MOMENTUM_RESCUE_VALUE;
        net.setValues(initialValues(net.architecture, deriveSeed(seed, epoch, 0, SPLIT_INIT)));
      }
      // manage_patience: model_best when the moving average improves (strictly)
      if (bestEma === null || Number.isNaN(bestEma)) bestEma = emaValue;
      else if (emaValue > bestEma) {
        bestEma = emaValue;
        if (o.saveBest ?? true) await saveCheckpoint(o.outputDir, 'checkpoint_best', net, sgd, identity, stateOf(epoch + 1));
      }
      if ((epoch + 1) % checkpointEvery === 0 && epoch + 1 < maxEpochs)
        await saveCheckpoint(o.outputDir, 'checkpoint_latest', net, sgd, identity, stateOf(epoch + 1));
      await o.onEpoch?.({ entry, log, maxEpochs });
    }
  } finally {
    if (nextGen) await closeGenerator(nextGen);
    await pool?.close();
  }
  const trainSeconds = (Date.now() - t0) / 1000;

  let finalCk: string;
  if (!stopped) {
    finalCk = await saveCheckpoint(o.outputDir, 'checkpoint_final', net, sgd, identity, stateOf(log.length ? log[log.length - 1].epoch + 1 : startEpoch));
    // network_trainer.run_training: "now we can delete latest as it will be identical with final"
    removeCheckpoint(o.outputDir, 'checkpoint_latest');
  } else {
    finalCk = checkpointFile(o.outputDir, 'checkpoint_latest');
  }

  let validation: ValidationResult | null = null;
  if (!stopped && (o.validate ?? true) && o.valCases.length > 0) {
    validation = await validateFold({
      net,
      plans: o.plans,
      configuration: o.configuration,
      patchSize: s.cfg.patch_size,
      preprocessedDir: o.preprocessedDir,
      valCases: o.valCases,
      outputDir: o.outputDir,
      dataset: o.dataset ?? null,
      mirroring: o.mirroring ?? true,
      saveProbabilities: o.saveProbabilities ?? false,
      previousStageDir: o.previousStageDir,
      numClasses: s.numClasses,
      name: `${trainerName}__${s.plansName} val tiled True`,
      progress: o.progress,
      determinePostprocessing: o.determinePostprocessing ?? true,
    });
  }
  if (!stopped && o.nextStage && o.valCases.length > 0) {
    await predictNextStage({
      net,
      plans: o.plans,
      configuration: o.configuration,
      lowresPreprocessedDir: o.preprocessedDir,
      fullresPreprocessedDir: o.nextStage.fullresPreprocessedDir,
      caseIds: o.valCases,
      outputDir: o.nextStage.outputDir,
      numClasses: s.numClasses,
      mirroring: o.mirroring ?? true,
      progress: o.progress,
    });
  }
  const result = new TrainingResult(o.outputDir, o.configuration, o.fold, log, finalCk, validation, trainSeconds, stopped);
  net.dispose();
  sgd.dispose();
  return result;
}

/** Reopen a finished (or running) training folder's log as a TrainingResult (no validation attached). */
export function loadTrainingResult(outputDir: string, configuration: string, fold: number | 'all'): TrainingResult {
  const log = readTrainingLog(path.join(outputDir, 'training_log.jsonl'));
  const ck = fs.existsSync(checkpointFile(outputDir, 'checkpoint_final'))
    ? checkpointFile(outputDir, 'checkpoint_final')
    : checkpointFile(outputDir, 'checkpoint_latest');
  return new TrainingResult(outputDir, configuration, fold, log, ck, null, 0, false);
}

// ---------------------------------------------------------------------------------------------------------------------
// validation (nnUNetTrainer.validate) and predict_next_stage

/** Image channels of a preprocessed case, with the cascade's one-hot previous-stage channels (labels 1..K−1) appended. */
function networkInput(dir: string, id: string, numClasses: number, previousStageDir?: string): { data: Float32Array; shape: [number, number, number, number] } {
  const a = readNpy(path.join(dir, `${id}.npy`));
  if (a.shape.length !== 4) throw new Error(`${path.join(dir, `${id}.npy`)}: expected (C, Z, Y, X), got [${a.shape}]`);
  const data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>);
  const [C, Z, Y, X] = a.shape;
  if (!previousStageDir) return { data, shape: [C, Z, Y, X] };
  const seg = readSegFromPrevStage(previousStageDir, id, [Z, Y, X]);
  const n = Z * Y * X;
  const K = numClasses - 1;
  const out = new Float32Array((C + K) * n);
  out.set(data);
  for (let k = 0; k < K; k++) {
    const off = (C + k) * n;
    for (let i = 0; i < n; i++) if (seg[i] === k + 1) out[off + i] = 1;
  }
  return { data: out, shape: [C + K, Z, Y, X] };
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
      const props = caseProps(o.preprocessedDir, id);
      const inp = networkInput(o.preprocessedDir, id, o.numClasses, o.previousStageDir);
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
        const ref = await referenceLabel(o, id, caseProps(o.preprocessedDir, id));
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

export interface PredictNextStageOptions {
  /** The trained 3d_lowres network of this fold. */
  net: GenericUNet;
  plans: Plans | PlansJSON;
  /** Default '3d_lowres'. */
  configuration?: string;
  lowresPreprocessedDir: string;
  /** The full-res (next stage) preprocessed folder: gives the target shape of every case. */
  fullresPreprocessedDir: string;
  /** The fold's validation cases (out-of-fold). */
  caseIds: readonly string[];
  /** `<results>/<dataset>/<trainer>__<plans>__3d_lowres/pred_next_stage` */
  outputDir: string;
  numClasses: number;
  mirroring?: boolean;
  progress?: boolean;
}

/**
 * predict_next_stage: sliding-window probabilities of the low-res case (TTA), resized per class to the full-res
 * preprocessed shape with order 1 (plain 3D, no separate-z: resize_softmax_output), argmax -> uint8
 * `<outputDir>/<case>_segFromPrevStage.npy` (v1: .npz key 'data'). No postprocessing.
 */
export async function predictNextStage(o: PredictNextStageOptions): Promise<string[]> {
  // the selected fast backend (wasm here), never tfjs's silent default cpu backend; idempotent
  await initBackend();
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  const cfg = resolveConfiguration(json, o.configuration ?? '3d_lowres');
  if (cfg.patch_size.length !== 3) throw new Error(`predictNextStage: ${o.configuration ?? '3d_lowres'} is not a 3D configuration`);
  fs.mkdirSync(o.outputDir, { recursive: true });
  const predictor = tfjsPatchPredictor((x) => o.net.predict(x));
  const out: string[] = [];
  const bar = o.progress === false ? null : progress('predict next stage', o.caseIds.length);
  for (const id of o.caseIds) {
    const inp = networkInput(o.lowresPreprocessedDir, id, o.numClasses);
    const probs = await predictSlidingWindow(inp.data, inp.shape, {
      patchSize: cfg.patch_size,
      numClasses: o.numClasses,
      predictPatch: predictor,
      mirrorAxes: o.mirroring === false ? [] : [0, 1, 2],
    });
    const target = caseProps(o.fullresPreprocessedDir, id).data_shape.slice(1) as [number, number, number];
    const [C, ...sp] = probs.shape;
    const n = sp[0] * sp[1] * sp[2];
    const nt = target[0] * target[1] * target[2];
    const resized = new Float32Array(C * nt);
    for (let c = 0; c < C; c++) {
      const r = resampleChannel(probs.data.subarray(c * n, (c + 1) * n), sp as [number, number, number], target, {
        isSeg: false,
        order: 1,
        doSeparateZ: false,
        axis: null,
      });
      resized.set(r, c * nt);
    }
    const seg = argmaxClasses({ data: resized, shape: [C, ...target] });
    const f = path.join(o.outputDir, `${id}_segFromPrevStage.npy`);
    await writeNpy(f, seg, target);
    out.push(f);
    bar?.tick(1, id);
  }
  bar?.done();
  return out;
}

/** Load a trained network from a fold folder's checkpoint (final by default). */
export function loadTrainedNetwork(outputDir: string, which: 'checkpoint_final' | 'checkpoint_latest' | 'checkpoint_best' = 'checkpoint_final'): GenericUNet {
  const ck = readCheckpoint(checkpointFile(outputDir, which));
  return loadNetwork(path.join(path.dirname(ck.file), ck.manifest.weights));
}

// the public API of the training loop's artifacts (sdk/index.ts exports this module)
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  checkpointFile,
  saveCheckpoint,
  readCheckpoint,
  restoreCheckpoint,
  removeCheckpoint,
  checkIdentity,
  findResumeCheckpoint,
  checkpointArchitecture,
} from './checkpoint';
export type { CheckpointName, CheckpointIdentity, TrainerState, CheckpointManifest, LoadedCheckpoint } from './checkpoint';
export { readTrainingLog, writeTrainingLog, parseTrainingLog, serializeTrainingLog } from './training_log';
export type { TrainingLogEntry } from './training_log';
export { accumulateGradients, chunkedValidationLoss, chunkRanges } from './accumulation';
export type { AccumulatedStep } from './accumulation';
