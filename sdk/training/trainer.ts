/**
 * The training loop of nnU-Net v1's nnUNetTrainerV2 (S1 training/network_training/nnUNetTrainerV2.py,
 * nnUNetTrainer.py, network_trainer.py::run_training / on_epoch_end / save_checkpoint; reference §6, §7, §10.1–10.3,
 * A.3–A.5), as a run object with short named hooks in the spirit of nnU-Net v2's trainer:
 *
 *   FoldRun.start      on_train_start: setup (setup.ts), fresh or resumed state (sdk/checkpoint), gradient workers
 *   per epoch e:       onEpochStart (lr = poly(e)) -> trainEpoch (`iterationsPerEpoch` train steps, iteration.ts, on
 *                      augmented batches the BatchGenerator workers prepare ahead) -> validationEpoch
 *                      (`validationIterations` batches without augmentation: loss + online tp/fp/fn) -> onEpochEnd
 *                      (pseudo-Dice, moving average, log line, momentum rescue, checkpoints)
 *   onTrainEnd         checkpoint_final, the full validation (validation.ts) and, for 3d_lowres with a cascade, the
 *                      next stage's input (sdk/inference/cascade.ts)
 *
 * Batches depend only on (seed, epoch, iteration, split) (seeds.ts), so a resumed run is the uninterrupted run.
 * With `resume: 'auto'` a finished run of the same identity and settings is not redone.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSummaryJson } from '../evaluation/evaluator';
import { readPostprocessingJson } from '../postprocessing/determine';
import { GenericUNet, initialValues } from '../network/generic_unet';
import { backendInfo, initBackend } from '../network/backend';
import { throwIfGpuFailed } from '../network/webgpu/device_errors';
import { checkBatchFitsGpu, gpuWorkLabel } from './gpu_fit';
import { nextStageUpToDate, predictNextStage } from '../inference/cascade';
import { progress, type Progress } from '../util/progress';
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
} from '../checkpoint/checkpoint';
import { TrainingLogEntry, writeTrainingLog } from '../checkpoint/training_log';
import { SUMMARY_FILE, validationFolder } from '../paths';
import {
  V2_INITIAL_LR,
  V2_ITERATIONS_PER_EPOCH,
  V2_MAX_NUM_EPOCHS,
  V2_MOMENTUM_RESCUE_EPOCH,
  V2_MOMENTUM_RESCUE_VALUE,
  V2_SAVE_EVERY,
  DEFAULT_TRAINING_SEED,
  V2_VALIDATION_ITERATIONS,
} from './constants';
import { BatchGenerator } from './batch_generator';
import type { CaseProvider } from './data_loader';
import { deepSupervisionWeights } from './dice_ce_loss';
import { polyLR, SGDNesterov } from './optimizer';
import { OnlineEvaluation, EvalCriterionMovingAverage } from './online_evaluation';
import { GradientWorkers } from './data_parallel';
import { gradientWorkerCount, microBatchSize, namedVariables, trainStep, valStep } from './iteration';
import { buildNetwork, makeLoader, makeProvider, RunSetup, setupRun } from './setup';
import { deriveSeed, SeededBatchSource, SPLIT_AUG_TRAIN, SPLIT_AUG_VAL, SPLIT_INIT, SPLIT_TRAIN, SPLIT_VAL } from './seeds';
import { TrainingResult } from './training_result';
import { validateFold, type ValidationResult } from './validation';
import { runKey } from './run_key';
import type { TrainFoldOptions } from './train_options';

export type { EpochInfo, IterationInfo, TrainFoldOptions } from './train_options';

function mean(a: readonly number[]): number {
  return a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN;
}

export type ResolvedOptions = TrainFoldOptions & { preprocessedDir: string };

/** One training run of one fold: its fixed setup, its mutable state, and the hooks trainFold calls in order. */
class FoldRun {
  readonly maxEpochs: number;
  readonly itersPerEpoch: number;
  readonly valIters: number;
  readonly checkpointEvery: number;
  readonly initialLr: number;
  readonly trainerName: string;
  readonly identity: CheckpointIdentity;
  readonly logFile: string;
  readonly dsWeights: number[];
  readonly chunk: number;
  readonly trainProvider: CaseProvider;
  readonly valProvider: CaseProvider | null;

