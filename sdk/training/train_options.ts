/** The options of trainFold and its callbacks' payloads (defaults: nnUNetTrainerV2's, constants.ts). */
import type { Dataset } from '../io/dataset';
import type { Plans, PlansJSON } from '../planning/plans';
import type { TrainingLogEntry } from '../checkpoint/training_log';

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
  /**
   * true: continue from the latest checkpoint (error if none, or if it belongs to another run); 'auto': continue when a
   * checkpoint of this same run exists (a finished one is reused: no training, its validation reused when complete),
   * else start afresh; false: start afresh, replacing earlier checkpoints. Default false (nnUNet_train without -c);
   * the fluent `fold(k).train()` uses 'auto'.
   */
  resume?: boolean | 'auto';
  /** Full validation of valCases after training (default true). */
  validate?: boolean;
  /** Mirroring TTA in the final validation (default true). */
  mirroring?: boolean;
  /** Also write validation_raw/<case>.npy (+ .json) float16 probabilities for ensembling. */
  saveProbabilities?: boolean;
  /** Called after every epoch (live plots); a reused finished run replays its epochs through it. */
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
  /**
   * Stop at the next epoch end, after saving checkpoint_latest, once this is aborted (an AbortSignal): a cluster
   * job's time-limit signal, or Ctrl-C. The result then has `stoppedEarly`; training with `resume` continues it.
   */
  stopSignal?: { readonly aborted: boolean };
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
   * cascade (predictNextStage) into `outputDir` (normally paths.ts predNextStageFolder(...)), at the full-res preprocessed shapes.
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
