/**
 * Export a model trained in nnunet-ts as an nnU-Net v2 model folder (issue 22):
 *
 *   <out>/<dataset_name>/<trainer>__<plans_name>__<configuration>/
 *     plans.json                 our plans, the exported configuration with a v2.4+ `architecture` entry
 *                                (dynamic_network_architectures PlainConvUNet) and preprocessor DefaultPreprocessor
 *     dataset.json, dataset_fingerprint.json
 *     fold_k/checkpoint_final.pth  torch.save zip (sdk/io/torch_save.ts) with nnUNetTrainer.save_checkpoint's keys:
 *                                network_weights (the full state_dict PyTorch's PlainConvUNet has, aliases included,
 *                                so load_state_dict(strict=True) accepts it), optimizer_state None,
 *                                grad_scaler_state None, logging, _best_ema, current_epoch,
 *                                init_args {plans, configuration, fold, dataset_json, device}, trainer_name,
 *                                inference_allowed_mirroring_axes (all spatial axes, as our training mirrors)
 *
 * Our Generic_UNet is a PlainConvUNet with zero biases on the transposed convs and seg layers, as long as each
 * decoder level's kernel equals its skip stage's kernel (v1 uses the next-deeper stage's kernel there); otherwise
 * the export is refused. Everything is built in memory and checked by reading it back before anything is written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { PyDevice, PyOrderedDict, PyTuple, TorchTensorOut, torchSaveBytes } from '../io/torch_save';
import { parseTorchCheckpoint, TorchTensor } from '../io/torch_checkpoint';
import type { NetworkArchitecture } from '../network/architecture';
import { buildDynamicArchitecture, DynamicUNetArchitecture, DynamicUNetSpec } from '../network/dynamic_unet';
import type { GenericUNet } from '../network/generic_unet';
import { ModelImportError, toChannelsLast } from './v1';

export class ModelExportError extends Error {}

/** The PlainConvUNet equivalent to a Generic_UNet architecture, or an error saying why there is none. */
export function plainConvUNetSpecOf(a: NetworkArchitecture): DynamicUNetSpec {
  const n = a.poolOpKernelSizes.length + 1;
  const k = a.convKernelSizes;
  for (let u = 0; u < n - 1; u++) {
    if (k[n - 1 - u].join() !== k[n - 2 - u].join()) {
      throw new ModelExportError(
        `decoder level ${u} uses kernel [${k[n - 1 - u]}] (v1 Generic_UNet: the next-deeper stage's), a PlainConvUNet would use [${k[n - 2 - u]}]: this network has no nnU-Net v2 equivalent`,
      );
    }
  }
  const enc = a.stages.filter((s) => s.kind !== 'decoder');
  const dec = a.stages.filter((s) => s.kind === 'decoder');
  return {
    kind: 'PlainConvUNet',
    dim: a.dim as 2 | 3,
    numInputChannels: a.numInputChannels,
    numClasses: a.numClasses,
    featuresPerStage: enc.map((s) => s.blocks[s.blocks.length - 1].outChannels),
    kernelSizes: k.map((x) => [...x]),
    strides: [new Array(a.dim).fill(1), ...a.poolOpKernelSizes.map((x) => [...x])],
    nPerStage: enc.map((s) => s.blocks.length),
    nConvPerStageDecoder: dec.map((s) => s.blocks.length),
  };
}

/** Generic_UNet parameter values (ours, channels-last) -> PlainConvUNet canonical names (zero biases added). */
export function plainConvUNetValuesOf(a: NetworkArchitecture, values: Map<string, Float32Array>, arch: DynamicUNetArchitecture): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const get = (name: string) => {
    const v = values.get(name);
    if (!v) throw new ModelExportError(`network has no parameter ${name}`);
    return v;
  };
  const block = (from: string, to: string) => {
    out.set(`${to}.conv.weight`, get(`${from}.conv.weight`));
    out.set(`${to}.conv.bias`, get(`${from}.conv.bias`));
    out.set(`${to}.norm.weight`, get(`${from}.instnorm.weight`));
    out.set(`${to}.norm.bias`, get(`${from}.instnorm.bias`));
  };
  let s = 0;
  for (const st of a.stages) {
    if (st.kind === 'decoder') continue;
    st.blocks.forEach((b, m) => block(b.prefix, `encoder.stages.${s}.0.convs.${m}`));
    s++;
  }
  let u = 0;
  for (const st of a.stages) {
    if (st.kind !== 'decoder') continue;
    st.blocks.forEach((b, m) => block(b.prefix, `decoder.stages.${u}.convs.${m}`));
    out.set(`decoder.transpconvs.${u}.weight`, get(st.upsample!.name));
    out.set(`decoder.transpconvs.${u}.bias`, new Float32Array(st.upsample!.outChannels));
    out.set(`decoder.seg_layers.${u}.weight`, get(st.segHead!.name));
    out.set(`decoder.seg_layers.${u}.bias`, new Float32Array(a.numClasses));
    u++;
  }
  for (const p of arch.params) {
    const v = out.get(p.name);
    const n = p.shape.reduce((x, y) => x * y, 1);
    if (!v || v.length !== n) throw new ModelExportError(`internal: parameter ${p.name} has ${v?.length} values, [${p.shape}] needs ${n}`);
  }
  return out;
}