  seed: number;
  startEpoch = 0;
  log: TrainingLogEntry[] = [];
  readonly ema = new EvalCriterionMovingAverage(0.9);
  bestEma: number | null = null;
  readonly sgd: SGDNesterov;
  net!: GenericUNet;
  private vars!: Record<string, tf.Variable>;
  private pool: GradientWorkers | null = null;
  private nextGen: BatchGenerator | null = null;
  epochsThisCall = 0;
  stopped = false;
  /** Resumed from a checkpoint_final of this same run: nothing left to train. */
  finished = false;
  private trainStart = 0;
  trainSeconds = 0;

  private constructor(
    readonly o: ResolvedOptions,
    readonly s: RunSetup,
  ) {
    this.maxEpochs = o.epochs ?? V2_MAX_NUM_EPOCHS;
    this.itersPerEpoch = o.iterationsPerEpoch ?? V2_ITERATIONS_PER_EPOCH;
    this.valIters = o.validationIterations ?? V2_VALIDATION_ITERATIONS;
    this.checkpointEvery = o.checkpointEvery ?? V2_SAVE_EVERY;
    this.initialLr = o.initialLr ?? V2_INITIAL_LR;
    if (!(this.maxEpochs >= 1 && this.itersPerEpoch >= 1 && this.valIters >= 0 && this.checkpointEvery >= 1))
      throw new Error(
        `trainFold: bad schedule (epochs ${this.maxEpochs}, iterations ${this.itersPerEpoch}, validation ${this.valIters}, checkpointEvery ${this.checkpointEvery})`,
      );
    this.trainerName = o.trainerName ?? (s.cascade ? 'nnUNetTrainerV2CascadeFullRes' : 'nnUNetTrainerV2');
    this.identity = {
      trainer: this.trainerName,
      plans_name: s.plansName,
      configuration: o.configuration,
      fold: o.fold,
      dataset_name: s.datasetName,
      run_key: runKey(o, s, { maxEpochs: this.maxEpochs, itersPerEpoch: this.itersPerEpoch, valIters: this.valIters, initialLr: this.initialLr }),
    };
    this.logFile = path.join(o.outputDir, 'training_log.jsonl');
    this.seed = o.seed ?? (o.deterministic === false ? Math.floor(Math.random() * 2 ** 32) : DEFAULT_TRAINING_SEED);
    this.sgd = new SGDNesterov({ lr: this.initialLr, momentum: 0.99, weightDecay: 3e-5, nesterov: true });
    this.chunk = microBatchSize(o.microBatchSize ?? 'auto', s.cfg);
    this.dsWeights = deepSupervisionWeights(s.cfg.pool_op_kernel_sizes.length);
    this.trainProvider = makeProvider(o, o.trainCases);
    this.valProvider = o.valCases.length ? makeProvider(o, o.valCases) : null;
  }

  /** on_train_start: setup, then the state of a fresh run or of the checkpoint it resumes, then the gradient workers. */
  static async start(opts: TrainFoldOptions): Promise<FoldRun> {
    const o: ResolvedOptions = { ...opts, preprocessedDir: typeof opts.preprocessedDir === 'string' ? opts.preprocessedDir : opts.preprocessedDir.dir };
    const run = new FoldRun(o, setupRun(o));
    // before anything else, so no checkpoint of an earlier run is touched (a fresh start would replace them)
    checkBatchFitsGpu(run.s.cfg, o.configuration);
    fs.mkdirSync(o.outputDir, { recursive: true });
    const ckFile = run.checkpointToResume();
    if (ckFile) run.resumeFrom(ckFile);
    else run.startFresh();
    run.vars = namedVariables(run.net);
    if (!run.finished) {
      // data parallelism over extra wasm/cpu instances (native TensorFlow already uses every core)
      const nWorkers = gradientWorkerCount(o.gradientWorkers ?? 'auto');
      run.pool = nWorkers > 0 ? await GradientWorkers.start(nWorkers, run.net.architecture, backendInfo().backend) : null;
    }
    return run;
  }

