/** Postprocessing: nnU-Net v1's largest-connected-component removal, decided on validation and applied at prediction. */
export * from './connected_components';
export * from './determine';
export { determinePostprocessingFolder } from './folders';
