/**
 * nnunet-ts public API. Axis order is (z, y, x) everywhere outside NIfTI I/O (see sdk/io/volume.ts).
 * Each module below adds its exports here (one line per module).
 */
export * from './io/volume';
export * from './io/npy';
export * from './io/atomic';
export * from './util/random';
export * from './util/progress';
export * from './chain';
export * from './task';
export * from './fingerprint';
export * from './planning';
export * from './io/raw';
export * from './inference';
export * from './evaluation';
export * from './viz';
export * from './preprocessing';
export * from './training';
export * from './network';
export * from './training/trainer';
export * from './synthetic';
export * from './inference/predict';
export * from './postprocessing';
export * from './ensembling';
export * from './model_selection';
export * from './cropping/cropping';
export * from './model';
export * from './protocol';
export type { Roots, RootOptions } from './paths';
export {
  resolveRoots,
  ROOT_ENV,
  DEFAULT_WORK_DIR,
  configurationFolder,
  foldFolder,
  foldFolderName,
  validationFolder,
  predNextStageFolder,
  trainedFoldFolder,
  preprocessedFolder,
} from './paths';
