/**
 * Training-step parity against PyTorch: our Generic U-Net, DC+CE deep-supervision loss, gradient clipping and
 * SGD (the trainer's own step functions) against an independent PyTorch re-implementation of nnU-Net v1's
 * Generic_UNet / DC_and_CE_loss / MultipleOutputLoss2 / clip_grad_norm_ / torch.optim.SGD (bench/python/
 * torch_step_parity.py), from the same initial weights and the same batch of real hippocampus slices.
 *
 *   npx ts-node --transpile-only bench/torch_step_parity.ts [--configuration 2d|3d_fullres] [--batch N]
 *       [--steps K] [--chunk N] [--gradient-workers N] [--out DIR] [--python /usr/bin/python3]
 *
 * Needs a Python with torch (Debian: apt-get install python3-torch python3-skimage; torch 1.13 is the version of
 * the official CPU baseline). Compares, per step: the loss, the total gradient norm, and after the last step every
 * parameter; at step 0 also the three deep-supervision outputs and the downsampled targets (skimage resize order 0
 * as v1's downsample_seg_for_ds_transform2). Exit status 1 when a comparison exceeds its tolerance.
 *
 * Why: the online pseudo-Dice of our short CPU runs rises later than the official one in the first epochs. This
 * isolates everything after the data pipeline (network, loss, targets, clipping, optimizer) from the augmentation.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { BackendName, backendInfo, ConvFormulation, initBackend } from '../sdk/network/backend';
import { buildArchitecture } from '../sdk/network/architecture';
import { GenericUNet } from '../sdk/network/generic_unet';
import { readNpy } from '../sdk/io/npy';
import { RandomState } from '../sdk/util/random';
import { deepSupervisionWeights } from '../sdk/training/dice_ce_loss';
import { downsampleSegForDS } from '../sdk/training/transforms/downsampling';
import { channelsFirstToTensor, labelMapToTensor } from '../sdk/training/tensors';
import { clipGradNorm, SGDNesterov } from '../sdk/training/optimizer';
import { stepGradients, V2_GRAD_CLIP, V2_INITIAL_LR } from '../sdk/training/trainer';
import { GradientWorkers } from '../sdk/training/data_parallel';
import { officialHippocampusPlans } from './hippocampus_baseline';
import { arg, num, runScript } from './script';

const FIXTURE_CASES = path.resolve(__dirname, '../../shared/fixtures/official/hippocampus_cases');

/** Deep-supervision scales of nnUNetTrainerV2.initialize: [1…] then 1/cumprod(pool kernels), the last dropped. */
function dsScales(pool: number[][]): number[][] {
  const out: number[][] = [pool[0].map(() => 1)];
  const acc = pool[0].map(() => 1);
  for (let i = 0; i < pool.length - 1; i++) {
    for (let a = 0; a < acc.length; a++) acc[a] *= pool[i][a];
    out.push(acc.map((v) => 1 / v));
  }
  return out;
}

/**
 * A batch of real patches: sample b takes fixture case b % 3, a random slice (2d) and a random patch position, padded
 * where the patch is larger than the image (seg -1 outside the nonzero mask becomes 0, as RemoveLabelTransform(-1, 0)
 * does before the loss). 2d pads with 0 as the loader does. 3d pads with the case's minimum instead: a z-scored image
 * that lies wholly inside a zero-padded patch sums to exactly 0, so the first instance norm's mean is 0 up to
 * rounding (|mean|/std ~1e-8), the padded region normalises to ±rounding noise, and which LeakyReLU slope it gets
 * (1 or 0.01) is decided by that noise, in PyTorch float32 vs float64 as much as in ours. Such a comparison says
 * nothing about the arithmetic, so the 3d batch avoids the degenerate case.
 * 2d batches of 4 and 8 hit a case of the same kind (issue 26, the FMA question): some gradients there are decided by
 * which side of a rounding-level tie a value falls on, so float32 implementations that round differently land 1-4e-3
 * apart on a few tensors. With zero padding the FMA build of our conv kernels fails batch 4 (tu.2,
 * conv_blocks_localization.2.0: 1.8e-3) and the mul + add build passes; padded with the case minimum it is the mirror
 * image (FMA median 3.9e-6, pass; mul + add median 2.7e-3, fail), and in isolation both builds are equally accurate
 * (wasm_conv.ts). Batches 12 and 16 (the reference test's 12) and 3d pass with either build.
 */
