/**
 * The prepared GPU check (issue 21): one run on a lent GPU machine prints every figure at once. Bundled by
 * bench/gpu/build.sh into bench/gpu/dist/check.js (Node.js, dawn.node and this bundle travel; node_modules does
 * not) and run by bench/gpu/run.sh:
 *
 *   node bench/gpu/dist/check.js [--quick] [--json FILE] [--iters N] [--budget-s S]
 *
 * Parts, each under its own time budget and in its own try/catch (a failing part prints its error line and the next
 * part runs; GPU errors that tfjs does not surface are caught by throwIfGpuFailed after every step):
 *   1. the WebGPU adapter and the backends skipped on the way (automatic selection, then webgpu explicitly);
 *   2. op parity against the tfjs cpu backend on small shapes (conv3d forward/dx/dw at stride 1 and 2 with 3x3x3 and
 *      1x3x3 kernels, convTranspose3d, biasInstanceNormLeakyRelu) through sdk/network/ops.ts, for the three conv
 *      formulations on webgpu ('tfjs' kernels, our 'ops', and 'wgsl': the ops with our WGSL kernels,
 *      sdk/network/webgpu/wgsl_kernels.ts); PASS below 1e-4 relative error;
 *   3. seconds per training iteration as the trainer runs it (trainStep: DC+CE with deep supervision, backward, clip
 *      to 12, SGD nesterov), hippocampus and Lung 3d_fullres from the plans in bench/gpu/plans.json, each conv
 *      formulation, median after one warm-up step, GFLOP/s (3x the forward FLOPs), tf.memory() before and after;
 *   4. one Lung 3d_fullres inference tile (forward only), without and with the 8 mirrorings.
 * Every figure is printed as soon as it exists and the JSON file is rewritten after each, so a timeout keeps them.
 * --quick: the same topologies at toy sizes (bench/gpu/plans.json "quick"), for a CPU test run on software GL.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../sdk/network/backend';
import { formatAdapter } from '../../sdk/network/webgpu/adapter';
import { openDawnAdapter } from '../../sdk/network/webgpu/dawn';
import { checkTensorFits, throwIfGpuFailed } from '../../sdk/network/webgpu/device_errors';
import { biasInstanceNormLeakyRelu, conv3d, convTranspose3d, Int3 } from '../../sdk/network/ops';
import { describeNetwork, forwardFlops, NetworkOptions, UNetPlansConfiguration } from '../../sdk/network/architecture';
import { GenericUNet } from '../../sdk/network/generic_unet';
import { deepSupervisionWeights } from '../../sdk/training/dice_ce_loss';
import { namedVariables, trainStep } from '../../sdk/training/iteration';
import { SGDNesterov } from '../../sdk/training/optimizer';
import type { AugBatch } from '../../sdk/training/transforms/base';
import { mirrorCombinations } from '../../sdk/inference/sliding_window';
import plansFile from './plans.json';

type Conv = 'tfjs' | 'ops' | 'wgsl';
const CONVS: Conv[] = ['tfjs', 'ops', 'wgsl'];
const PARITY_TOL = 1e-4;

interface NetPlans {
  patch_size: number[];
  batch_sizes: number[];
  pool_op_kernel_sizes: number[][];
  conv_kernel_sizes: number[][];
  base_num_features: number;
  max_num_features: number;
  num_input_channels: number;
  num_classes: number;
  batch_dice: boolean;
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonPath = arg(args, '--json');
const maxIters = Number(arg(args, '--iters') ?? (quick ? 2 : 5));
const budgetS = Number(arg(args, '--budget-s') ?? (quick ? 240 : 330));
const plans = (quick ? plansFile.quick : plansFile.full) as Record<string, NetPlans>;
const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const left = () => budgetS - elapsed();

const result: Record<string, unknown> & { errors: { part: string; message: string }[] } = {
  side: 'nnunet-ts (tfjs webgpu)',
  quick,
  node: { execPath: process.execPath, version: process.version, tfjs: tf.version.tfjs, argv: args },
  parity: [] as unknown[],
  train: [] as unknown[],
  infer: [] as unknown[],
  errors: [],
};

function save(): void {
  if (!jsonPath) return;
  try {
    fs.writeFileSync(jsonPath + '.tmp', JSON.stringify({ ...result, elapsed_s: Number(elapsed().toFixed(1)) }, null, 1));
    fs.renameSync(jsonPath + '.tmp', jsonPath);
  } catch (e) {
    console.log(`(could not write ${jsonPath}: ${(e as Error).message})`);
  }
}

function out(line: string): void {
  // stdout to a pipe or file is synchronous in Node on Linux: a line printed is a line kept if the run is killed
  console.log(line);
}

function fail(part: string, e: unknown): void {
  const message = ((e as Error)?.message ?? String(e)).split('\n')[0].slice(0, 600);
  out(`ERROR ${part}: ${message}`);
  result.errors.push({ part, message });
  save();
}

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);
const fmtS = (s: number) => (s < 10 ? s.toFixed(3) : s.toFixed(1));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Deterministic pseudo-random floats in [-1, 1) (the same inputs on cpu and webgpu). */
function randArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

