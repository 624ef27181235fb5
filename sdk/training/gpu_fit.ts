/**
 * Whether a training batch fits the GPU, and how GPU errors name the work. On webgpu tfjs binds whole tensors, so the
 * largest feature map must fit in one storage binding (maxStorageBufferBindingSize); a batch that does not is refused
 * before its first step with the batch, the patch and the way out named (device_errors.ts). No-ops on other backends.
 */
import { checkTensorFits } from '../network/webgpu/device_errors';
import type { PlansConfiguration } from '../planning/plans';

/** "training step of 3d_fullres: batch 2 of patch 80x192x160"; dataShape is (B, C, ...spatial), axes (z, y, x). */
export function gpuWorkLabel(what: string, configuration: string | undefined, dataShape: number[]): string {
  return `${what} step of ${configuration ?? 'this configuration'}: batch ${dataShape[0]} of patch ${dataShape.slice(2).join('x')}`;
}

/**
 * Bytes of the largest feature map of a Generic U-Net training step: the decoder's full-resolution concatenation
 * (2 x base features channels, float32) over the whole batch.
 */
export function largestFeatureMapBytes(cfg: Pick<PlansConfiguration, 'batch_size' | 'patch_size' | 'UNet_base_num_features'>): number {
  const vox = cfg.patch_size.reduce((a, b) => a * b, 1);
  return cfg.batch_size * vox * 2 * cfg.UNet_base_num_features * 4;
}

/** Throws GpuExecutionError on webgpu when the configuration's batch does not fit one storage binding. */
export function checkBatchFitsGpu(cfg: Pick<PlansConfiguration, 'batch_size' | 'patch_size' | 'UNet_base_num_features'>, configuration: string | undefined): void {
  checkTensorFits(largestFeatureMapBytes(cfg), gpuWorkLabel('training', configuration, [cfg.batch_size, 1, ...cfg.patch_size]));
}
