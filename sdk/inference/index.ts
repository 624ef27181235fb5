/** Inference building blocks: sliding window, Gaussian map, export, probability files (ensembling: sdk/ensembling). */
export {
  computeSlidingWindowSteps,
  mirrorCombinations,
  predictSlidingWindow,
  predictEnsemble,
  argmaxClasses,
  softmaxInPlace,
} from './sliding_window';
export type { PatchPredictor, SlidingWindowOptions, ClassProbabilities } from './sliding_window';
export { getGaussian, getGaussianV2, roundToFloat16 } from './gaussian';
export { predictLogitsSlidingWindowV2, mirrorCombinationsV2, softmaxChannelsFirst, argmaxChannelsFirst } from './sliding_window_v2';
export type { SlidingWindowV2Options } from './sliding_window_v2';
export {
  probabilitiesToCroppedGeometry,
  segmentationFromProbabilities,
  segmentationFromCroppedProbabilities,
} from './export';
export type { ExportPredictionOptions } from './export';
export { exportPrediction, exportSegmentation, saveProbabilities, loadProbabilities, encodeFloat16Npy } from './export_files';
export type { ExportFiles } from './export_files';
export { tfjsPatchPredictor } from './tfjs_predictor';
export type { TfjsPredictorOptions } from './tfjs_predictor';