/** PyTorch layout [a0, a1, k...] from ours [k..., a1, a0]. */
function toTorchLayout(v: Float32Array, torchShape: number[]): Float32Array {
  if (torchShape.length === 1) return Float32Array.from(v);
  const [a0, a1, ...k] = torchShape;
  const kn = k.reduce((a, b) => a * b, 1);
  const out = new Float32Array(v.length);
  for (let i = 0; i < a0; i++)
    for (let j = 0; j < a1; j++) {
      const base = (i * a1 + j) * kn;
      for (let s = 0; s < kn; s++) out[base + s] = v[(s * a1 + j) * a0 + i];
    }
  return out;
}

/**
 * The keys of PlainConvUNet.state_dict() in PyTorch's order, each with the canonical parameter it holds: per
 * ConvDropoutNormReLU conv.weight, conv.bias, norm.weight, norm.bias, then the same tensors as all_modules.0/1;
 * the encoder's keys once more under decoder.encoder (UNetDecoder keeps the encoder as a submodule); then the
 * decoder's stages, transpconvs, seg_layers.
 */
export function plainConvUNetStateDictKeys(arch: DynamicUNetArchitecture): [string, string][] {
  const keys: [string, string][] = [];
  const names = new Set(arch.params.map((p) => p.name));
  const blockKeys = (prefix: string, into: [string, string][], alias = '') => {
    for (const s of ['conv.weight', 'conv.bias', 'norm.weight', 'norm.bias']) if (names.has(`${prefix}.${s}`)) into.push([`${alias}${prefix}.${s}`, `${prefix}.${s}`]);
    const m: Record<string, string> = { 'conv.weight': 'all_modules.0.weight', 'conv.bias': 'all_modules.0.bias', 'norm.weight': 'all_modules.1.weight', 'norm.bias': 'all_modules.1.bias' };
    for (const [s, a] of Object.entries(m)) if (names.has(`${prefix}.${s}`)) into.push([`${alias}${prefix}.${a}`, `${prefix}.${s}`]);
  };
  const enc: [string, string][] = [];
  for (let s = 0; s < arch.featuresPerStage.length; s++) for (let m = 0; m < arch.nPerStage[s]; m++) blockKeys(`encoder.stages.${s}.0.convs.${m}`, enc);
  keys.push(...enc, ...enc.map(([k, c]) => [`decoder.${k}`, c] as [string, string]));
  const n = arch.featuresPerStage.length;
  for (let u = 0; u < n - 1; u++) for (let m = 0; m < arch.nConvPerStageDecoder[u]; m++) blockKeys(`decoder.stages.${u}.convs.${m}`, keys);
  for (let u = 0; u < n - 1; u++) keys.push([`decoder.transpconvs.${u}.weight`, `decoder.transpconvs.${u}.weight`], [`decoder.transpconvs.${u}.bias`, `decoder.transpconvs.${u}.bias`]);
  for (let u = 0; u < n - 1; u++) keys.push([`decoder.seg_layers.${u}.weight`, `decoder.seg_layers.${u}.weight`], [`decoder.seg_layers.${u}.bias`, `decoder.seg_layers.${u}.bias`]);
  return keys;
}

/** The v2.4+ `architecture` entry of plans.json for a PlainConvUNet spec. */
export function architectureEntry(spec: DynamicUNetSpec): Record<string, unknown> {
  const d = spec.dim;
  return {
    network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
    arch_kwargs: {
      n_stages: spec.featuresPerStage.length,
      features_per_stage: spec.featuresPerStage,
      conv_op: `torch.nn.modules.conv.Conv${d}d`,
      kernel_sizes: spec.kernelSizes,
      strides: spec.strides,
      n_conv_per_stage: spec.nPerStage,
      n_conv_per_stage_decoder: spec.nConvPerStageDecoder,
      conv_bias: true,
      norm_op: `torch.nn.modules.instancenorm.InstanceNorm${d}d`,
      norm_op_kwargs: { eps: 1e-5, affine: true },
      dropout_op: null,
      dropout_op_kwargs: null,
      nonlin: 'torch.nn.LeakyReLU',
      nonlin_kwargs: { inplace: true },
    },
    _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
  };
}

export interface ExportV2Options {
  /** our plans.json document */
  plans: { dataset_name: string; plans_name: string; configurations: Record<string, Record<string, unknown>>; [k: string]: unknown };
  configuration: string;
  /** one trained network per fold, with its fold name (0..4 or 'all') */
  folds: { fold: number | 'all'; network: GenericUNet; epoch?: number; bestEma?: number | null }[];
  /** nnU-Net v2 dataset.json (channel_names, labels, numTraining, file_ending) */
  datasetJson: Record<string, unknown>;
  fingerprint?: Record<string, unknown>;
  /** the results folder: written to <outDir>/<dataset_name>/<trainer>__<plans>__<configuration> */
  outDir: string;
  trainerName?: string;
  overwrite?: boolean;
}