  /** The checkpoint to continue from, per `resume` (see TrainFoldOptions.resume), or null for a fresh start. */
  private checkpointToResume(): string | null {
    const { resume, outputDir } = this.o;
    if (!resume) return null;
    const f = findResumeCheckpoint(outputDir);
    if (!f) {
      if (resume === true) throw new Error(`trainFold: resume requested but ${outputDir} holds no checkpoint_latest.json or checkpoint_final.json`);
      return null;
    }
    if (resume === 'auto') {
      // a checkpoint of another run (other identity or settings) is not continued: this run starts afresh
      const st = readCheckpoint(f);
      try {
        checkIdentity(f, st.manifest.identity, this.identity);
        if (st.state.maxEpochs !== this.maxEpochs) throw new Error('schedule differs');
      } catch {
        console.log(`nnunet-ts: ${f} belongs to a run with other settings; training ${this.o.configuration} fold ${this.o.fold} from scratch`);
        return null;
      }
    }
    return f;
  }

  private resumeFrom(ckFile: string): void {
    const ck = readCheckpoint(ckFile);
    // the most specific reason first: another trainer/plans/configuration/fold, then the schedule, then other settings
    checkIdentity(ckFile, ck.manifest.identity, { ...this.identity, run_key: undefined });
    const st = ck.state;
    if (st.maxEpochs !== this.maxEpochs)
      throw new Error(`${ckFile}: checkpoint was trained for ${st.maxEpochs} epochs, this run asks for ${this.maxEpochs} (the poly LR schedule would change)`);
    checkIdentity(ckFile, ck.manifest.identity, this.identity);
    this.seed = st.seed;
    this.net = buildNetwork(this.s, this.seed);
    restoreCheckpoint(ck, this.net, this.sgd);
    this.startEpoch = st.epoch;
    this.log = st.log.slice();
    this.ema.value = st.ema;
    this.bestEma = st.bestEma;
    this.sgd.momentum = st.momentum;
    this.finished = path.basename(ckFile) === path.basename(checkpointFile(this.o.outputDir, 'checkpoint_final')) && st.epoch >= this.maxEpochs;
  }

  private startFresh(): void {
    // a fresh start replaces an earlier run's checkpoints, so a later resume can never continue a mix of two runs
    for (const n of ['checkpoint_latest', 'checkpoint_best', 'checkpoint_final'] as const) removeCheckpoint(this.o.outputDir, n);
    this.net = buildNetwork(this.s, this.seed);
  }

  stateOf(epochsDone: number): TrainerState {
    return {
      epoch: epochsDone,
      maxEpochs: this.maxEpochs,
      iterationsPerEpoch: this.itersPerEpoch,
      validationIterations: this.valIters,
      seed: this.seed,
      momentum: this.sgd.momentum,
      ema: this.ema.value,
      bestEma: this.bestEma,
      log: this.log,
    };
  }

  /** `stopAfterEpochs` reached (the test hook that simulates a killed run). */
  private stopRequested(epochsDone: number): boolean {
    return this.o.stopAfterEpochs !== undefined && epochsDone >= this.o.stopAfterEpochs;
  }

  private trainGenerator(epoch: number): BatchGenerator {
    const g = new BatchGenerator(new SeededBatchSource(makeLoader(this.s, this.trainProvider, true), this.seed, epoch, SPLIT_TRAIN), {
      params: this.s.params,
      threads: this.o.numThreads ?? 2,
      seed: deriveSeed(this.seed, epoch, 0, SPLIT_AUG_TRAIN),
    });
    g.warmUp();
    return g;
  }

