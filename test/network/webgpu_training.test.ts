/**
 * Training on the webgpu backend (on CPU machines: Mesa's software OpenGL ES; correctness, not speed):
 * - the loss curve of a short hippocampus 2d run (real data, tiny budget) and of the synthetic 3d task equals the wasm
 *   run's to float noise (same seed, same batches);
 * - 200 training steps leave tf.memory() flat (tensors and GPU bytes);
 * - a batch whose feature maps do not fit the GPU is refused before any step, with the batch, patch and way out named,
 *   and the model folder's checkpoint is not touched.
 * Skipped with the reason when webgpu cannot start here (test/helpers/webgpu.ts).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { GpuExecutionError } from '../../sdk/network/webgpu/device_errors';
import { trainFold, TrainFoldOptions } from '../../sdk/training/trainer';
import { Task } from '../../sdk/task';
import { TinyTask, tinyTask, tinyTrainOptions } from '../training/trainer_fixture';
import { hippocampusSubset } from '../helpers/hippocampus_subset';
import { webgpuUnavailable } from '../helpers/webgpu';

const skip = webgpuUnavailable() ?? false;
let task: TinyTask;
let outRoot: string;

function opts(configuration: string, outDir: string, extra: Partial<TrainFoldOptions> = {}): TrainFoldOptions {
  return tinyTrainOptions(task, outRoot, configuration, outDir, { gradientWorkers: 0, seed: 11, ...extra });
}

/** Largest relative difference between two loss curves (relative to each loss's magnitude, at least 1). */
function curveDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(1, Math.abs(v))));
}