function realBatch(patch: number[], batch: number, rs: RandomState): { data: Float32Array; seg: Float32Array; shape: number[] } {
  const ids = ['hippocampus_001', 'hippocampus_003', 'hippocampus_004'];
  const cases = ids.map((id) => ({ d: readNpy(path.join(FIXTURE_CASES, `${id}_data.npy`)), s: readNpy(path.join(FIXTURE_CASES, `${id}_seg.npy`)) }));
  const n = patch.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * n);
  const seg = new Float32Array(batch * n);
  for (let b = 0; b < batch; b++) {
    const { d, s } = cases[b % cases.length];
    const [, Z, Y, X] = d.shape;
    let pad = 0;
    if (patch.length === 3) for (let i = 0; i < d.data.length; i++) pad = Math.min(pad, Number(d.data[i]));
    const full = [Z, Y, X];
    // 2d: one z slice; 3d: the whole volume
    const z0 = patch.length === 2 ? rs.randint(0, Z) : 0;
    const sp = patch.length === 2 ? [1, ...patch] : patch;
    const start = sp.map((p, a) => (p >= full[a] ? -rs.randint(0, p - full[a] + 1) : rs.randint(0, full[a] - p + 1)));
    if (patch.length === 2) start[0] = z0;
    let o = b * n;
    for (let i = 0; i < sp[0]; i++)
      for (let j = 0; j < sp[1]; j++)
        for (let k = 0; k < sp[2]; k++, o++) {
          const z = start[0] + i, y = start[1] + j, x = start[2] + k;
          if (z < 0 || y < 0 || x < 0 || z >= Z || y >= Y || x >= X) {
            data[o] = pad;
            continue;
          }
          const src = (z * Y + y) * X + x;
          data[o] = Number(d.data[src]);
          seg[o] = Math.max(0, Number(s.data[src]));
        }
  }
  return { data, seg, shape: [batch, 1, ...patch] };
}

function writeF32(file: string, a: Float32Array | Int32Array): void {
  fs.writeFileSync(file, Buffer.from(a.buffer, a.byteOffset, a.byteLength));
}

export interface TorchStepParityOptions {
  configuration?: '2d' | '3d_fullres';
  /** Default: 40 (B2's batch) for 2d, 2 for 3d_fullres. */
  batch?: number;
  steps?: number;
  /** Samples per forward/backward chunk (the trainer's accumulation path when < batch). */
  chunk?: number;
  gradientWorkers?: number;
  out?: string;
  python?: string;
  /** Pass the Python report through to stdout (else returned). */
  inherit?: boolean;
  /** Backend of our side (default: automatic selection); `webgpu` runs the same step on the GPU path. */
  backend?: BackendName;
  /** webgpu: the convolution formulation (NNUNET_CONV: ops, tfjs or wgsl) */
  conv?: ConvFormulation;
}