  /** All epochs left; the augmentation workers and gradient workers are closed whatever happens. */
  async epochs(): Promise<void> {
    this.trainStart = Date.now();
    try {
      for (let epoch = this.startEpoch; epoch < this.maxEpochs; epoch++) {
        if (this.stopRequested(this.epochsThisCall)) {
          this.stopped = true;
          break;
        }
        if (this.o.stopSignal?.aborted) {
          // asked to stop (time limit near, scancel): keep every finished epoch for the resumed run
          if (epoch > this.startEpoch) await saveCheckpoint(this.o.outputDir, 'checkpoint_latest', this.net, this.sgd, this.identity, this.stateOf(epoch));
          this.stopped = true;
          break;
        }
        await this.runEpoch(epoch);
      }
    } finally {
      if (this.nextGen) await this.nextGen.close();
      this.nextGen = null;
      await this.pool?.close();
      this.pool = null;
      this.trainSeconds = (Date.now() - this.trainStart) / 1000;
    }
  }

  private async runEpoch(epoch: number): Promise<void> {
    const te = Date.now();
    const bar = this.onEpochStart(epoch);
    const train = await this.trainEpoch(epoch, bar);
    const trainS = (Date.now() - te) / 1000;
    // the next epoch's augmentation starts now, in the workers, while this thread validates
    if (epoch + 1 < this.maxEpochs && !this.stopRequested(this.epochsThisCall + 1)) this.nextGen = this.trainGenerator(epoch + 1);
    const val = await this.validationEpoch(epoch, bar);
    await this.onEpochEnd(epoch, { ...train, ...val, trainS, epochS: (Date.now() - te) / 1000 }, bar);
  }

  /** maybe_update_lr (epoch e trains with poly(e)) and the epoch's progress bar. */
  private onEpochStart(epoch: number): Progress | null {
    this.sgd.lr = polyLR(epoch, this.maxEpochs, this.initialLr, 0.9);
    const { configuration, fold } = this.o;
    return this.o.progress === false
      ? null
      : progress(`${configuration} fold ${fold} epoch ${epoch + 1}/${this.maxEpochs}`, this.itersPerEpoch + this.valIters, {
          group: `train ${configuration} fold ${fold}`,
        });
  }

  /** "training step of 3d_fullres: batch 2 of patch 80x192x160" (names the work in GPU errors). */
  private gpuWork(what: string, dataShape: number[]): string {
    return gpuWorkLabel(what, this.o.configuration, dataShape);
  }

  /** `iterationsPerEpoch` training steps on augmented batches. */
  private async trainEpoch(epoch: number, bar: Progress | null) {
    const gen = this.nextGen ?? this.trainGenerator(epoch);
    this.nextGen = null;
    const losses: number[] = [];
    const norms: number[] = [];
    try {
      for (let it = 0; it < this.itersPerEpoch; it++) {
        const batch = await gen.next();
        const ts = Date.now();
        const r = await trainStep(this.net, this.sgd, this.vars, batch, this.dsWeights, this.s.cfg.batch_dice, this.chunk, this.pool);
        throwIfGpuFailed(`${this.gpuWork('training', batch.dataShape)}, epoch ${epoch} iteration ${it}`);
        const stepS = (Date.now() - ts) / 1000;
        losses.push(r.loss);
        norms.push(r.gradNorm);
        this.o.onIteration?.({ epoch, iteration: it, split: 'train', loss: r.loss, numTensors: tf.memory().numTensors, waitS: gen.stats.waitMsLast / 1000, stepS });
        bar?.tick(1, `loss ${r.loss.toFixed(4)}`);
      }
    } finally {
      await gen.close();
    }
    return { losses, norms, waitS: gen.stats.waitMsTotal / 1000, augmentS: gen.stats.augmentMsMean / 1000 };
  }