describe('training on webgpu', { skip }, () => {
  before(async () => {
    process.env.NNUNET_PROGRESS = '0';
    task = await tinyTask();
    outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-webgpu-'));
  });

  test('3d_fullres and 2d (synthetic task): train and validation losses equal the wasm run to float noise', async () => {
    for (const configuration of ['3d_fullres', '2d']) {
      const runs: Record<string, { train: number[]; val: number[] }> = {};
      for (const backend of ['wasm', 'webgpu'] as const) {
        await initBackend({ backend, log: false });
        const r = await trainFold(opts(configuration, `${configuration}_${backend}`, { epochs: 3 }));
        runs[backend] = { train: r.log.map((e) => e.train_loss), val: r.log.map((e) => e.val_loss as number) };
      }
      const d = Math.max(curveDiff(runs.webgpu.train, runs.wasm.train), curveDiff(runs.webgpu.val, runs.wasm.val));
      console.log(`# ${configuration}: wasm ${runs.wasm.train.map((v) => v.toFixed(5))} / webgpu ${runs.webgpu.train.map((v) => v.toFixed(5))}; max rel diff ${d.toExponential(2)}`);
      assert.ok(d < 2e-3, `${configuration}: webgpu losses differ from wasm by ${d}`);
      assert.notDeepEqual(runs.webgpu.train, runs.wasm.train.map(() => 0));
    }
  });

  test('with our WGSL kernels (NNUNET_CONV=wgsl): the 3d_fullres train and validation losses equal the wasm run to float noise', async () => {
    const runs: Record<string, { train: number[]; val: number[] }> = {};
    for (const [backend, conv] of [['wasm', undefined], ['webgpu', 'wgsl']] as const) {
      await initBackend({ backend, conv, log: false });
      const r = await trainFold(opts('3d_fullres', `3d_fullres_${backend}_${conv ?? ''}`, { epochs: 3 }));
      runs[backend] = { train: r.log.map((e) => e.train_loss), val: r.log.map((e) => e.val_loss as number) };
    }
    await initBackend({ backend: 'webgpu', conv: 'ops', log: false });
    const d = Math.max(curveDiff(runs.webgpu.train, runs.wasm.train), curveDiff(runs.webgpu.val, runs.wasm.val));
    console.log(`# 3d_fullres, wgsl: wasm ${runs.wasm.train.map((v) => v.toFixed(5))} / webgpu ${runs.webgpu.train.map((v) => v.toFixed(5))}; max rel diff ${d.toExponential(2)}`);
    assert.ok(d < 2e-3, `3d_fullres: webgpu (wgsl) losses differ from wasm by ${d}`);
  });

  test('hippocampus 2d (real data, tiny budget): the loss curve equals the wasm run to float noise', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-webgpu-hippo-'));
    const dir = hippocampusSubset(work, { numTraining: 6, numTest: 0 });
    const fold = await Task.load(dir, { workDir: path.join(work, 'work'), threads: 1 }).fingerprint().plan().fold(0);
    const curves: Record<string, number[]> = {};
    for (const backend of ['wasm', 'webgpu'] as const) {
      await initBackend({ backend, log: false });
      const plans = fold.plans.override({ '2d': { batch_size: 4 } }, { plansName: `nnUNetPlansv2.1_${backend}` });
      const r = await plans.fold(0).train({ configuration: '2d', epochs: 2, iterationsPerEpoch: 2, validationIterations: 1, validate: false, seed: 3, numThreads: 0, gradientWorkers: 0 });
      curves[backend] = r.log.map((e) => e.train_loss);
    }
    const d = curveDiff(curves.webgpu, curves.wasm);
    console.log(`# hippocampus 2d: wasm ${curves.wasm.map((v) => v.toFixed(5))} / webgpu ${curves.webgpu.map((v) => v.toFixed(5))}; max rel diff ${d.toExponential(2)}`);
    assert.ok(d < 2e-3, `hippocampus 2d: webgpu loss curve differs from wasm by ${d}`);
  });

  test('200 training steps: tf.memory() stays flat (tensors and GPU bytes)', async () => {
    await initBackend({ backend: 'webgpu', log: false });
    const mem: { numTensors: number; numBytes: number; gpu: number }[] = [];
    await trainFold(
      opts('2d', 'memory', {
        epochs: 2,
        iterationsPerEpoch: 100,
        validationIterations: 0,
        onIteration: (i) => {
          if (i.split !== 'train') return;
          const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number };
          mem.push({ numTensors: m.numTensors, numBytes: m.numBytes, gpu: m.numBytesInGPUAllocated ?? m.numBytesInGPU ?? 0 });
        },
      }),
    );
    assert.equal(mem.length, 200);
    const ref = mem[4]; // after warm-up (pipelines, buffer pool)
    const last = mem[mem.length - 1];
    console.log(`# memory after step 5: ${ref.numTensors} tensors, ${ref.numBytes} B, GPU ${ref.gpu} B; after step 200: ${last.numTensors}, ${last.numBytes} B, GPU ${last.gpu} B`);
    for (const m of mem.slice(4)) {
      assert.equal(m.numTensors, ref.numTensors);
      assert.equal(m.numBytes, ref.numBytes);
    }
    assert.ok(last.gpu <= ref.gpu * 1.05 + 1e6, `GPU bytes grew from ${ref.gpu} to ${last.gpu}`);
  });

  test('a batch that does not fit the GPU is refused before any step, naming batch, patch and the way out; checkpoints stay', async () => {
    await initBackend({ backend: 'webgpu', log: false });
    const first = await trainFold(opts('2d', 'too_big', { epochs: 1 }));
    const before = fs.readFileSync(first.checkpoint);
    // the smallest batch whose largest feature map (2 x base features at full resolution, float32) exceeds the limit
    const cfg = task.plans.configuration('2d');
    const perSample = cfg.patch_size.reduce((a, b) => a * b, 1) * 2 * cfg.UNet_base_num_features * 4;
    const limit = (tf.backend() as unknown as { device: { limits: { maxStorageBufferBindingSize: number } } }).device.limits.maxStorageBufferBindingSize;
    const batch = Math.floor(limit / perSample) + 1;
    const patch = cfg.patch_size.join('x');
    await assert.rejects(trainFold(opts('2d', 'too_big', { epochs: 2, batchSize: batch, resume: false })), (e: unknown) => {
      assert.ok(e instanceof GpuExecutionError, String(e));
      assert.match((e as Error).message, new RegExp(`training step of 2d: batch ${batch} of patch ${patch}`));
      assert.match((e as Error).message, /maxStorageBufferBindingSize/);
      assert.match((e as Error).message, /smaller batch.*gpuMemoryTargetGB/);
      return true;
    });
    assert.ok(fs.readFileSync(first.checkpoint).equals(before), 'the earlier checkpoint is unchanged');
  });
});
