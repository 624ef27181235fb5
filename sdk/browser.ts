/**
 * The SDK's browser entry: the Node-free numeric core the web app (web/) bundles. The page runs nnU-Net's own
 * pipeline from these modules, the same source Node runs (test/architecture.test.ts checks that nothing here reaches
 * a Node-only module by a static import).
 *   decodeNifti -> loadWebModel -> predictVolume (crop, preprocess, sliding window + TTA, export, postprocessing)
 *   -> encodeNifti
 * Axis order is (z, y, x) everywhere, as in nnU-Net.
 */
export { decodeNifti, encodeNifti, niftiBaseName, setNiftiReaderLoader, type NiftiFile } from './io/nifti_codec';
export type { Volume, VoxelArray, Shape3, Spacing3 } from './io/volume';
export { initBackend, backendInfo, type BackendInfo, type BackendName, type InitBackendOptions } from './network/backend';
export { checkTensorFits, GpuExecutionError, throwIfGpuFailed } from './network/webgpu/device_errors';
export { networkFromWeights, decodeWeights, type WeightsManifest } from './network/weights_codec';
export { inferenceModel, predictVolume, preprocessForModel, type InferenceModel, type PredictVolumeOptions, type VolumePrediction } from './inference/predict_volume';
export { PredictionCancelled } from './inference/sliding_window';
export {
  checkWebModel,
  disposeWebModel,
  labelVolumesMl,
  loadAnyWebModel,
  loadWebModel,
  predictWebModel,
  type LoadedWebModel,
  paletteColors,
  WEB_MODEL_FORMAT,
  type Rgb,
  type WebModelManifest,
} from './model/web_model';
export type { PlansJSON, PlansConfiguration } from './planning/plans';
export { resolveConfiguration } from './planning/plans';
