/**
 * `npm run bench -- network --backend webgpu [--iters N] [--only 3d|2d|lung] [--batch B] [--conv tfjs,ops,wgsl]`
 *
 * The network bench on the webgpu backend: for each convolution formulation (tfjs's own Conv3D kernels, the
 * conv2d/matMul-based ops the wasm backend needs, and those ops with our WGSL kernels; NNUNET_CONV) the hippocampus 3d_fullres and 2d networks of the
 * official v1 plans (and with `--only lung` the MSD Task06 Lung 3d_fullres network, patch 80x192x160, batch 2):
 * forward and one training step's gradients (DC+CE with deep supervision, as trainStep) in s/iteration and GFLOP/s
 * (conv multiply-adds only; training counted as 3x forward), medians of N runs after one warm-up. With PyTorch and
 * CUDA on the machine, the same steps in PyTorch (bench/gpu/torch_step.py, AMP on and off) print in the same run.
 * On a software adapter (Mesa llvmpipe, how CI runs it) the figures only show the path works: they have no speed
 * meaning.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, BackendInfo } from '../sdk/network/backend';
import { describeNetwork, forwardFlops, UNetPlansConfiguration } from '../sdk/network/architecture';
import { GenericUNet } from '../sdk/network/generic_unet';
import { deepSupervisionWeights } from '../sdk/training/dice_ce_loss';
import { stepGradients } from '../sdk/training/trainer';
import { formatAdapter } from '../sdk/network/webgpu/adapter';
import { arg } from './script';
import { spawnSync } from 'child_process';

import gpuPlans from './gpu/plans.json';

const FIX = path.resolve(__dirname, '../../shared/fixtures/official');

/**
 * The MSD Task06 Lung 3d_fullres stage of the official v2.1 plans (test/planning/planner_lung.test.ts), from
 * bench/gpu/plans.json: the one copy of these numbers, which the GPU check's Python side reads too.
 */
export const LUNG_3D_FULLRES: UNetPlansConfiguration = (() => {
  const l = gpuPlans.full.lung_3d_fullres;
  return {
    pool_op_kernel_sizes: l.pool_op_kernel_sizes,
    conv_kernel_sizes: l.conv_kernel_sizes,
    UNet_base_num_features: l.base_num_features,
    patch_size: l.patch_size,
    batch_size: l.batch_sizes[0],
  };
})();

/** The network part of the official v1 hippocampus plans (../shared/fixtures/official), as both network benches use it. */
export function hippocampus(kind: '3d' | '2d'): UNetPlansConfiguration {
  const plans = JSON.parse(fs.readFileSync(path.join(FIX, `hippocampus_v1_plans_${kind}.json`), 'utf8'));
  const st = plans.plans_per_stage['0'];
  return { pool_op_kernel_sizes: st.pool_op_kernel_sizes, conv_kernel_sizes: st.conv_kernel_sizes, UNet_base_num_features: plans.base_num_features, patch_size: st.patch_size, batch_size: st.batch_size };
}

async function median(iters: number, f: () => Promise<void>): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await f();
    ts.push((performance.now() - t0) / 1000);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

export interface WebGpuRow {
  network: string;
  conv: string;
  pass: 'forward' | 'training step';
  seconds: number;
  gflops: number;
}