// ---------------------------------------------------------------------------------------------------- 1. adapter
async function adapterPart(): Promise<boolean> {
  out(`== node ${process.version} at ${process.execPath}; tfjs ${tf.version.tfjs}; ${quick ? 'QUICK (toy sizes)' : 'full sizes'}; budget ${budgetS} s`);
  // automatic selection first: what a plain `nnunet-ts` run would take here, and why the others were skipped
  try {
    const auto = await initBackend({ backend: 'auto', log: false });
    out(`automatic backend selection: ${auto.backend}${auto.adapter ? ` (${formatAdapter(auto.adapter)})` : ''}`);
    for (const s of auto.skipped) out(`  skipped: ${s}`);
    result.auto = { backend: auto.backend, skipped: auto.skipped };
  } catch (e) {
    fail('automatic backend selection', e);
  }
  try {
    const info = await initBackend({ backend: 'webgpu', conv: 'tfjs', log: (l) => out(l) });
    const dawn = await openDawnAdapter({ allowSoftware: true });
    const line = formatAdapter(info.adapter!);
    out(`ADAPTER ${line}`);
    for (const p of dawn.passedOver) out(`  passed over: ${p}`);
    for (const s of info.skipped) out(`  skipped: ${s}`);
    out(`  features: ${info.adapter!.features.join(' ') || '(none)'}`);
    if (info.adapter!.software) out('  NOTE: a software adapter (CPU): the timings below are correctness runs, not GPU speed');
    result.adapter = { line, ...info.adapter, dawnFlags: dawn.flags, passedOver: dawn.passedOver, skipped: info.skipped };
    save();
    return true;
  } catch (e) {
    fail('webgpu backend', e);
    return false;
  }
}

// ----------------------------------------------------------------------------------------------------- 2. parity
interface ParityCase {
  name: string;
  /** inputs: shapes; the op maps tensors to one output */
  shapes: number[][];
  op: (ts: tf.Tensor[]) => tf.Tensor;
  /** which inputs to differentiate (by index) and their output names */
  grads: [number, string][];
}

