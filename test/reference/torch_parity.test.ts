// reference suite: python3-torch 1.13, python3-skimage, Mesa GL (webgpu) -- training steps (2d, 3d_fullres; wasm and webgpu) equal PyTorch nnU-Net v1's within float32 noise
/**
 * Training-step parity with PyTorch (bench/torch_step_parity.ts + bench/python/torch_step_parity.py): the hippocampus
 * 2d and 3d_fullres networks from the official plans, the same initial weights and the same batch of real slices /
 * volumes, through our trainer's step (network, DC+CE deep supervision, targets, clipping, SGD) and through an
 * independent PyTorch re-implementation of nnU-Net v1's. Losses, gradient norms, outputs, step-0 gradients and the
 * parameters after the steps must agree within float32 noise (PyTorch float32 vs float64 is the yardstick).
 * Needs Debian's python3-torch (1.13, the official CPU baseline's version) and python3-skimage; .ci/run installs them.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { torchStepParity } from '../../bench/torch_step_parity';
import { webgpuUnavailable } from '../helpers/webgpu';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nnunet-torch-parity-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function check(r: { status: number; report: string }): void {
  assert.equal(r.status, 0, `PyTorch parity failed:\n${r.report}`);
  assert.match(r.report, /\nPASS\n?$/);
  // the report really compared something: 3 targets, a loss row per step, every output head
  assert.equal((r.report.match(/^target \d .*: 0 voxels differ/gm) ?? []).length, 3, r.report);
}

test('2d training steps (chunked accumulation) equal PyTorch nnU-Net v1 within float32 noise', async () => {
  check(await torchStepParity({ configuration: '2d', batch: 12, chunk: 5, steps: 2, out: path.join(tmp, '2d') }));
});

test('3d_fullres training step (our conv3d ops) equals PyTorch nnU-Net v1 within float32 noise', async () => {
  check(await torchStepParity({ configuration: '3d_fullres', batch: 1, steps: 1, out: path.join(tmp, '3d') }));
});

// the same steps on the webgpu backend (here: Mesa's software OpenGL ES; our conv ops, the default there, and our WGSL kernels)
const noWebgpu = webgpuUnavailable() ?? false;

test('webgpu: 2d training steps (chunked accumulation) equal PyTorch nnU-Net v1 within float32 noise', { skip: noWebgpu }, async () => {
  check(await torchStepParity({ configuration: '2d', batch: 12, chunk: 5, steps: 2, out: path.join(tmp, '2d_webgpu'), backend: 'webgpu' }));
});

test('webgpu: 3d_fullres training step equals PyTorch nnU-Net v1 within float32 noise', { skip: noWebgpu }, async () => {
  check(await torchStepParity({ configuration: '3d_fullres', batch: 1, steps: 1, out: path.join(tmp, '3d_webgpu'), backend: 'webgpu' }));
});

test('webgpu with our WGSL kernels (NNUNET_CONV=wgsl): 3d_fullres training step equals PyTorch nnU-Net v1 within float32 noise', { skip: noWebgpu }, async () => {
  check(await torchStepParity({ configuration: '3d_fullres', batch: 1, steps: 1, out: path.join(tmp, '3d_webgpu_wgsl'), backend: 'webgpu', conv: 'wgsl' }));
});