  /** `validationIterations` batches without augmentation: loss and online tp/fp/fn (inline: it is cheap). */
  private async validationEpoch(epoch: number, bar: Progress | null) {
    const ev = new OnlineEvaluation(this.s.numClasses);
    const valLosses: number[] = [];
    if (this.valProvider && this.valIters > 0) {
      const vgen = new BatchGenerator(new SeededBatchSource(makeLoader(this.s, this.valProvider, false), this.seed, epoch, SPLIT_VAL), {
        params: this.s.params,
        validation: true,
        threads: 0,
        prefetch: 1,
        seed: deriveSeed(this.seed, epoch, 0, SPLIT_AUG_VAL),
      });
      try {
        for (let it = 0; it < this.valIters; it++) {
          const batch = await vgen.next();
          const ts = Date.now();
          const l = await valStep(this.net, batch, this.dsWeights, this.s.cfg.batch_dice, ev, this.chunk);
          throwIfGpuFailed(`${this.gpuWork('validation', batch.dataShape)}, epoch ${epoch} iteration ${it}`);
          valLosses.push(l);
          this.o.onIteration?.({ epoch, iteration: it, split: 'val', loss: l, numTensors: tf.memory().numTensors, waitS: vgen.stats.waitMsLast / 1000, stepS: (Date.now() - ts) / 1000 });
          bar?.tick(1, `val loss ${l.toFixed(4)}`);
        }
      } finally {
        await vgen.close();
      }
    }
    return { fin: ev.finish(), valLosses, validated: Boolean(this.valProvider && this.valIters > 0) };
  }

  /** on_epoch_end: log line, moving average, momentum rescue, checkpoint_best / checkpoint_latest, callback. */
  private async onEpochEnd(
    epoch: number,
    r: Awaited<ReturnType<FoldRun['trainEpoch']>> & Awaited<ReturnType<FoldRun['validationEpoch']>> & { trainS: number; epochS: number },
    bar: Progress | null,
  ): Promise<void> {
    const metric = r.validated ? r.fin.meanDice : null;
    const valLoss = mean(r.valLosses);
    const emaValue = this.ema.update(metric, Number.isNaN(valLoss) ? undefined : valLoss);
    const entry: TrainingLogEntry = {
      epoch,
      train_loss: mean(r.losses),
      val_loss: valLoss,
      pseudo_dice: r.fin.globalDicePerClass,
      mean_pseudo_dice: r.fin.meanDice,
      ema: emaValue,
      lr: this.sgd.lr,
      epoch_time: r.epochS,
      wait_augmentation_s: r.waitS,
      augmentation_s_per_batch: r.augmentS,
      seconds_per_iteration: r.trainS / this.itersPerEpoch,
      grad_norm_mean: mean(r.norms),
      timestamp: new Date().toISOString(),
    };
    this.log.push(entry);
    this.epochsThisCall++;
    await writeTrainingLog(this.logFile, this.log);
    bar?.done(`loss ${entry.train_loss.toFixed(4)} val ${valLoss.toFixed(4)} dice [${r.fin.globalDicePerClass.map((d) => d.toFixed(3)).join(',')}]`);

    // nnUNetTrainerV2.on_epoch_end: momentum rescue (a network stuck at Dice 0 is re-initialised)
    if (epoch === V2_MOMENTUM_RESCUE_EPOCH && metric === 0) {
      this.sgd.momentum = V2_MOMENTUM_RESCUE_VALUE;
      this.net.setValues(initialValues(this.net.architecture, deriveSeed(this.seed, epoch, 0, SPLIT_INIT)));
    }
    // manage_patience: model_best when the moving average improves (strictly)
    if (this.bestEma === null || Number.isNaN(this.bestEma)) this.bestEma = emaValue;
    else if (emaValue > this.bestEma) {
      this.bestEma = emaValue;
      if (this.o.saveBest ?? true) await saveCheckpoint(this.o.outputDir, 'checkpoint_best', this.net, this.sgd, this.identity, this.stateOf(epoch + 1));
    }
    if ((epoch + 1) % this.checkpointEvery === 0 && epoch + 1 < this.maxEpochs)
      await saveCheckpoint(this.o.outputDir, 'checkpoint_latest', this.net, this.sgd, this.identity, this.stateOf(epoch + 1));
    await this.o.onEpoch?.({ entry, log: this.log, maxEpochs: this.maxEpochs });
  }

