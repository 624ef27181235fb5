/** Network engine: backend selection, our conv ops (as `ops`), the Generic U-Net, its description and weights. */
export * from './backend';
export * from './architecture';
export * from './generic_unet';
export * from './weights';
export * from './weights_codec';
export * from './dynamic_unet';
export * from './receptive_field';
export * as ops from './ops';
export { formatAdapter, isSoftwareAdapter, type WebGpuAdapterReport, type WebGpuLimits } from './webgpu/adapter';
export { GpuExecutionError } from './webgpu/device_errors';
