/**
 * The nnU-Net v2 networks of dynamic_network_architectures (MIC-DKFZ/dynamic-network-architectures), for inference:
 *
 *   PlainConvUNet        (architectures/unet.py; nnUNetPlans' default): encoder stages of StackedConvBlocks
 *                        (conv(bias) -> InstanceNorm(eps 1e-5, affine) -> LeakyReLU(0.01), first conv strided),
 *                        UNetDecoder (transposed conv WITH bias, concat [up, skip], StackedConvBlocks with the skip
 *                        stage's kernel, 1x1 seg layers WITH bias).
 *   ResidualEncoderUNet  (nnUNetResEncUNet{M,L,XL}Plans): stem (one conv block, stride 1), stages of BasicBlockD
 *                        (conv1: conv-norm-act (strided), conv2: conv-norm, skip: AvgPool(stride) if strided then
 *                        1x1 conv (no bias) + norm if the channels change, out = LeakyReLU(conv2 + skip)), the same
 *                        UNetDecoder.
 *
 * Differences to v1's Generic_UNet (sdk/network/generic_unet.ts), which is why this is a separate network: biases on
 * the transposed convs and seg heads, the decoder uses the skip stage's kernel (v1: the next-deeper one), per-stage
 * conv counts, features capped by the plans (v2 writes them out), residual encoders.
 *
 * Parameters are named by their PyTorch state_dict keys (the canonical ones: `.conv.`/`.norm.`, not the
 * `all_modules.N` aliases, and `encoder.*`, not the `decoder.encoder.*` copy) with tfjs channels-last layouts
 * (conv [k..., Ci, Co], transposed conv [k..., Co, Ci], as architecture.ts).
 * Tensors are channels-last: input [N, Z, Y, X, C] (3D) or [N, Y, X, C] (2D). Only the full-resolution output is
 * computed (deep supervision off, as nnU-Net v2 predicts).
 */
import * as tf from '@tensorflow/tfjs';
import { biasInstanceNormLeakyRelu, concatND, conv1x1, conv2d, conv3d, convTranspose2d, convTranspose3d } from './ops';

export type DynamicUNetClass = 'PlainConvUNet' | 'ResidualEncoderUNet';

export const DNA_CLASS_NAMES: Record<string, DynamicUNetClass> = {
  'dynamic_network_architectures.architectures.unet.PlainConvUNet': 'PlainConvUNet',
  'dynamic_network_architectures.architectures.unet.ResidualEncoderUNet': 'ResidualEncoderUNet',
};

export interface DynamicUNetSpec {
  kind: DynamicUNetClass;
  dim: 2 | 3;
  numInputChannels: number;
  numClasses: number;
  featuresPerStage: number[];
  kernelSizes: number[][];
  strides: number[][];
  /** PlainConvUNet: convs per encoder stage; ResidualEncoderUNet: BasicBlockD blocks per stage */
  nPerStage: number[];
  nConvPerStageDecoder: number[];
}

export interface DynamicParamSpec {
  /** PyTorch state_dict key */
  name: string;
  /** ours (channels-last) */
  shape: number[];
  /** PyTorch's */
  torchShape: number[];
}

export interface DynamicUNetArchitecture extends DynamicUNetSpec {
  format: 'nnunet-ts-dynamic-unet';
  version: 1;
  params: DynamicParamSpec[];
}

const INSTANCE_NORM_EPS = 1e-5;
const LEAKY_SLOPE = 1e-2;

function fail(msg: string): never {
  throw new Error(`dynamic U-Net: ${msg}`);
}