  /** on_train_end: checkpoint_final (unless stopped or reused), the full validation, the cascade's next-stage input. */
  async onTrainEnd(): Promise<TrainingResult> {
    const o = this.o;
    let finalCk: string;
    if (this.finished) finalCk = checkpointFile(o.outputDir, 'checkpoint_final');
    else if (!this.stopped) {
      const epochsDone = this.log.length ? this.log[this.log.length - 1].epoch + 1 : this.startEpoch;
      finalCk = await saveCheckpoint(o.outputDir, 'checkpoint_final', this.net, this.sgd, this.identity, this.stateOf(epochsDone));
      // network_trainer.run_training: "now we can delete latest as it will be identical with final"
      removeCheckpoint(o.outputDir, 'checkpoint_latest');
    } else finalCk = checkpointFile(o.outputDir, 'checkpoint_latest');

    let validation: ValidationResult | null = null;
    if (!this.stopped && (o.validate ?? true) && o.valCases.length > 0) {
      validation = (this.finished ? this.reusableValidation(finalCk) : null) ?? (await this.validate());
    }
    if (!this.stopped && o.nextStage && o.valCases.length > 0 && !(this.finished && this.nextStageComplete(finalCk))) {
      await predictNextStage({
        net: this.net,
        plans: o.plans,
        configuration: o.configuration,
        lowresPreprocessedDir: o.preprocessedDir,
        fullresPreprocessedDir: o.nextStage.fullresPreprocessedDir,
        caseIds: o.valCases,
        outputDir: o.nextStage.outputDir,
        numClasses: this.s.numClasses,
        mirroring: o.mirroring ?? true,
        progress: o.progress,
      });
    }
    return new TrainingResult(o.outputDir, o.configuration, o.fold, this.log, finalCk, validation, this.trainSeconds, this.stopped, this.finished);
  }

  private validate(): Promise<ValidationResult> {
    const o = this.o;
    return validateFold({
      net: this.net,
      plans: o.plans,
      configuration: o.configuration,
      patchSize: this.s.cfg.patch_size,
      preprocessedDir: o.preprocessedDir,
      valCases: o.valCases,
      outputDir: o.outputDir,
      dataset: o.dataset ?? null,
      mirroring: o.mirroring ?? true,
      saveProbabilities: o.saveProbabilities ?? false,
      previousStageDir: o.previousStageDir,
      numClasses: this.s.numClasses,
      name: `${this.trainerName}__${this.s.plansName} val tiled True`,
      progress: o.progress,
      determinePostprocessing: o.determinePostprocessing ?? true,
    });
  }

