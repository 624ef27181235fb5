/**
 * Public API of preprocessing (explicit list: small helpers such as roundHalfEven exist in several modules and stay
 * internal). Cropping to the nonzero region, which the fingerprint uses too, is sdk/cropping.
 */
export {
  RESAMPLING_SEPARATE_Z_ANISO_THRESHOLD,
  computeNewShape,
  getDoSeparateZ,
  getLowresAxis,
  decideSeparateZ,
  nearestIndices,
  resizeImage,
  resizeSegmentation,
  resampleChannel,
  resamplePatient,
} from './resampling';
export type { SeparateZDecision, ImageOrder, ResampleOptions, ResamplePatientResult, NumericArray } from './resampling';
export { toV1Scheme, normalizeChannel, meanStdF32 } from './normalization';
export type { V1NormalizationScheme, CTIntensityStats, NormalizeOptions } from './normalization';
export {
  CLASS_LOCATIONS_NUM_SAMPLES,
  CLASS_LOCATIONS_MIN_PERCENT_COVERAGE,
  CLASS_LOCATIONS_SEED,
  numClassLocationSamples,
  sampleClassLocations,
  classLocationsToLists,
  classLocationsFromLists,
} from './class_locations';
export type { ClassLocations } from './class_locations';
export { preprocessCase, preprocessSettingsFromPlans, transpose3, targetSpacingFor } from './preprocessing';
export type { CroppedProperties, CroppedCaseInput, PreprocessSettings, PreprocessedProperties, PreprocessedCase } from './preprocessing';
export {
  PREPROCESSING_VERSION,
  preprocessConfiguration,
  preprocessingHash,
  preprocessCaseJob,
  isCaseDone,
  caseFiles,
  Preprocessed,
} from './preprocessed_dataset';
export type { PreprocessConfigurationOptions, PreprocessJob, PreprocessJobResult, StoredProperties, CaseArrays } from './preprocessed_dataset';
export { revertSegmentation, revertProbabilities, labelVolume } from './export';
export type { ExportProperties, ExportOptions } from './export';
