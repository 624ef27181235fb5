/**
 * The Generic U-Net architecture as nnU-Net v1's `nnUNetTrainerV2.initialize_network` builds it from a plans
 * configuration (generic_UNet.py, nnunetv1 branch): a pure description (layers, shapes, parameter counts, summary
 * rows). No tensors here; sdk/network/generic_unet.ts instantiates it.
 *
 * Parameter names follow the PyTorch state_dict of Generic_UNet (e.g. `conv_blocks_context.0.blocks.0.conv.weight`,
 * `tu.0.weight`, `seg_outputs.0.weight`) so official checkpoints can be mapped one to one. Weight layouts are tfjs
 * channels-last: conv [k..., Ci, Co] (PyTorch [Co, Ci, k...]), transposed conv [k..., Co, Ci] (PyTorch [Ci, Co, k...]).
 */
import { prod } from '../util/numeric';

/**
 * The plans fields the network needs (nnU-Net v2 plans names). Structural subset of sdk/planning's
 * `PlansConfiguration`, so a full configuration can be passed directly.
 */
export interface UNetPlansConfiguration {
  pool_op_kernel_sizes: number[][];
  conv_kernel_sizes: number[][];
  UNet_base_num_features: number;
  /** Ignored by default: v1's trainer does not pass it, so Generic_UNet's class caps apply (see NetworkOptions). */
  unet_max_num_features?: number;
  patch_size: number[];
  batch_size: number;
  /** v2 field; v1 uses plans `conv_per_stage` (2) for every stage. When present, all entries must be equal. */
  n_conv_per_stage_encoder?: number[];
  n_conv_per_stage_decoder?: number[];
}

export interface NetworkOptions {
  /** Image channels (modalities); the cascade full-res adds numClasses - 1 one-hot channels (nnU-Net v1). */
  numInputChannels: number;
  /** Output classes including background (v1 plans `num_classes` + 1). */
  numClasses: number;
  /**
   * Feature cap. Default: Generic_UNet.MAX_NUM_FILTERS_3D = 320 / MAX_FILTERS_2D = 480, because nnUNetTrainerV2
   * does not pass max_num_features (so v2 plans' 512 for 2D does not apply to a v1 network). 'plans' uses
   * `unet_max_num_features` from the configuration.
   */
  maxNumFeatures?: number | 'plans';
  /** Convolutions per stage; default from n_conv_per_stage_encoder or 2 (v1 plans conv_per_stage). */
  convPerStage?: number;
}

/** Generic_UNet.MAX_NUM_FILTERS_3D and MAX_FILTERS_2D (generic_UNet.py). */
export const MAX_NUM_FILTERS_3D = 320;
export const MAX_FILTERS_2D = 480;
/** InstanceNorm eps (norm_op_kwargs in nnUNetTrainerV2.initialize_network) and LeakyReLU slope (nonlin_kwargs). */
export const INSTANCE_NORM_EPS = 1e-5;
export const LEAKY_RELU_SLOPE = 1e-2;
/** InitWeights_He(1e-2): kaiming_normal_ with a = 0.01 (initialization.py). */
export const HE_INIT_NEG_SLOPE = 1e-2;

export type ParamInit = 'he' | 'zeros' | 'ones';

export interface ParamSpec {
  name: string;
  shape: number[];
  init: ParamInit;
  /** fan_in PyTorch uses for kaiming init (dimension 1 times receptive field; for a transposed conv that is Co). */
  fanIn?: number;
}

/** One conv -> instance norm -> LeakyReLU block (ConvDropoutNormNonlin; dropout p = 0 creates no layer). */
export interface ConvBlockSpec {
  /** state_dict prefix, e.g. `conv_blocks_context.1.blocks.0` */
  prefix: string;
  inChannels: number;
  outChannels: number;
  kernel: number[];
  stride: number[];
  /** nnU-Net: 1 where the kernel is 3, else 0 (generic_UNet.py conv_pad_sizes). */
  pad: number[];
}

