/** Trained models loaded for prediction: official nnU-Net v1 model folders (issue 22). */
export { Model } from './model';
export type { ImportModelOptions, ModelLoadOptions, ModelPredictOptions, ModelPrediction } from './model';
export { findModelFolders, MODEL_MANIFEST, modelStore, resolveModelDir } from './import';
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