/** Times forward and training-step gradients of one network on the current backend. */
export async function timeNetwork(name: string, cfg: UNetPlansConfiguration, numClasses: number, iters: number, conv: string): Promise<WebGpuRow[]> {
  const bs = cfg.batch_size;
  const desc = describeNetwork(cfg, { numInputChannels: 1, numClasses });
  const F = forwardFlops(desc.architecture, cfg.patch_size, bs);
  const net = GenericUNet.fromPlans(cfg, { numInputChannels: 1, numClasses, seed: 1 });
  const x = tf.randomNormal([bs, ...cfg.patch_size, 1], 0, 1, 'float32', 2);
  const labels = tf.tidy(() => tf.cast(tf.clipByValue(tf.add(tf.squeeze(x, [x.rank - 1]), 1), 0, numClasses - 1), 'int32'));
  try {
    const fwd = async () => {
      const outs = net.forward(x);
      for (const o of outs) await o.data();
      tf.dispose(outs);
    };
    await fwd();
    const tF = await median(iters, fwd);
    const outShapes = tf.tidy(() => net.forward(tf.slice(x, [0, ...new Array(x.rank - 1).fill(0)], [1, ...x.shape.slice(1)])).map((o) => o.shape));
    const targets = outShapes.map((o) => {
      const strides = [1, ...o.slice(1, -1).map((v, i) => labels.shape[i + 1] / v)];
      return tf.stridedSlice(labels, new Array(labels.rank).fill(0), labels.shape, strides);
    });
    const weights = deepSupervisionWeights(outShapes.length);
    const step = async () => {
      const { loss, grads } = await stepGradients(net, x, targets, weights, false, bs);
      if (!Number.isFinite(loss)) throw new Error(`${name}: loss ${loss}`);
      for (const g of Object.values(grads)) await g.data();
      tf.dispose(Object.values(grads));
    };
    await step();
    const tB = await median(iters, step);
    tf.dispose(targets);
    return [
      { network: name, conv, pass: 'forward', seconds: tF, gflops: F / tF / 1e9 },
      { network: name, conv, pass: 'training step', seconds: tB, gflops: (3 * F) / tB / 1e9 },
    ];
  } finally {
    tf.dispose([x, labels]);
    net.dispose();
  }
}

export async function webgpuNetworkBench(args: string[]): Promise<void> {
  const iters = Number(arg(args, '--iters') ?? 3);
  const only = arg(args, '--only');
  const batch = arg(args, '--batch');
  const convs = (arg(args, '--conv') ?? 'tfjs,ops,wgsl').split(',') as Array<'tfjs' | 'ops' | 'wgsl'>;
  const nets: Array<[string, UNetPlansConfiguration, number]> = [];
  if (!only || only === '3d') nets.push(['hippocampus 3d_fullres', hippocampus('3d'), 3]);
  if (!only || only === '2d') nets.push(['hippocampus 2d', hippocampus('2d'), 3]);
  if (only === 'lung') nets.push(['Lung 3d_fullres', LUNG_3D_FULLRES, 2]);
  const rows: WebGpuRow[] = [];
  let info: BackendInfo | null = null;
  for (const conv of convs) {
    info = await initBackend({ backend: 'webgpu', conv, log: false });
    for (const [name, cfg0, nc] of nets) {
      const cfg = batch ? { ...cfg0, batch_size: Number(batch) } : cfg0;
      const label = `${name} b${cfg.batch_size} ${cfg.patch_size.join('x')}`;
      try {
        const r = await timeNetwork(label, cfg, nc, iters, conv);
        rows.push(...r);
        for (const x of r) console.log(`${x.network}  conv ${x.conv}  ${x.pass}: ${x.seconds.toFixed(3)} s, ${x.gflops.toFixed(1)} GFLOP/s`);
      } catch (e) {
        console.log(`${label}  conv ${conv}: failed: ${(e as Error).message.split('\n')[0]}`);
      }
    }
  }
  console.log(`\nbackend webgpu on ${formatAdapter(info!.adapter!)}, median of ${iters}`);
  if (info!.adapter!.software) console.log('(a software adapter: these figures show the path works; they have no speed meaning)');
  const w = Math.max(...rows.map((r) => r.network.length));
  console.log(`${'network'.padEnd(w)}  conv  pass           s/iter   GFLOP/s`);
  for (const r of rows) console.log(`${r.network.padEnd(w)}  ${r.conv.padEnd(4)}  ${r.pass.padEnd(13)}  ${r.seconds.toFixed(3).padStart(7)}  ${r.gflops.toFixed(1).padStart(8)}`);
  // the reference in the same run: the same steps in PyTorch on the same GPU (AMP and fp32), when torch has CUDA here
  const py = process.env.NNUNET_REFERENCE_PYTHON ?? 'python3';
  const cuda = spawnSync(py, ['-c', 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (cuda.status === 0) {
    console.log('\nPyTorch on the same GPU (bench/gpu/torch_step.py, v1 Generic_UNet, AMP and fp32):');
    spawnSync(py, [path.join(__dirname, 'gpu', 'torch_step.py'), '--iters', String(iters)], { stdio: 'inherit' });
  } else {
    console.log(`\nPyTorch reference: not run (${cuda.error ? `${py} not found` : cuda.status === 3 ? 'torch has no CUDA GPU here' : 'torch not importable'}); bench/gpu/ compares both on a GPU machine`);
  }
}