export interface StageSpec {
  kind: 'encoder' | 'bottleneck' | 'decoder';
  index: number;
  blocks: ConvBlockSpec[];
  /** Decoder only: transposed conv (kernel == stride, no bias) from the deeper level. */
  upsample?: { name: string; inChannels: number; outChannels: number; kernel: number[] };
  /** Decoder only: 1x1 segmentation head (no bias). */
  segHead?: { name: string; inChannels: number; outChannels: number };
  /** Total downsampling of this stage's feature maps relative to the input, per axis. */
  scale: number[];
}

export interface NetworkArchitecture {
  format: 'nnunet-ts-generic-unet';
  version: 1;
  dim: 2 | 3;
  numInputChannels: number;
  numClasses: number;
  baseNumFeatures: number;
  maxNumFeatures: number;
  convPerStage: number;
  poolOpKernelSizes: number[][];
  convKernelSizes: number[][];
  /** encoder stages 0..n-1, bottleneck, decoder levels 0..n-1 (deep to shallow). */
  stages: StageSpec[];
  params: ParamSpec[];
}

function fail(msg: string): never {
  throw new Error(`Generic U-Net configuration: ${msg}`);
}

function validate(cfg: UNetPlansConfiguration, opts: NetworkOptions): { dim: 2 | 3 } {
  const dim = cfg.patch_size?.length;
  if (dim !== 2 && dim !== 3) fail(`patch_size must have 2 or 3 entries, got ${JSON.stringify(cfg.patch_size)}`);
  const pools = cfg.pool_op_kernel_sizes;
  if (!Array.isArray(pools) || pools.length < 1) fail('pool_op_kernel_sizes must be a non-empty list');
  if (!Array.isArray(cfg.conv_kernel_sizes) || cfg.conv_kernel_sizes.length !== pools.length + 1) {
    fail(`conv_kernel_sizes needs ${pools.length + 1} entries (pools + 1), got ${cfg.conv_kernel_sizes?.length}`);
  }
  for (const [i, p] of pools.entries()) {
    if (p.length !== dim || p.some((e) => !Number.isInteger(e) || e < 1)) {
      fail(`pool_op_kernel_sizes[${i}] = ${JSON.stringify(p)} is not ${dim} positive integers`);
    }
  }
  for (const [i, k] of cfg.conv_kernel_sizes.entries()) {
    if (k.length !== dim || k.some((e) => e !== 1 && e !== 3)) {
      fail(`conv_kernel_sizes[${i}] = ${JSON.stringify(k)}: nnU-Net plans use kernels of 1 or 3 per axis`);
    }
  }
  if (!Number.isInteger(cfg.UNet_base_num_features) || cfg.UNet_base_num_features < 1) {
    fail(`UNet_base_num_features must be a positive integer, got ${cfg.UNet_base_num_features}`);
  }
  if (!Number.isInteger(opts.numInputChannels) || opts.numInputChannels < 1) {
    fail(`numInputChannels must be a positive integer, got ${opts.numInputChannels}`);
  }
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 2) {
    fail(`numClasses (including background) must be >= 2, got ${opts.numClasses}`);
  }
  return { dim };
}

