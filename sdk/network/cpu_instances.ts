/**
 * Extra wasm/cpu instances in worker threads, as gradient workers (training/data_parallel.ts) and tile workers
 * (inference/tile_workers.ts) run them: tfjs-wasm computes on one thread, so more instances are how those backends use
 * more cores. Node only (worker threads).
 */
import * as tf from '@tensorflow/tfjs';
import { useNativeConv3d } from './backend';
import { defaultThreads } from '../util/pool';

/**
 * How many extra instances to start for `n`: 'auto' = cores - 1, at most 3; none on native TensorFlow (it already uses
 * every core) or webgpu (one device), whatever `n` says. `option` names the setting in the error for a bad `n`.
 */
export function extraCpuInstances(n: number | 'auto', option: string): number {
  if (useNativeConv3d() || tf.getBackend() === 'webgpu') return 0;
  if (n === 'auto') return Math.max(0, Math.min(defaultThreads() - 1, 3));
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${option} must be a non-negative integer or 'auto', got ${n}`);
  return n;
}
