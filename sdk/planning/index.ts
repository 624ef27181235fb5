/**
 * Public API of planning and folds (the fingerprint: sdk/fingerprint) (explicit list: helpers like roundHalfEven exist in several
 * modules and stay internal).
 */
export * from './plans_types';
export {
  Plans,
  applyOverrides,
  resolveConfiguration,
  validateConfiguration,
  defaultResampling,
  V1_TO_V2_NORMALIZATION,
  CONFIGURATION_FIELDS,
  type ConfigurationOverrides,
  type NetworkSummary,
} from './plans';
export { savePlans, savePlansSync, loadPlans } from './plans_files';
export { planExperiment, plansV21, configurationFromV1Stage, type PlanOptions, type PlansPreset, type PlanningFingerprint } from './plan_experiment';
export {
  planExperiment3DV21,
  planExperiment2DV21,
  getPropertiesForStage3DV21,
  getPropertiesForStage2DV21,
  getTargetSpacingV21,
  getTargetSpacingMedian,
  transposeFromSpacing,
  determineNormalizationSchemeV1,
  determineUseMaskForNormV1,
  V1_PLANNER,
  type V1Plans,
  type V1StagePlan,
  type V1PlanResult,
  type ShrinkStep,
} from './planner_v21';
export {
  planExperimentV2,
  getPoolAndConvPropsV2,
  plainConvUNetFeatureMapSize,
  residualEncoderUNetFeatureMapSize,
  V2_PLANNER,
  V2_VARIANTS,
  type V2PlannerVariant,
} from './planner_v2';
export { getPoolAndConvProps, padShape, getShapeMustBeDivisibleBy, type PoolAndConvProps } from './pool_and_conv_props';
export { computeApproxVramConsumption, GENERIC_UNET } from './vram';
export { generateSplits, kfoldTestIndices, saveSplits, saveSplitsSync, loadSplits, SPLIT_SEED, type Split } from './splits';