/** Build the architecture description exactly as Generic_UNet.__init__ does with nnUNetTrainerV2's arguments. */
export function buildArchitecture(cfg: UNetPlansConfiguration, opts: NetworkOptions): NetworkArchitecture {
  const { dim } = validate(cfg, opts);
  const pools = cfg.pool_op_kernel_sizes.map((p) => [...p]);
  const kernels = cfg.conv_kernel_sizes.map((k) => [...k]);
  const numPool = pools.length;
  let maxF: number;
  if (opts.maxNumFeatures === 'plans') {
    if (!cfg.unet_max_num_features) fail("maxNumFeatures 'plans' but the configuration has no unet_max_num_features");
    maxF = cfg.unet_max_num_features;
  } else {
    maxF = opts.maxNumFeatures ?? (dim === 3 ? MAX_NUM_FILTERS_3D : MAX_FILTERS_2D);
  }
  let convPerStage = opts.convPerStage;
  if (convPerStage === undefined) {
    const enc = cfg.n_conv_per_stage_encoder;
    const dec = cfg.n_conv_per_stage_decoder;
    const all = [...(enc ?? []), ...(dec ?? [])];
    if (all.length && all.some((v) => v !== all[0])) {
      fail(`Generic_UNet uses one conv count for all stages; got encoder ${JSON.stringify(enc)} decoder ${JSON.stringify(dec)}`);
    }
    convPerStage = all.length ? all[0] : 2; // v1 plans conv_per_stage = 2
  }
  if (!Number.isInteger(convPerStage) || convPerStage < 2) fail(`convPerStage must be >= 2, got ${convPerStage}`);
  const padOf = (k: number[]) => k.map((e) => (e === 3 ? 1 : 0));
  const ones = new Array(dim).fill(1);

  const stages: StageSpec[] = [];
  const stageOut: number[] = [];
  let inF = opts.numInputChannels;
  let outF = cfg.UNet_base_num_features;
  let scale = [...ones];
  for (let d = 0; d < numPool; d++) {
    // convolutional_pooling: the first conv of stage d >= 1 is strided by pool_op_kernel_sizes[d-1]
    const first = d === 0 ? ones : pools[d - 1];
    if (d > 0) scale = scale.map((s, i) => s * pools[d - 1][i]);
    const blocks: ConvBlockSpec[] = [];
    for (let b = 0; b < convPerStage; b++) {
      blocks.push({
        prefix: `conv_blocks_context.${d}.blocks.${b}`,
        inChannels: b === 0 ? inF : outF,
        outChannels: outF,
        kernel: kernels[d],
        stride: b === 0 ? first : ones,
        pad: padOf(kernels[d]),
      });
    }
    stages.push({ kind: 'encoder', index: d, blocks, scale: [...scale] });
    stageOut.push(outF);
    inF = outF;
    outF = Math.min(Math.round(outF * 2), maxF); // feat_map_mul_on_downscale = 2
  }
  // bottleneck: Sequential(StackedConvLayers(convPerStage - 1, first stride = last pool), StackedConvLayers(1));
  // with convolutional upsampling final_num_features = output_features
  scale = scale.map((s, i) => s * pools[numPool - 1][i]);
  const bBlocks: ConvBlockSpec[] = [];
  for (let b = 0; b < convPerStage - 1; b++) {
    bBlocks.push({
      prefix: `conv_blocks_context.${numPool}.0.blocks.${b}`,
      inChannels: b === 0 ? inF : outF,
      outChannels: outF,
      kernel: kernels[numPool],
      stride: b === 0 ? pools[numPool - 1] : ones,
      pad: padOf(kernels[numPool]),
    });
  }
  bBlocks.push({
    prefix: `conv_blocks_context.${numPool}.1.blocks.0`,
    inChannels: outF,
    outChannels: outF,
    kernel: kernels[numPool],
    stride: ones,
    pad: padOf(kernels[numPool]),
  });
  stages.push({ kind: 'bottleneck', index: numPool, blocks: bBlocks, scale: [...scale] });

  let down = outF;
  for (let u = 0; u < numPool; u++) {
    const skipF = stageOut[numPool - 1 - u];
    const pk = pools[numPool - 1 - u];
    scale = scale.map((s, i) => s / pk[i]);
    // decoder level u uses conv_kernel_sizes[-(u+1)] (the next-deeper stage's kernel; quirk B.7)
    const k = kernels[numPool - u];
    const blocks: ConvBlockSpec[] = [];
    for (let b = 0; b < convPerStage - 1; b++) {
      blocks.push({
        prefix: `conv_blocks_localization.${u}.0.blocks.${b}`,
        inChannels: b === 0 ? 2 * skipF : skipF,
        outChannels: skipF,
        kernel: k,
        stride: ones,
        pad: padOf(k),
      });
    }
    blocks.push({
      prefix: `conv_blocks_localization.${u}.1.blocks.0`,
      inChannels: skipF,
      outChannels: skipF,
      kernel: k,
      stride: ones,
      pad: padOf(k),
    });
    stages.push({
      kind: 'decoder',
      index: u,
      blocks,
      upsample: { name: `tu.${u}.weight`, inChannels: down, outChannels: skipF, kernel: pk },
      segHead: { name: `seg_outputs.${u}.weight`, inChannels: skipF, outChannels: opts.numClasses },
      scale: [...scale],
    });
    down = skipF;
  }

  // parameters in state_dict order: context blocks, localization blocks, tu, seg_outputs (ModuleList registration order)
  const params: ParamSpec[] = [];
  const blockParams = (b: ConvBlockSpec) => {
    const rf = prod(b.kernel);
    params.push({ name: `${b.prefix}.conv.weight`, shape: [...b.kernel, b.inChannels, b.outChannels], init: 'he', fanIn: b.inChannels * rf });
    params.push({ name: `${b.prefix}.conv.bias`, shape: [b.outChannels], init: 'zeros' });
    params.push({ name: `${b.prefix}.instnorm.weight`, shape: [b.outChannels], init: 'ones' });
    params.push({ name: `${b.prefix}.instnorm.bias`, shape: [b.outChannels], init: 'zeros' });
  };
  for (const s of stages) if (s.kind !== 'decoder') s.blocks.forEach(blockParams);
  for (const s of stages) if (s.kind === 'decoder') s.blocks.forEach(blockParams);
  for (const s of stages) {
    if (s.kind !== 'decoder') continue;
    const t = s.upsample!;
    // PyTorch ConvTranspose weight is [Ci, Co, k...]: kaiming's fan_in uses dim 1 (Co) x receptive field (B.8)
    params.push({ name: t.name, shape: [...t.kernel, t.outChannels, t.inChannels], init: 'he', fanIn: t.outChannels * prod(t.kernel) });
  }
  for (const s of stages) {
    if (s.kind !== 'decoder') continue;
    const h = s.segHead!;
    params.push({ name: h.name, shape: [...ones, h.inChannels, h.outChannels], init: 'he', fanIn: h.inChannels });
  }

  return {
    format: 'nnunet-ts-generic-unet',
    version: 1,
    dim,
    numInputChannels: opts.numInputChannels,
    numClasses: opts.numClasses,
    baseNumFeatures: cfg.UNet_base_num_features,
    maxNumFeatures: maxF,
    convPerStage,
    poolOpKernelSizes: pools,
    convKernelSizes: kernels,
    stages,
    params,
  };
}