  /**
   * The validation a reused run already wrote: summary.json newer than checkpoint_final covering exactly the
   * validation cases (and postprocessing.json / probabilities when asked for), else null (validate again).
   */
  private reusableValidation(finalCk: string): ValidationResult | null {
    const o = this.o;
    const folder = validationFolder(o.outputDir);
    const summaryFile = path.join(folder, SUMMARY_FILE);
    const ppFile = path.join(o.outputDir, 'postprocessing.json');
    const ppSummaryFile = path.join(o.outputDir, 'validation_raw_postprocessed', SUMMARY_FILE);
    const wantPP = o.determinePostprocessing ?? true;
    const needed = [summaryFile, ...(wantPP ? [ppFile, ppSummaryFile] : [])];
    const ckTime = fs.statSync(finalCk).mtimeMs;
    if (needed.some((f) => !fs.existsSync(f) || fs.statSync(f).mtimeMs < ckTime)) return null;
    const predictions = o.valCases.map((id) => path.join(folder, `${id}.nii.gz`));
    if (predictions.some((f) => !fs.existsSync(f))) return null;
    if (o.saveProbabilities && o.valCases.some((id) => !fs.existsSync(path.join(folder, `${id}.npy`)))) return null;
    const summary = readSummaryJson(summaryFile);
    const names = summary.results.all.map((c) => path.basename(String(c.test)));
    if (names.length !== predictions.length || predictions.some((p) => !names.includes(path.basename(p)))) return null;
    const labels = Array.from({ length: this.s.numClasses }, (_, i) => String(i));
    const diceOf = (mean: Record<string, { Dice?: number } | undefined>) => Object.fromEntries(labels.map((l) => [l, mean[l]?.Dice ?? NaN]));
    const pp = wantPP
      ? { file: ppFile, json: readPostprocessingJson(ppFile), meanDice: diceOf(readSummaryJson(ppSummaryFile).results.mean), summaryFile: ppSummaryFile }
      : null;
    return { summary, summaryFile, meanDice: diceOf(summary.results.mean), predictions, seconds: 0, postprocessing: pp };
  }

  /** Every validation case's `<case>_segFromPrevStage.npy` is there and newer than checkpoint_final. */
  private nextStageComplete(finalCk: string): boolean {
    return nextStageUpToDate(this.o.nextStage!.outputDir, this.o.valCases, finalCk);
  }

  dispose(): void {
    this.net?.dispose();
    this.sgd.dispose();
  }
}

/**
 * Train one configuration on one fold as nnUNetTrainerV2 (or the cascade full-res trainer when `previousStageDir`
 * is given), checkpointing as it goes, then validate the held-out cases (unless `validate: false`).
 * @example
 *   const r = await trainFold({ plans, configuration: '2d', preprocessedDir: pre.dir, trainCases, valCases, outputDir, fold: 0, epochs: 50 });
 *   r.plot();  r.validation?.meanDice;
 */
export async function trainFold(opts: TrainFoldOptions): Promise<TrainingResult> {
  // the selected fast backend (wasm here), never tfjs's silent default cpu backend; idempotent
  await initBackend();
  const run = await FoldRun.start(opts);
  try {
    if (run.finished && opts.progress !== false) {
      // the progress row says what happened; the result (and its summary) is the same as the first run's
      const label = `${opts.configuration} fold ${opts.fold}: reused ${run.maxEpochs} finished epochs (same settings; force: true retrains)`;
      const bar = progress(label, run.maxEpochs, { group: `train ${opts.configuration} fold ${opts.fold}` });
      bar.update(run.maxEpochs);
      bar.done();
    }
    if (run.finished && opts.onEpoch) {
      // replay the finished epochs, so live plots driven by onEpoch show the same curve as on the first run
      for (let i = 0; i < run.log.length; i++) await opts.onEpoch({ entry: run.log[i], log: run.log.slice(0, i + 1), maxEpochs: run.maxEpochs });
    }
    if (!run.finished) await run.epochs();
    return await run.onTrainEnd();
  } finally {
    run.dispose();
  }
}

// the training loop's public API besides trainFold (sdk/index.ts exports this module)
export * from './constants';
export { deriveSeed } from './seeds';
export { PrevStageCaseProvider } from './prev_stage_provider';
export { stepGradients, gradientWorkerCount, microBatchSize, WASM_CHUNK_BUDGET } from './iteration';
export { TrainingResult, loadTrainingResult } from './training_result';
export { validateFold, type ValidateFoldOptions, type ValidationResult } from './validation';
export * from '../checkpoint';
export { accumulateGradients, chunkedValidationLoss, chunkRanges } from './accumulation';
export type { AccumulatedStep } from './accumulation';