/** Runs both sides; status 0 when everything agrees, with the Python side's report. */
export async function torchStepParity(o: TorchStepParityOptions = {}): Promise<{ status: number; report: string }> {
  const configuration = o.configuration ?? '2d';
  const out = path.resolve(o.out ?? path.join(__dirname, '../.cache/torch_parity', configuration));
  const python = o.python ?? process.env.NNUNET_REFERENCE_PYTHON ?? '/usr/bin/python3';
  const steps = o.steps ?? 3;
  const workers = o.gradientWorkers ?? 0;
  await initBackend({ backend: o.backend, conv: o.conv });
  const cfg = officialHippocampusPlans().configuration(configuration);
  const batch = o.batch ?? (configuration === '2d' ? 40 : 2);
  const chunk = o.chunk ?? batch;
  const batchDice = cfg.batch_dice;
  const arch = buildArchitecture(cfg, { numInputChannels: 1, numClasses: 3 });
  const net = new GenericUNet(arch, undefined, { seed: 2 });
  fs.mkdirSync(out, { recursive: true });

  const manifest: Record<string, unknown> = {
    configuration, batch, steps, chunk, gradientWorkers: workers, batchDice, lr: V2_INITIAL_LR, clip: V2_GRAD_CLIP,
    patch: cfg.patch_size, pool: cfg.pool_op_kernel_sizes, kernels: cfg.conv_kernel_sizes, baseFeatures: cfg.UNet_base_num_features,
    maxFeatures: cfg.unet_max_num_features, convPerStage: 2, numClasses: 3,
    params: arch.params.map((p) => ({ name: p.name, shape: p.shape })),
  };
  // asynchronous reads throughout: webgpu in Node has no dataSync
  const dump = async (file: string) => {
    const buf: Float32Array[] = [];
    for (const p of arch.params) buf.push((await net.variables.get(p.name)!.data()) as Float32Array);
    const tot = buf.reduce((a, b) => a + b.length, 0);
    const all = new Float32Array(tot);
    let o = 0;
    for (const b of buf) all.set(b, o), (o += b.length);
    writeF32(path.join(out, file), all);
  };
  await dump('weights_initial.f32');

  const { data, seg, shape } = realBatch(cfg.patch_size, batch, new RandomState(7));
  writeF32(path.join(out, 'data.f32'), data);
  writeF32(path.join(out, 'seg.f32'), seg);
  manifest.dataShape = shape;
  const scales = dsScales(cfg.pool_op_kernel_sizes);
  const ds = downsampleSegForDS(seg, shape, scales, 0);
  manifest.targetShapes = ds.map((t) => t.shape);
  ds.forEach((t, i) => writeF32(path.join(out, `target_${i}.f32`), t.data));
  const weights = deepSupervisionWeights(ds.length);
  manifest.dsWeights = weights;

  const x = channelsFirstToTensor(data, shape);
  const targets = ds.map((t) => labelMapToTensor(t.data, t.shape));
  // step-0 outputs, channels-first like PyTorch
  const outs = net.forward(x, { training: true });
  for (const [i, o] of outs.entries()) {
    const perm = [0, o.rank - 1, ...Array.from({ length: o.rank - 2 }, (_, a) => a + 1)];
    const t = tf.tidy(() => o.transpose(perm));
    writeF32(path.join(out, `output0_${i}.f32`), (await t.data()) as Float32Array);
    t.dispose();
  }
  tf.dispose(outs);

  const vars: Record<string, tf.Variable> = {};
  for (const v of net.variables.values()) vars[v.name] = v;
  const sgd = new SGDNesterov({ lr: V2_INITIAL_LR });
  const pool = workers > 0 ? await GradientWorkers.start(workers, arch, backendInfo().backend) : null;
  const losses: number[] = [];
  const norms: number[] = [];
  try {
    for (let k = 0; k < steps; k++) {
      const { loss, grads } = await stepGradients(net, x, targets, weights, batchDice, chunk, pool);
      if (k === 0) {
        // step-0 gradients in parameter order (grads are keyed by the tfjs variable name)
        // a conv bias in front of an instance norm may have no gradient at all (it cancels): write zeros
        const parts: Float32Array[] = [];
        for (const p of arch.params) {
          const g = grads[net.variables.get(p.name)!.name];
          parts.push(g ? ((await g.data()) as Float32Array) : new Float32Array(p.shape.reduce((a, b) => a * b, 1)));
        }
        const all = new Float32Array(parts.reduce((a, b) => a + b.length, 0));
        let o = 0;
        for (const b of parts) all.set(b, o), (o += b.length);
        writeF32(path.join(out, 'grads0.f32'), all);
      }
      const clipped = await clipGradNorm(grads, V2_GRAD_CLIP);
      tf.dispose(grads);
      sgd.step(vars, clipped.grads);
      tf.dispose(clipped.grads);
      losses.push(loss);
      norms.push(clipped.totalNorm);
    }
  } finally {
    if (pool) await pool.close();
  }
  await dump('weights_final.f32');
  manifest.ours = { losses, gradNorms: norms };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
  x.dispose();
  tf.dispose(targets);

  const py = spawnSync(python, [path.join(__dirname, 'python', 'torch_step_parity.py'), out], {
    stdio: o.inherit ? 'inherit' : 'pipe',
    encoding: 'utf8',
  });
  if (py.error) throw new Error(`${python}: ${py.error.message} (needs torch: apt-get install python3-torch python3-skimage)`);
  const report = o.inherit ? '' : `${py.stdout ?? ''}${py.stderr ?? ''}`;
  return { status: py.status ?? 1, report };
}

export async function main(args: string[]): Promise<number> {
  const r = await torchStepParity({
    configuration: (arg(args, '--configuration') ?? '2d') as '2d' | '3d_fullres',
    batch: num(args, '--batch'),
    steps: num(args, '--steps'),
    chunk: num(args, '--chunk'),
    gradientWorkers: num(args, '--gradient-workers'),
    out: arg(args, '--out'),
    python: arg(args, '--python'),
    backend: arg(args, '--backend') as BackendName | undefined,
    conv: arg(args, '--conv') as ConvFormulation | undefined,
    inherit: true,
  });
  return r.status;
}

if (require.main === module) runScript(main);
