/**
 * Training building blocks (loader, augmentation, loss, optimiser, online evaluation). Explicit re-exports: small
 * numeric helpers (roundHalfEven, prod, ...) stay internal to avoid clashes with other modules.
 */
export { getPatchSize, setupDAParams, getDeepSupervisionScales } from './patch_size';
export type { MoreDAParams, SetupDAOptions, AngleRange } from './patch_size';
export {
  DataLoader3D,
  DataLoader2D,
  InMemoryCaseProvider,
  NpyFolderCaseProvider,
  forcedForegroundIndices,
  isForcedForeground,
} from './data_loader';
export type { CaseProvider, PreprocessedCase as LoaderCase, LoaderBatch, DataLoaderOptions } from './data_loader';
export { mapCoordinates, resizeEdge as skimageResizeEdge, splineFilter3 } from './map_coordinates';
export type { MapCoordinatesOptions } from './map_coordinates';
export { gaussianFilter as scipyGaussianFilter } from './gaussian_filter';
export { Compose as AugmentationCompose, RandomTransform } from './transforms/base';
export type { AugBatch, Transform as AugmentationTransform, PerSample, RecordedStep } from './transforms/base';
export { SpatialTransform } from './transforms/spatial_transform';
export type { SpatialTransformOptions, SpatialParams } from './transforms/spatial_transform';
export { GaussianNoiseTransform, GaussianBlurTransform } from './transforms/noise_transforms';
export type { GaussianNoiseOptions, GaussianNoiseParams, GaussianBlurOptions, GaussianBlurParams } from './transforms/noise_transforms';
export { BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform } from './transforms/color_transforms';
export type {
  BrightnessMultiplicativeOptions,
  BrightnessParams,
  ContrastAugmentationOptions,
  ContrastParams,
  GammaOptions,
  GammaParams,
} from './transforms/color_transforms';
export { SimulateLowResolutionTransform } from './transforms/resample_transforms';
export type { SimulateLowResolutionOptions, SimulateLowResolutionParams } from './transforms/resample_transforms';
export { MirrorTransform } from './transforms/mirror_transform';
export type { MirrorOptions, MirrorParams } from './transforms/mirror_transform';
export {
  SegChannelSelectionTransform,
  RemoveLabelTransform,
  MaskTransform,
  Convert3DTo2DTransform,
  Convert2DTo3DTransform,
} from './transforms/utility_transforms';
export type { SegChannelSelectionOptions, RemoveLabelOptions, MaskOptions } from './transforms/utility_transforms';
export { DownsampleSegForDSTransform2, RenameSegToTargetTransform, downsampleSegForDS } from './transforms/downsampling';
export type { DownsampleSegForDSOptions } from './transforms/downsampling';
export {
  MoveSegAsOneHotToData,
  ApplyRandomBinaryOperatorTransform,
  RemoveRandomConnectedComponentFromOneHotEncodingTransform,
} from './transforms/pyramid_augmentations';
export type {
  MoveSegAsOneHotToDataOptions,
  ApplyRandomBinaryOperatorOptions,
  BinaryOperatorParams,
  RemoveRandomConnectedComponentOptions,
  RemoveConnectedComponentParams,
} from './transforms/pyramid_augmentations';
export { getMoreDAPipeline, getValidationPipeline, augmentBatch, augmentBatchRecorded, NNUNET_V1_AUGMENTATION } from './pipeline';
export type { AugmentJob } from './pipeline';
export { BatchGenerator } from './batch_generator';
export type { BatchGeneratorOptions, BatchGeneratorStats, BatchSource } from './batch_generator';
export { softDiceLoss, crossEntropyLoss, dcAndCeLoss, deepSupervisionWeights, multipleOutputLoss, batchDiceForConfiguration } from './dice_ce_loss';
export type { SoftDiceOptions, DCAndCEOptions } from './dice_ce_loss';
export { channelsFirstToTensor, labelMapToTensor, batchToTensors } from './tensors';
export { polyLR, clipGradNorm, SGDNesterov } from './optimizer';
export type { SGDState } from './optimizer';
export { OnlineEvaluation, EvalCriterionMovingAverage } from './online_evaluation';