/** Check a spec and list its parameters in state_dict order (as `Module.state_dict()` lists the canonical keys). */
export function buildDynamicArchitecture(spec: DynamicUNetSpec): DynamicUNetArchitecture {
  const n = spec.featuresPerStage.length;
  const d = spec.dim;
  if (d !== 2 && d !== 3) fail(`dim must be 2 or 3, got ${d}`);
  if (n < 1) fail('no stages');
  for (const [k, v] of [['kernel_sizes', spec.kernelSizes], ['strides', spec.strides]] as const) {
    if (v.length !== n || v.some((e) => e.length !== d || e.some((x) => !Number.isInteger(x) || x < 1))) fail(`${k} must have ${n} entries of ${d} positive integers, got ${JSON.stringify(v)}`);
  }
  if (spec.kernelSizes.some((k) => k.some((x) => x % 2 !== 1))) fail(`even kernel sizes are not supported: ${JSON.stringify(spec.kernelSizes)}`);
  if (spec.nPerStage.length !== n) fail(`${spec.kind === 'PlainConvUNet' ? 'n_conv_per_stage' : 'n_blocks_per_stage'} needs ${n} entries, got ${JSON.stringify(spec.nPerStage)}`);
  if (spec.nConvPerStageDecoder.length !== n - 1) fail(`n_conv_per_stage_decoder needs ${n - 1} entries, got ${JSON.stringify(spec.nConvPerStageDecoder)}`);
  if ([...spec.nPerStage, ...spec.nConvPerStageDecoder].some((x) => !Number.isInteger(x) || x < 1)) fail('conv/block counts must be positive integers');
  const params: DynamicParamSpec[] = [];
  const add = (name: string, torchShape: number[]) => {
    let shape: number[];
    if (torchShape.length === 1) shape = [...torchShape];
    else shape = [...torchShape.slice(2), torchShape[1], torchShape[0]];
    params.push({ name, shape, torchShape });
  };
  const convNorm = (prefix: string, ci: number, co: number, k: number[], bias = true) => {
    add(`${prefix}.conv.weight`, [co, ci, ...k]);
    if (bias) add(`${prefix}.conv.bias`, [co]);
    add(`${prefix}.norm.weight`, [co]);
    add(`${prefix}.norm.bias`, [co]);
  };
  const F = spec.featuresPerStage;
  let cin = spec.numInputChannels;
  if (spec.kind === 'PlainConvUNet') {
    for (let s = 0; s < n; s++) {
      for (let m = 0; m < spec.nPerStage[s]; m++) convNorm(`encoder.stages.${s}.0.convs.${m}`, m === 0 ? cin : F[s], F[s], spec.kernelSizes[s]);
      cin = F[s];
    }
  } else if (spec.kind === 'ResidualEncoderUNet') {
    convNorm('encoder.stem.convs.0', cin, F[0], spec.kernelSizes[0]);
    cin = F[0];
    for (let s = 0; s < n; s++) {
      for (let b = 0; b < spec.nPerStage[s]; b++) {
        const p = `encoder.stages.${s}.blocks.${b}`;
        const ci = b === 0 ? cin : F[s];
        const strided = b === 0 && spec.strides[s].some((x) => x !== 1);
        convNorm(`${p}.conv1`, ci, F[s], spec.kernelSizes[s]);
        convNorm(`${p}.conv2`, F[s], F[s], spec.kernelSizes[s]);
        if (ci !== F[s]) convNorm(`${p}.skip.${strided ? 1 : 0}`, ci, F[s], new Array(d).fill(1), false);
      }
      cin = F[s];
    }
  } else fail(`unknown network class ${String(spec.kind)}`);
  // UNetDecoder registers stages, transpconvs, seg_layers (in that order; `encoder` first, its keys are aliases)
  for (let u = 0; u < n - 1; u++) {
    const skip = F[n - 2 - u];
    for (let m = 0; m < spec.nConvPerStageDecoder[u]; m++) convNorm(`decoder.stages.${u}.convs.${m}`, m === 0 ? 2 * skip : skip, skip, spec.kernelSizes[n - 2 - u]);
  }
  for (let u = 0; u < n - 1; u++) {
    add(`decoder.transpconvs.${u}.weight`, [F[n - 1 - u], F[n - 2 - u], ...spec.strides[n - 1 - u]]);
    add(`decoder.transpconvs.${u}.bias`, [F[n - 2 - u]]);
  }
  for (let u = 0; u < n - 1; u++) {
    add(`decoder.seg_layers.${u}.weight`, [spec.numClasses, F[n - 2 - u], ...new Array(d).fill(1)]);
    add(`decoder.seg_layers.${u}.bias`, [spec.numClasses]);
  }
  return { format: 'nnunet-ts-dynamic-unet', version: 1, ...spec, params };
}