function parityCases(): ParityCase[] {
  const c3 = (x: number[], k: Int3, s: Int3, co: number): ParityCase => ({
    name: `conv3d x[${x}] k${k.join('x')} s${s.join('')} ->${co}`,
    shapes: [x, [...k, x[4], co]],
    op: ([a, w]) => conv3d(a as tf.Tensor5D, w as tf.Tensor5D, s),
    grads: [[0, 'dx'], [1, 'dw']],
  });
  const ct = (x: number[], k: Int3, co: number): ParityCase => ({
    name: `convTranspose3d x[${x}] k${k.join('x')} ->${co}`,
    shapes: [x, [...k, co, x[4]]],
    op: ([a, w]) => convTranspose3d(a as tf.Tensor5D, w as tf.Tensor5D),
    grads: [[0, 'dx'], [1, 'dw']],
  });
  const cases: ParityCase[] = [
    c3([2, 5, 6, 7, 3], [3, 3, 3], [1, 1, 1], 4),
    c3([1, 6, 8, 8, 3], [3, 3, 3], [2, 2, 2], 4),
    c3([1, 4, 8, 8, 3], [1, 3, 3], [1, 1, 1], 4),
    c3([1, 4, 8, 8, 3], [1, 3, 3], [1, 2, 2], 4),
    ct([1, 3, 4, 5, 6], [2, 2, 2], 4),
    ct([1, 3, 4, 5, 6], [1, 2, 2], 4),
    {
      name: 'biasInstanceNormLeakyRelu x[2,4,6,5,8]',
      shapes: [[2, 4, 6, 5, 8], [8], [8], [8]],
      op: ([x, b, g, be]: tf.Tensor[]) => biasInstanceNormLeakyRelu(x, b as tf.Tensor1D, g as tf.Tensor1D, be as tf.Tensor1D),
      grads: [[0, 'dx'], [2, 'dgamma'], [3, 'dbeta']],
    },
  ];
  // one layer at network size (hippocampus full-resolution 32->32): the tile sizes of real convolutions
  if (!quick) cases.push(c3([1, 20, 28, 20, 32], [3, 3, 3], [1, 1, 1], 32), c3([1, 20, 28, 20, 32], [3, 3, 3], [2, 2, 2], 64));
  // the full-resolution hippocampus layers: tfjs-webgpu's Conv3DBackpropFilterV2 is 50 % off here on Mesa (conv tfjs);
  // whether a real GPU shows the same is what this case tells
  if (!quick) cases.push(c3([1, 40, 56, 40, 1], [3, 3, 3], [1, 1, 1], 32), c3([1, 40, 56, 40, 32], [3, 3, 3], [1, 1, 1], 32));
  return cases;
}

/** forward and the gradients of sum(op * dy), read asynchronously (webgpu in Node has no dataSync). */
async function runCase(c: ParityCase, seed: number): Promise<Record<string, Float32Array>> {
  const ins = c.shapes.map((s, i) => tf.tensor(randArray(prod(s), seed + 17 * i), s, 'float32'));
  try {
    const y = c.op(ins);
    const dy = tf.tensor(randArray(y.size, seed + 999), y.shape, 'float32');
    const idx = c.grads.map(([i]) => i);
    const gs = tf.grads((...xs: tf.Tensor[]) => {
      const all = ins.slice();
      idx.forEach((i, k) => (all[i] = xs[k]));
      return tf.sum(tf.mul(c.op(all), dy));
    })(idx.map((i) => ins[i]));
    const res: Record<string, Float32Array> = { y: (await y.data()) as Float32Array };
    for (let k = 0; k < gs.length; k++) res[c.grads[k][1]] = (await gs[k].data()) as Float32Array;
    tf.dispose([y, dy, ...gs]);
    return res;
  } finally {
    tf.dispose(ins);
  }
}

function relErr(a: Float32Array, ref: Float32Array): number {
  if (a.length !== ref.length) return Infinity;
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - ref[i]);
    d = Number.isNaN(e) ? Infinity : Math.max(d, e);
    m = Math.max(m, Math.abs(ref[i]));
  }
  return d / (m || 1);
}

async function parityPart(refs: Map<string, Record<string, Float32Array>>, partBudget: number): Promise<void> {
  const start = elapsed();
  const cases = parityCases();
  for (const conv of CONVS) {
    await initBackend({ backend: 'webgpu', conv, log: false });
    for (const [ci, c] of cases.entries()) {
      const ref = refs.get(c.name);
      if (!ref) continue;
      if (elapsed() - start > partBudget) {
        out(`parity ${c.name} (conv ${conv}): SKIPPED (part budget ${partBudget} s spent)`);
        continue;
      }
      try {
        const got = await runCase(c, 1000 + ci);
        throwIfGpuFailed(`parity ${c.name}`);
        const errs: Record<string, number> = {};
        for (const k of Object.keys(ref)) errs[k] = relErr(got[k], ref[k]);
        const max = Math.max(...Object.values(errs));
        const pass = max < PARITY_TOL;
        out(
          `parity ${pass ? 'PASS' : 'FAIL'} conv ${conv.padEnd(4)} ${c.name.padEnd(44)} max rel err ${max.toExponential(2)} (` +
            Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ') + ')',
        );
        (result.parity as unknown[]).push({ op: c.name, conv, errors: errs, max, pass });
        save();
      } catch (e) {
        fail(`parity ${c.name} (conv ${conv})`, e);
      }
    }
  }
}

