/** Postprocessing: nnU-Net v1's largest-connected-component removal, decided on validation and applied at prediction. */
export * from './connected_components';
export { determinePostprocessingFolder } from './folders';