export function parameterCount(arch: NetworkArchitecture): number {
  return arch.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** Input size must be divisible by the product of the pool kernels per axis (Generic_UNet.input_shape_must_be_divisible_by). */
export function inputDivisibility(arch: NetworkArchitecture): number[] {
  return arch.poolOpKernelSizes.reduce((acc, p) => acc.map((a, i) => a * p[i]), new Array(arch.dim).fill(1));
}

/** One row of the network summary (plain object: arquero `aq.from(rows)` works). */
export interface NetworkSummaryRow {
  stage: string;
  /** feature-map size (z, y, x) or (y, x) at the plans patch size, e.g. "20x28x20" */
  resolution: string;
  features: number;
  kernel: string;
  stride: string;
  parameters: number;
  /** float32 MB of this stage's conv/norm/nonlin outputs for the plans batch (what autodiff keeps per stage). */
  featureMapMB: number;
}

export interface NetworkDescription {
  architecture: NetworkArchitecture;
  parameterCount: number;
  rows: NetworkSummaryRow[];
  /** Deep-supervision output shapes (channels-last, plans batch), highest resolution first. */
  outputShapes: number[][];
  /** Summary table as text. */
  table: string;
}

/** Describe the network built from `cfg`: parameter count and a per-stage summary at the plans' patch and batch. */
export function describeNetwork(cfg: UNetPlansConfiguration, opts: NetworkOptions): NetworkDescription {
  const arch = buildArchitecture(cfg, opts);
  const sizes = new Map(arch.params.map((p) => [p.name, p.shape.reduce((a, b) => a * b, 1)]));
  const psum = (names: string[]) => names.reduce((s, n) => s + (sizes.get(n) ?? 0), 0);
  const div = inputDivisibility(arch);
  cfg.patch_size.forEach((p, i) => {
    if (p % div[i] !== 0) fail(`patch_size ${JSON.stringify(cfg.patch_size)} is not divisible by ${JSON.stringify(div)}`);
  });
  const bs = cfg.batch_size;
  const rows: NetworkSummaryRow[] = [];
  const outputShapes: number[][] = [];
  for (const s of arch.stages) {
    const res = cfg.patch_size.map((p, i) => p / s.scale[i]);
    const vox = res.reduce((a, b) => a * b, 1);
    const names = s.blocks.flatMap((b) => ['conv.weight', 'conv.bias', 'instnorm.weight', 'instnorm.bias'].map((n) => `${b.prefix}.${n}`));
    let p = psum(names);
    if (s.upsample) p += psum([s.upsample.name]);
    if (s.segHead) p += psum([s.segHead.name]);
    const f = s.blocks[s.blocks.length - 1].outChannels;
    // 3 tensors per block (conv, norm, nonlin output) + the upsampled and concatenated maps in the decoder
    let elems = 3 * s.blocks.length * vox * f;
    if (s.kind === 'decoder') elems += 3 * vox * f + vox * arch.numClasses;
    rows.push({
      stage: s.kind === 'bottleneck' ? 'bottleneck' : `${s.kind} ${s.index}`,
      resolution: res.join('x'),
      features: f,
      kernel: s.blocks[0].kernel.join('x'),
      stride: s.blocks[0].stride.join('x'),
      parameters: p,
      featureMapMB: Math.round(((elems * bs * 4) / 2 ** 20) * 10) / 10,
    });
    if (s.kind === 'decoder') outputShapes.unshift([bs, ...res, arch.numClasses]);
  }
  const count = parameterCount(arch);
  const header = ['stage', 'resolution', 'features', 'kernel', 'stride', 'parameters', 'featureMapMB'] as const;
  const cells = [header.map(String), ...rows.map((r) => header.map((h) => String(r[h])))];
  const widths = header.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  const table = [
    ...cells.map((c) => c.map((v, i) => v.padStart(widths[i])).join('  ')),
    `total parameters: ${count}`,
  ].join('\n');
  return { architecture: arch, parameterCount: count, rows, outputShapes, table };
}

/**
 * Multiply-add FLOPs (2 per MAC) of one forward pass over `batch` inputs of `spatial` size: convolutions, transposed
 * convolutions and segmentation heads (norm and nonlinearity are not counted). A backward pass costs twice this.
 */
export function forwardFlops(arch: NetworkArchitecture, spatial: number[], batch: number): number {
  let flops = 0;
  for (const s of arch.stages) {
    const vox = prod(spatial.map((p, i) => p / s.scale[i]));
    // vox is this stage's output resolution; every block of the stage produces it
    for (const b of s.blocks) flops += 2 * vox * b.inChannels * b.outChannels * prod(b.kernel);
    if (s.upsample) flops += 2 * vox * s.upsample.inChannels * s.upsample.outChannels; // each output voxel: one tap
    if (s.segHead) flops += 2 * vox * s.segHead.inChannels * s.segHead.outChannels;
  }
  return flops * batch;
}