// --------------------------------------------------------------------------------------------------- 3. training
function unetConfig(p: NetPlans, batch: number): { cfg: UNetPlansConfiguration; opts: NetworkOptions } {
  return {
    cfg: {
      pool_op_kernel_sizes: p.pool_op_kernel_sizes,
      conv_kernel_sizes: p.conv_kernel_sizes,
      UNet_base_num_features: p.base_num_features,
      patch_size: p.patch_size,
      batch_size: batch,
    },
    opts: { numInputChannels: p.num_input_channels, numClasses: p.num_classes, maxNumFeatures: p.max_num_features },
  };
}

/**
 * A synthetic augmented batch (what the trainer's pipeline hands trainStep): image channels-first, labels derived
 * from the image, deep-supervision targets subsampled to each output's resolution (nearest, as
 * DownsampleSegForDSTransform2's order 0 does for these integer factors).
 */
function syntheticBatch(p: NetPlans, batch: number): AugBatch {
  const sp = p.patch_size;
  const vox = prod(sp);
  const data = randArray(batch * p.num_input_channels * vox, 7);
  const labels = new Float32Array(batch * vox);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < vox; i++) {
      const v = data[b * p.num_input_channels * vox + i];
      labels[b * vox + i] = v > 0.3 ? 1 : v < -0.6 && p.num_classes > 2 ? 2 : 0;
    }
  }
  const target: Float32Array[] = [];
  const targetShapes: number[][] = [];
  let scale = sp.map(() => 1);
  for (let k = 0; k < p.pool_op_kernel_sizes.length; k++) {
    const shp = sp.map((s, i) => s / scale[i]);
    const t = new Float32Array(batch * prod(shp));
    let o = 0;
    for (let b = 0; b < batch; b++)
      for (let z = 0; z < shp[0]; z++)
        for (let y = 0; y < shp[1]; y++)
          for (let x = 0; x < shp[2]; x++) t[o++] = labels[b * vox + ((z * scale[0]) * sp[1] + y * scale[1]) * sp[2] + x * scale[2]];
    target.push(t);
    targetShapes.push([batch, 1, ...shp]);
    scale = scale.map((s, i) => s * p.pool_op_kernel_sizes[k][i]);
  }
  return { data, dataShape: [batch, p.num_input_channels, ...sp], seg: null, segShape: null, target, targetShapes };
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function trainRow(name: string, p: NetPlans, batch: number, conv: Conv, rowBudget: number): Promise<void> {
  const label = `${name} b${batch} ${p.patch_size.join('x')} conv ${conv}`;
  await initBackend({ backend: 'webgpu', conv, log: false });
  const { cfg, opts } = unetConfig(p, batch);
  const arch = describeNetwork(cfg, opts).architecture;
  const F = forwardFlops(arch, p.patch_size, batch);
  // the largest tensor of a step: a full-resolution feature map of the whole batch (float32)
  checkTensorFits(batch * prod(p.patch_size) * p.base_num_features * 4, `training step ${label}`);
  const net = GenericUNet.fromPlans(cfg, { ...opts, seed: 1 });
  const sgd = new SGDNesterov({ lr: 0.01, momentum: 0.99, nesterov: true });
  const vars = namedVariables(net);
  // a fence: reading any buffer waits for every command submitted before it (WebGPU queues run in order)
  const fenceVar = Object.values(vars).reduce((a, v) => (v.size < a.size ? v : a));
  const aug = syntheticBatch(p, batch);
  const weights = deepSupervisionWeights(aug.targetShapes!.length);
  const step = async () => {
    const r = await trainStep(net, sgd, vars, aug, weights, p.batch_dice, Infinity, null);
    await fenceVar.data();
    throwIfGpuFailed(`training step ${label}`);
    return r;
  };
  try {
    const tw = performance.now();
    const first = await step();
    const tFirst = (performance.now() - tw) / 1000;
    const memBefore = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    const ts: number[] = [];
    let last = first;
    const start = elapsed();
    while (ts.length < maxIters && (ts.length === 0 || elapsed() - start + median(ts) < rowBudget - tFirst)) {
      const t1 = performance.now();
      last = await step();
      ts.push((performance.now() - t1) / 1000);
    }
    const memAfter = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
    const s = median(ts);
    const row = {
      network: name,
      batch,
      patch: p.patch_size,
      conv,
      s_per_iter: s,
      iters: ts.length,
      all_s: ts,
      first_step_s: tFirst,
      gflops: (3 * F) / s / 1e9,
      forward_gflop: F / 1e9,
      loss_first: first.loss,
      loss_last: last.loss,
      grad_norm_last: last.gradNorm,
      mem_before: { numTensors: memBefore.numTensors, numBytes: memBefore.numBytes, numBytesInGPU: memBefore.numBytesInGPU },
      mem_after: { numTensors: memAfter.numTensors, numBytes: memAfter.numBytes, numBytesInGPU: memAfter.numBytesInGPU },
    };
    out(
      `TRAIN ${label.padEnd(42)} ${fmtS(s)} s/iter (median of ${ts.length}; first step ${fmtS(tFirst)} s) ` +
        `${row.gflops.toFixed(1)} GFLOP/s; loss ${first.loss.toFixed(4)} -> ${last.loss.toFixed(4)}; ` +
        `tf.memory ${memBefore.numTensors} tensors ${mib(memBefore.numBytes)} -> ${memAfter.numTensors} tensors ${mib(memAfter.numBytes)}` +
        `${memAfter.numBytes > memBefore.numBytes || memAfter.numTensors > memBefore.numTensors ? ' GROWTH' : ' (no growth)'}`,
    );
    if (!Number.isFinite(last.loss)) out(`  WARNING ${label}: loss is not finite`);
    (result.train as unknown[]).push(row);
    save();
  } finally {
    sgd.dispose();
    net.dispose();
  }
}

