/**
 * GPU errors that tfjs does not surface. tfjs-backend-webgpu never checks its device for errors: a buffer that does
 * not fit (out of memory, or larger than maxStorageBufferBindingSize) becomes an invalid buffer, the kernels that use
 * it are dropped, and the results read back as zeros. Here the device's uncaptured errors and its loss are collected,
 * and the training and inference loops call `throwIfGpuFailed(context)` after each step or tile, so a run that ran
 * out of GPU memory stops with the tile and batch named instead of training on garbage.
 */
import * as tf from '@tensorflow/tfjs';

interface DeviceLike {
  addEventListener?(type: 'uncapturederror', f: (e: { error: { message: string; constructor: { name: string } } }) => void): void;
  onuncapturederror?: ((e: { error: { message: string; constructor: { name: string } } }) => void) | null;
  lost?: Promise<{ reason: string; message: string }>;
}

const pending: { kind: string; message: string }[] = [];
const watched = new WeakSet<object>();
let lost: string | null = null;

/** Start collecting errors of the current tfjs webgpu backend's device (no-op on other backends). */
export function watchWebGpuDevice(): void {
  if (tf.getBackend() !== 'webgpu') return;
  const device = (tf.backend() as unknown as { device?: DeviceLike }).device;
  if (!device || watched.has(device)) return;
  watched.add(device);
  const onError = (e: { error: { message: string; constructor: { name: string } } }) =>
    pending.push({ kind: e.error?.constructor?.name ?? 'GPUError', message: String(e.error?.message ?? e) });
  if (device.addEventListener) device.addEventListener('uncapturederror', onError);
  else device.onuncapturederror = onError;
  void device.lost?.then((info) => {
    lost = `${info.reason}: ${info.message}`;
  });
}

export class GpuExecutionError extends Error {
  readonly outOfMemory: boolean;
  constructor(message: string, outOfMemory: boolean) {
    super(message);
    this.name = 'GpuExecutionError';
    this.outOfMemory = outOfMemory;
  }
}

/**
 * Throw when the GPU reported errors since the last call. `context` names the work (e.g. "training step: batch 2 of
 * patch 80x192x160, 3d_fullres"); the message adds the way out.
 */
export function throwIfGpuFailed(context: string): void {
  if (tf.getBackend() !== 'webgpu') return;
  if (!pending.length && !lost) return;
  const errors = pending.splice(0);
  const oom = errors.some((e) => /OutOfMemory/i.test(e.kind) || /out of memory|exceeds the (max|limit)|maxBufferSize|maxStorageBufferBindingSize/i.test(e.message));
  const first = errors.slice(0, 3).map((e) => `${e.kind}: ${e.message.split('\n')[0]}`);
  const msg =
    `GPU failed during ${context}: ${lost ? `device lost (${lost}); ` : ''}${first.join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}. ` +
    (oom || lost
      ? 'This tile/batch does not fit this GPU: use a smaller batch (trainer option batchSize) or plans made for this GPU ' +
        '(plan({ gpuMemoryTargetGB }) gives smaller patches); for inference, a smaller tile is not possible (the patch is the tile), ' +
        'so use a GPU with more memory or the wasm backend. Checkpoints written so far are kept.'
      : 'Results of this step are not valid.');
  throw new GpuExecutionError(msg, oom || lost !== null);
}

/**
 * Refuse before running when one tensor of the work is larger than the adapter lets one shader bind (tfjs binds
 * whole tensors): `bytes` is the largest tensor's size.
 */
export function checkTensorFits(bytes: number, context: string): void {
  if (tf.getBackend() !== 'webgpu') return;
  const limits = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number; maxBufferSize?: number } } }).device?.limits;
  const limit = Math.min(Number(limits?.maxStorageBufferBindingSize ?? Infinity), Number(limits?.maxBufferSize ?? Infinity));
  if (bytes > limit) {
    throw new GpuExecutionError(
      `${context}: its largest tensor is ${(bytes / 2 ** 20).toFixed(0)} MB, more than this GPU binds in one buffer ` +
        `(maxStorageBufferBindingSize ${(limit / 2 ** 20).toFixed(0)} MB). Use a smaller batch (trainer option batchSize) or plans made ` +
        `for this GPU (plan({ gpuMemoryTargetGB }) gives smaller patches).`,
      true,
    );
  }
}