/** Write the v2 model folder; returns its path. Nothing is written when a check fails. */
export async function exportModelV2(o: ExportV2Options): Promise<string> {
  if (!o.folds.length) throw new ModelExportError('no folds to export');
  const cfg = o.plans.configurations?.[o.configuration];
  if (!cfg) throw new ModelExportError(`plans have no configuration '${o.configuration}'`);
  const trainer = o.trainerName ?? 'nnUNetTrainer';
  const a0 = o.folds[0].network.architecture;
  const spec = plainConvUNetSpecOf(a0);
  const arch = buildDynamicArchitecture(spec);
  const dir = path.join(path.resolve(o.outDir), o.plans.dataset_name, `${trainer}__${o.plans.plans_name}__${o.configuration}`);
  if (fs.existsSync(dir) && !o.overwrite) throw new ModelExportError(`${dir}: exists (pass overwrite to replace it)`);
  const { inherits_from: _i, ...flat } = cfg as Record<string, unknown>;
  const parent = typeof cfg.inherits_from === 'string' ? o.plans.configurations[cfg.inherits_from] ?? {} : {};
  const plansOut = {
    ...o.plans,
    configurations: {
      [o.configuration]: { ...parent, ...flat, preprocessor_name: 'DefaultPreprocessor', architecture: architectureEntry(spec) },
    },
  };
  const keys = plainConvUNetStateDictKeys(arch);
  const files: [string, Uint8Array][] = [];
  for (const f of o.folds) {
    if (JSON.stringify(f.network.architecture.params) !== JSON.stringify(a0.params)) throw new ModelExportError(`fold ${f.fold}: its network differs from fold ${o.folds[0].fold}'s`);
    const values = plainConvUNetValuesOf(a0, await f.network.getValues(), arch);
    const tensors = new Map<string, TorchTensorOut>();
    for (const p of arch.params) tensors.set(p.name, new TorchTensorOut(p.torchShape, toTorchLayout(values.get(p.name)!, p.torchShape)));
    const checkpoint = {
      network_weights: new PyOrderedDict(keys.map(([k, c]) => [k, tensors.get(c)!])),
      optimizer_state: null,
      grad_scaler_state: null,
      logging: {},
      _best_ema: f.bestEma ?? null,
      current_epoch: f.epoch ?? 0,
      init_args: { plans: plansOut, configuration: o.configuration, fold: f.fold, dataset_json: o.datasetJson, device: new PyDevice('cpu') },
      trainer_name: trainer,
      inference_allowed_mirroring_axes: new PyTuple(Array.from({ length: spec.dim }, (_, i) => i)),
    };
    const bytes = torchSaveBytes(checkpoint, 'checkpoint_final');
    // read back through the importer's reader: every tensor equal to what we meant to write
    const back = parseTorchCheckpoint(bytes, `fold_${f.fold}/checkpoint_final.pth`).value as { network_weights: Record<string, TorchTensor> };
    const sd = new Map(Object.entries(back.network_weights));
    if (sd.size !== keys.length) throw new ModelExportError(`internal: wrote ${keys.length} tensors, read back ${sd.size}`);
    for (const p of arch.params) {
      const t = sd.get(p.name)!;
      const again = toChannelsLast(t);
      const want = values.get(p.name)!;
      if (p.shape.length === 1 ? (t.data as Float32Array).some((x, i) => x !== want[i]) : again.some((x, i) => x !== want[i])) {
        throw new ModelImportError(`internal: tensor ${p.name} does not read back identically`);
      }
    }
    files.push([path.join(`fold_${f.fold}`, 'checkpoint_final.pth'), bytes]);
  }
  const tmp = `${dir}.exporting-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    fs.mkdirSync(tmp, { recursive: true });
    await writeJsonAtomic(path.join(tmp, 'plans.json'), plansOut);
    await writeJsonAtomic(path.join(tmp, 'dataset.json'), o.datasetJson);
    if (o.fingerprint) await writeJsonAtomic(path.join(tmp, 'dataset_fingerprint.json'), o.fingerprint);
    for (const [rel, b] of files) {
      fs.mkdirSync(path.join(tmp, path.dirname(rel)), { recursive: true });
      await writeFileAtomic(path.join(tmp, rel), b);
    }
    if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** nnU-Net v2 dataset.json for one of our datasets (channel_names, labels, numTraining, file_ending). */
export function v2DatasetJson(ds: { channelNames: string[]; labels: Record<string, number>; fileEnding: string; cases?: unknown[]; name?: string }): Record<string, unknown> {
  return {
    channel_names: Object.fromEntries(ds.channelNames.map((c, i) => [String(i), c])),
    labels: ds.labels,
    numTraining: Array.isArray(ds.cases) ? ds.cases.length : 0,
    file_ending: ds.fileEnding,
    ...(ds.name ? { name: ds.name } : {}),
  };
}