// -------------------------------------------------------------------------------------------------- 4. inference
async function inferRow(name: string, p: NetPlans, conv: Conv, partBudget: number): Promise<void> {
  await initBackend({ backend: 'webgpu', conv, log: false });
  const { cfg, opts } = unetConfig(p, 1);
  const label = `${name} tile 1x${p.patch_size.join('x')} conv ${conv}`;
  checkTensorFits(prod(p.patch_size) * p.base_num_features * 4 * 2, `inference ${label}`);
  const net = GenericUNet.fromPlans(cfg, { ...opts, seed: 1 });
  const x = tf.tensor(randArray(prod(p.patch_size) * p.num_input_channels, 11), [1, ...p.patch_size, p.num_input_channels], 'float32');
  const start = elapsed();
  try {
    const plain = async () => {
      const y = net.predict(x);
      await y.data(); // the logits come back to the CPU, as the sliding window needs them
      y.dispose();
      throwIfGpuFailed(`inference ${label}`);
    };
    const combos = mirrorCombinations(3, [0, 1, 2]).map((c) => c.map((a) => a + 1));
    const mirrored = async () => {
      let acc: tf.Tensor | null = null;
      for (const axes of combos) {
        const xi = axes.length ? tf.reverse(x, axes) : x;
        const yi = net.predict(xi);
        const back = axes.length ? tf.reverse(yi, axes) : yi;
        const next: tf.Tensor = acc ? tf.add(acc, back) : back;
        if (xi !== x) xi.dispose();
        if (back !== yi) yi.dispose();
        if (acc) acc.dispose();
        if (next !== back) back.dispose();
        acc = next;
      }
      await acc!.data();
      acc!.dispose();
      throwIfGpuFailed(`inference with mirroring ${label}`);
    };
    const tw = performance.now();
    await plain(); // warm-up: shader compilation
    const tFirst = (performance.now() - tw) / 1000;
    const ts: number[] = [];
    while (ts.length < maxIters && (ts.length === 0 || elapsed() - start + median(ts) < partBudget / 2)) {
      const t1 = performance.now();
      await plain();
      ts.push((performance.now() - t1) / 1000);
    }
    const s = median(ts);
    out(`INFER ${label.padEnd(42)} ${fmtS(s)} s/tile without mirroring (median of ${ts.length}; first ${fmtS(tFirst)} s)`);
    const row: Record<string, unknown> = { network: name, patch: p.patch_size, conv, s_per_tile: s, iters: ts.length, first_s: tFirst };
    (result.infer as unknown[]).push(row);
    save();
    if (elapsed() - start + 9 * s < partBudget) {
      const t2 = performance.now();
      await mirrored();
      const sm = (performance.now() - t2) / 1000;
      out(`INFER ${label.padEnd(42)} ${fmtS(sm)} s/tile with the 8 mirrorings`);
      row.s_per_tile_mirrored = sm;
      save();
    } else out(`INFER ${label}: with mirroring SKIPPED (8 x ${fmtS(s)} s does not fit the part budget ${partBudget} s)`);
  } finally {
    x.dispose();
    net.dispose();
  }
}

