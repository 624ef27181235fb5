/** Trained models loaded for prediction: official nnU-Net v1 and v2 model folders, export as v2 (issue 22). */
export { Model } from './model';
export { ModelV2 } from './model_v2';
export type { ModelV2LoadOptions, ModelV2Prediction, ModelV2PredictOptions } from './model_v2';
export { exportLogitsV2, normalizeChannelV2, predictCaseV2, predictLogitsV2, preprocessV2, V2_NORMALIZATIONS, v2ResamplingKwargs } from './v2_predict';
export type { V2CaseProperties, V2CasePrediction, V2Preprocessed } from './v2_predict';
export type { ImportModelOptions, ModelLoadOptions, ModelPredictOptions, ModelPrediction } from './model';
export { findModelFolders, findV2ModelFolders, MODEL_MANIFEST, modelStore, resolveModelDir } from './import';
export type { ModelManifest } from './import';
export {
  ModelImportError,
  SUPPORTED_V1_TRAINERS,
  findV1ModelFolder,
  loadV1Network,
  readV1CheckpointInfo,
  readV1Plans,
  v1Architecture,
  v1PlansToPlansJSON,
  v1Stage,
  valuesFromStateDict,
} from './v1';
export type { V1CheckpointInfo, V1Configuration, V1Fold, V1ModelFolder, V1PlansPickle } from './v1';
export { ALLOWED_GLOBALS, NDArray, NumpyDtype, PickleError, pyAttributes, readPickle, readPickleAt, readPickleFile, TorchTensor } from '../io/pickle';
export type { PickleOptions, TorchDtype } from '../io/pickle';
export { parseTorchCheckpoint, readTorchCheckpoint, tensorsOf, TorchCheckpointError } from '../io/torch_checkpoint';
export type { TorchCheckpoint } from '../io/torch_checkpoint';
export {
  findV2ModelFolder,
  isV2ModelFolder,
  loadV2Model,
  predictPreprocessedV2,
  readV2Checkpoint,
  resolveV2Configuration,
  SUPPORTED_V2_TRAINERS,
  V2_TRAINER_VARIANTS,
  isSupportedV2Trainer,
  v2LabelManager,
  v2NetworkSpec,
  v2NumClasses,
  valuesFromV2StateDict,
} from './v2';
export type { V2Checkpoint, V2Configuration, V2DatasetJSON, V2Model, V2ModelFolder, V2PlansJSON, V2PredictOptions } from './v2';
export type { V2Labels } from './v2_labels';
export { exportModelV2, ModelExportError, plainConvUNetSpecOf, plainConvUNetStateDictKeys, v2DatasetJson } from './export_v2';
export type { ExportV2Options } from './export_v2';
export { PyDevice, PyOrderedDict, PyTuple, TorchTensorOut, torchSaveBytes, writePickle } from '../io/torch_save';