/**
 * The canonical key a state_dict key stands for: `decoder.encoder.X` is the decoder's reference to the encoder (the
 * same tensors), `all_modules.0` / `all_modules.1` of a ConvDropoutNormReLU are its `conv` / `norm` (no dropout in
 * nnU-Net's plans). Returns the key itself when it is not an alias.
 */
export function canonicalDnaKey(key: string): string {
  let k = key.startsWith('decoder.encoder.') ? key.slice('decoder.'.length) : key;
  k = k.replace(/\.all_modules\.0\./, '.conv.').replace(/\.all_modules\.1\./, '.norm.');
  return k;
}

export function inputDivisibilityDynamic(a: DynamicUNetSpec): number[] {
  return a.strides.reduce((acc, s) => acc.map((x, i) => x * s[i]), new Array(a.dim).fill(1));
}

let counter = 0;

export class DynamicUNet {
  readonly variables = new Map<string, tf.Variable>();
  private disposed = false;

  constructor(
    readonly architecture: DynamicUNetArchitecture,
    values: Map<string, Float32Array>,
  ) {
    const prefix = `nnunet_dna_${counter++}/`;
    try {
      for (const p of architecture.params) {
        const v = values.get(p.name);
        if (!v) throw new Error(`DynamicUNet: no value for parameter ${p.name}`);
        const n = p.shape.reduce((a, b) => a * b, 1);
        if (v.length !== n) throw new Error(`DynamicUNet: parameter ${p.name} has ${v.length} values, shape [${p.shape}] needs ${n}`);
        this.variables.set(p.name, tf.variable(tf.tensor(v, p.shape, 'float32'), false, prefix + p.name));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get numClasses(): number {
    return this.architecture.numClasses;
  }

  private v(name: string): tf.Variable {
    const t = this.variables.get(name);
    if (!t) throw new Error(`DynamicUNet: missing variable ${name}`);
    return t;
  }

  private conv(x: tf.Tensor, w: tf.Tensor, stride: number[], kernel: number[]): tf.Tensor {
    const pad = kernel.map((k) => (k - 1) / 2);
    return this.architecture.dim === 3
      ? conv3d(x as tf.Tensor5D, w as tf.Tensor5D, stride as [number, number, number], pad as [number, number, number])
      : conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride as [number, number], pad as [number, number]);
  }

  /** ConvDropoutNormReLU: conv (+bias) -> instance norm -> LeakyReLU (slope 1 = no nonlinearity). */
  private convNorm(x: tf.Tensor, prefix: string, stride: number[], kernel: number[], slope: number, bias = true): tf.Tensor {
    const y = this.conv(x, this.v(`${prefix}.conv.weight`), stride, kernel);
    const b = bias ? (this.v(`${prefix}.conv.bias`) as tf.Tensor1D) : tf.zeros([y.shape[y.rank - 1]]);
    return biasInstanceNormLeakyRelu(y, b as tf.Tensor1D, this.v(`${prefix}.norm.weight`) as tf.Tensor1D, this.v(`${prefix}.norm.bias`) as tf.Tensor1D, INSTANCE_NORM_EPS, slope);
  }

  private basicBlock(x: tf.Tensor, prefix: string, ci: number, co: number, stride: number[], kernel: number[]): tf.Tensor {
    const a = this.architecture;
    const ones = new Array(a.dim).fill(1);
    let r = x;
    const strided = stride.some((s) => s !== 1);
    if (strided) {
      r = a.dim === 3
        ? tf.avgPool3d(r as tf.Tensor5D, stride as [number, number, number], stride as [number, number, number], 'valid')
        : tf.avgPool(r as tf.Tensor4D, stride as [number, number], stride as [number, number], 'valid');
    }
    if (ci !== co) r = this.convNorm(r, `${prefix}.skip.${strided ? 1 : 0}`, ones, ones, 1, false);
    const h = this.convNorm(x, `${prefix}.conv1`, stride, kernel, LEAKY_SLOPE);
    const y = this.convNorm(h, `${prefix}.conv2`, ones, kernel, 1);
    return tf.leakyRelu(tf.add(y, r), LEAKY_SLOPE);
  }

  private checkInput(x: tf.Tensor): void {
    const a = this.architecture;
    const rank = a.dim + 2;
    if (x.rank !== rank || x.shape[rank - 1] !== a.numInputChannels) {
      throw new Error(`DynamicUNet: input shape [${x.shape}] must be [N, ${a.dim === 3 ? 'Z, Y, X' : 'Y, X'}, ${a.numInputChannels}] (channels last)`);
    }
    const div = inputDivisibilityDynamic(a);
    const sp = x.shape.slice(1, rank - 1);
    if (sp.some((s, i) => s % div[i] !== 0)) throw new Error(`DynamicUNet: spatial size [${sp}] must be divisible by [${div}] (product of the strides)`);
  }

  /** Full-resolution logits [N, ...spatial, numClasses] (the caller owns the result; the input stays the caller's). */
  predict(x: tf.Tensor): tf.Tensor {
    if (this.disposed) throw new Error('DynamicUNet: used after dispose()');
    this.checkInput(x);
    const a = this.architecture;
    const n = a.featuresPerStage.length;
    const F = a.featuresPerStage;
    const ones = new Array(a.dim).fill(1);
    return tf.tidy(() => {
      const skips: tf.Tensor[] = [];
      let h = x;
      if (a.kind === 'PlainConvUNet') {
        for (let s = 0; s < n; s++) {
          for (let m = 0; m < a.nPerStage[s]; m++) h = this.convNorm(h, `encoder.stages.${s}.0.convs.${m}`, m === 0 ? a.strides[s] : ones, a.kernelSizes[s], LEAKY_SLOPE);
          skips.push(h);
        }
      } else {
        h = this.convNorm(h, 'encoder.stem.convs.0', ones, a.kernelSizes[0], LEAKY_SLOPE);
        let cin = F[0];
        for (let s = 0; s < n; s++) {
          for (let b = 0; b < a.nPerStage[s]; b++) {
            h = this.basicBlock(h, `encoder.stages.${s}.blocks.${b}`, b === 0 ? cin : F[s], F[s], b === 0 ? a.strides[s] : ones, a.kernelSizes[s]);
          }
          cin = F[s];
          skips.push(h);
        }
      }
      let lres = skips[n - 1];
      for (let u = 0; u < n - 1; u++) {
        const w = this.v(`decoder.transpconvs.${u}.weight`);
        const up = a.dim === 3 ? convTranspose3d(lres as tf.Tensor5D, w as tf.Tensor5D) : convTranspose2d(lres as tf.Tensor4D, w as tf.Tensor4D);
        let y = concatND([tf.add(up, this.v(`decoder.transpconvs.${u}.bias`)), skips[n - 2 - u]], a.dim + 1);
        for (let m = 0; m < a.nConvPerStageDecoder[u]; m++) y = this.convNorm(y, `decoder.stages.${u}.convs.${m}`, ones, a.kernelSizes[n - 2 - u], LEAKY_SLOPE);
        lres = y;
      }
      return tf.add(conv1x1(lres, this.v(`decoder.seg_layers.${n - 2}.weight`)), this.v(`decoder.seg_layers.${n - 2}.bias`));
    });
  }

  /** Current parameter values by state_dict name (copies, channels-last). */
  async getValues(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.architecture.params) out.set(p.name, (await this.v(p.name).data()) as Float32Array);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of this.variables.values()) v.dispose();
    this.disposed = true;
  }
}