// --------------------------------------------------------------------------------------------------------- main
async function main(): Promise<void> {
  // 2a. cpu references first, before any webgpu state exists (ops.ts on the tfjs cpu backend)
  const refs = new Map<string, Record<string, Float32Array>>();
  try {
    await tf.setBackend('cpu');
    const tr = performance.now();
    for (const [ci, c] of parityCases().entries()) refs.set(c.name, await runCase(c, 1000 + ci));
    out(`cpu references for ${refs.size} parity cases in ${((performance.now() - tr) / 1000).toFixed(1)} s`);
  } catch (e) {
    fail('cpu references', e);
  }
  if (!(await adapterPart())) {
    save();
    return;
  }
  const parityBudget = quick ? 60 : 40;
  out(`\n== op parity against the tfjs cpu backend (PASS below ${PARITY_TOL} relative to the largest reference value)`);
  try {
    await parityPart(refs, parityBudget);
  } catch (e) {
    fail('parity', e);
  }

  out(`\n== training iteration (trainStep: DC+CE deep supervision, backward, clip 12, SGD nesterov 0.99 lr 0.01), median of up to ${maxIters}`);
  // order: hippocampus training, the Lung inference tile, Lung training last (its steps are the longest: a time
  // limit that strikes there keeps everything else)
  type Job = { kind: 'train'; name: string; p: NetPlans; b: number; conv: Conv } | { kind: 'infer'; conv: Conv };
  const jobs: Job[] = [];
  const trainJobs = (name: string) => {
    const p = plans[name];
    for (const b of p.batch_sizes) for (const conv of CONVS) jobs.push({ kind: 'train', name, p, b, conv });
  };
  for (const name of Object.keys(plans)) if (name !== 'lung_3d_fullres') trainJobs(name);
  for (const conv of CONVS) jobs.push({ kind: 'infer', conv });
  trainJobs('lung_3d_fullres');
  const inferBudget = quick ? 30 : 45;
  let inferHeader = false;
  for (const [i, job] of jobs.entries()) {
    const rest = jobs.slice(i);
    const inferReserve = inferBudget * rest.filter((j) => j.kind === 'infer').length;
    if (job.kind === 'train') {
      const label = `${job.name} b${job.b} conv ${job.conv}`;
      const nTrain = rest.filter((j) => j.kind === 'train').length;
      const rowBudget = Math.max(5, (left() - inferReserve) / nTrain);
      if (left() - inferReserve < 5) {
        out(`TRAIN ${label}: SKIPPED (total budget ${budgetS} s nearly spent)`);
        continue;
      }
      try {
        await trainRow(job.name, job.p, job.b, job.conv, rowBudget);
      } catch (e) {
        fail(`training ${label}`, e);
      }
    } else {
      if (!inferHeader) out('\n== inference tile (Lung 3d_fullres: forward only, logits read back)');
      inferHeader = true;
      if (left() < 3) {
        out(`INFER conv ${job.conv}: SKIPPED (total budget spent)`);
        continue;
      }
      try {
        await inferRow('lung_3d_fullres', plans.lung_3d_fullres, job.conv, Math.min(inferBudget, left()));
      } catch (e) {
        fail(`inference lung_3d_fullres conv ${job.conv}`, e);
      }
      if (job.conv === CONVS[CONVS.length - 1]) out('\n== training iteration, Lung 3d_fullres');
    }
  }
  out(`\nnnunet-ts GPU check done in ${elapsed().toFixed(1)} s (${result.errors.length} error(s))`);
  save();
}

main().then(
  () => process.exit(0),
  (e) => {
    fail('check', e);
    process.exit(1);
  },
);
