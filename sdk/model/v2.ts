/**
 * Official nnU-Net v2 model folders, read without Python (issue 22):
 *
 *   <trainer>__<plans>__<configuration>/      e.g. nnUNetTrainer__nnUNetPlans__3d_fullres
 *     plans.json, dataset.json, dataset_fingerprint.json
 *     fold_k/checkpoint_final.pth            torch.save zip: { network_weights, optimizer_state, grad_scaler_state,
 *                                            logging, _best_ema, current_epoch, init_args, trainer_name,
 *                                            inference_allowed_mirroring_axes }
 *
 * What official prediction does (nnunetv2/inference/predict_from_raw_data.py,
 * `nnUNetPredictor.initialize_from_trained_model_folder`): plans.json and dataset.json of the model folder (not the
 * pickled init_args) decide; the network is built by `get_network_from_plans` from the configuration's
 * `architecture` entry (v2.4+: network_class_name + arch_kwargs) or, in older plans, from UNet_class_name /
 * UNet_base_num_features / unet_max_num_features / n_conv_per_stage_encoder / n_conv_per_stage_decoder /
 * pool_op_kernel_sizes / conv_kernel_sizes; every fold's `network_weights` is loaded with strict names; mirroring
 * uses the first fold's `inference_allowed_mirroring_axes`. Output heads: one per label (regions are not supported
 * here).
 *
 * Here: PlainConvUNet and ResidualEncoderUNet (sdk/network/dynamic_unet.ts); anything else is refused naming the
 * class. The state_dict is checked like `load_state_dict(strict=True)`: every canonical tensor present with the
 * PyTorch shape, the aliases PyTorch also lists (`decoder.encoder.*`, `*.all_modules.N.*`) must equal their
 * canonical tensor's shape, and any other key is refused naming it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { v2LabelManager, v2ProbabilitiesAndSegmentation, type V2Labels } from './v2_labels';
export { v2LabelManager, type V2Labels } from './v2_labels';
import { predictLogitsV2 } from './v2_predict';
import { TorchTensor } from '../io/pickle';
import { readTorchCheckpoint } from '../io/torch_checkpoint';
import { buildDynamicArchitecture, canonicalDnaKey, DNA_CLASS_NAMES, DynamicUNet, DynamicUNetArchitecture, DynamicUNetSpec } from '../network/dynamic_unet';
import { ModelImportError, toChannelsLast } from './v1';

function need(cond: unknown, file: string, msg: string): asserts cond {
  if (!cond) throw new ModelImportError(`${file}: ${msg}`);
}

export const SUPPORTED_V2_TRAINERS = ['nnUNetTrainer'] as const;

/**
 * nnUNetTrainer variants whose prediction is nnUNetTrainer's: they change the epochs, the augmentation or the mirroring
 * at training only (nnunetv2/training/nnUNetTrainer/variants: training_length, data_augmentation), e.g.
 * nnUNetTrainer_4000epochs_NoMirroring (TotalSegmentator), nnUNetTrainerNoMirroring, nnUNetTrainer_250epochs,
 * nnUNetTrainerDA5. The checkpoint's inference_allowed_mirroring_axes carries what they change at inference; a variant
 * that changes the network would not load its state_dict strictly.
 */
export const V2_TRAINER_VARIANTS = /^nnUNetTrainer(_\d+epochs)?(_?NoMirroring|_onlyMirror01|_?DA5|_?NoDA|_?DAOrd0|_?NoDummy2DDA)?(_\d+epochs)?$/;

export function isSupportedV2Trainer(name: string): boolean {
  return (SUPPORTED_V2_TRAINERS as readonly string[]).includes(name) || V2_TRAINER_VARIANTS.test(name);
}

/** The v2 plans.json as written by nnU-Net v2's planners (the fields read here). */
export interface V2PlansJSON {
  dataset_name: string;
  plans_name: string;
  transpose_forward: number[];
  transpose_backward: number[];
  configurations: Record<string, V2Configuration>;
  foreground_intensity_properties_per_channel?: Record<string, Record<string, number>>;
  [k: string]: unknown;
}

export interface V2Configuration {
  inherits_from?: string;
  /** a cascade stage: the configuration whose segmentation it takes as one-hot input channels */
  previous_stage?: string;
  next_stage?: string;
  patch_size: number[];
  spacing: number[];
  normalization_schemes: string[];
  use_mask_for_norm: boolean[];
  architecture?: { network_class_name: string; arch_kwargs: Record<string, unknown>; _kw_requires_import?: string[] };
  UNet_class_name?: string;
  UNet_base_num_features?: number;
  unet_max_num_features?: number;
  n_conv_per_stage_encoder?: number[];
  n_conv_per_stage_decoder?: number[];
  pool_op_kernel_sizes?: number[][];
  conv_kernel_sizes?: number[][];
  [k: string]: unknown;
}

export interface V2DatasetJSON {
  channel_names?: Record<string, string>;
  modality?: Record<string, string>;
  labels: Record<string, number | number[]>;
  file_ending?: string;
  regions_class_order?: number[];
  [k: string]: unknown;
}

/** A configuration with `inherits_from` resolved (nnunetv2 PlansManager.get_configuration). */
export function resolveV2Configuration(plans: V2PlansJSON, name: string, file: string): V2Configuration {
  const seen = new Set<string>();
  const rec = (n: string): V2Configuration => {
    const c = plans.configurations?.[n];
    need(c, file, `configuration '${n}' is not in the plans (${Object.keys(plans.configurations ?? {}).join(', ')})`);
    need(!seen.has(n), file, `configuration '${n}' inherits from itself`);
    seen.add(n);
    return c.inherits_from ? { ...rec(c.inherits_from), ...c } : c;
  };
  return rec(name);
}

/** LabelManager.num_segmentation_heads: the network's outputs (labels with background, or foreground regions). */
export function v2NumClasses(ds: V2DatasetJSON, file: string): number {
  return v2LabelManager(ds, file).numHeads;
}

const CONV_OPS: Record<string, 2 | 3> = {
  'torch.nn.modules.conv.Conv2d': 2,
  'torch.nn.modules.conv.Conv3d': 3,
  'torch.nn.Conv2d': 2,
  'torch.nn.Conv3d': 3,
};

/** get_network_from_plans: the network spec of a configuration (v2.4+ `architecture`, or the older fields). */
export function v2NetworkSpec(cfg: V2Configuration, numInputChannels: number, numClasses: number, file: string): DynamicUNetSpec {
  const nums = (v: unknown, what: string): number[] => {
    need(Array.isArray(v) && v.every((x) => typeof x === 'number'), file, `${what} must be a list of numbers, got ${JSON.stringify(v)}`);
    return v as number[];
  };
  const lists = (v: unknown, what: string): number[][] => {
    need(Array.isArray(v), file, `${what} must be a list, got ${JSON.stringify(v)}`);
    return (v as unknown[]).map((e, i) => nums(e, `${what}[${i}]`));
  };
  if (cfg.architecture) {
    const a = cfg.architecture;
    const kind = DNA_CLASS_NAMES[a.network_class_name];
    need(kind, file, `network class '${a.network_class_name}' is not supported (nnunet-ts implements ${Object.keys(DNA_CLASS_NAMES).join(', ')})`);
    const k = a.arch_kwargs ?? {};
    const dim = CONV_OPS[String(k.conv_op)];
    need(dim, file, `conv_op '${String(k.conv_op)}' is not supported (Conv2d, Conv3d)`);
    const norm = String(k.norm_op);
    need(/InstanceNorm[23]d$/.test(norm), file, `norm_op '${norm}' is not supported (InstanceNorm only)`);
    const nk = (k.norm_op_kwargs ?? {}) as Record<string, unknown>;
    need(nk.affine === true && (nk.eps === undefined || Math.abs(Number(nk.eps) - 1e-5) < 1e-12), file, `norm_op_kwargs ${JSON.stringify(nk)} are not supported (eps 1e-5, affine true)`);
    need(k.dropout_op === null || k.dropout_op === undefined, file, `dropout_op '${String(k.dropout_op)}' is not supported`);
    need(/LeakyReLU$/.test(String(k.nonlin)), file, `nonlin '${String(k.nonlin)}' is not supported (LeakyReLU only)`);
    const nl = (k.nonlin_kwargs ?? {}) as Record<string, unknown>;
    need(nl.negative_slope === undefined || Number(nl.negative_slope) === 0.01, file, `LeakyReLU negative_slope ${String(nl.negative_slope)} is not supported (0.01)`);
    need(k.conv_bias === true, file, `conv_bias ${String(k.conv_bias)} is not supported (nnU-Net plans use true)`);
    const per = kind === 'PlainConvUNet' ? k.n_conv_per_stage : k.n_blocks_per_stage;
    const n = Number(k.n_stages);
    const asList = (v: unknown, len: number, what: string) => (typeof v === 'number' ? new Array(len).fill(v) : nums(v, what));
    const feats = asList(k.features_per_stage, n, 'features_per_stage');
    return {
      kind,
      dim,
      numInputChannels,
      numClasses,
      featuresPerStage: feats,
      kernelSizes: lists(k.kernel_sizes, 'kernel_sizes'),
      strides: lists(k.strides, 'strides'),
      nPerStage: asList(per, n, kind === 'PlainConvUNet' ? 'n_conv_per_stage' : 'n_blocks_per_stage'),
      nConvPerStageDecoder: asList(k.n_conv_per_stage_decoder, n - 1, 'n_conv_per_stage_decoder'),
    };
  }
  // nnU-Net v2 before 2.4: get_network_from_plans(plans_manager, dataset_json, configuration_manager, ...)
  const cls = cfg.UNet_class_name ?? 'PlainConvUNet';
  const kind = DNA_CLASS_NAMES[`dynamic_network_architectures.architectures.unet.${cls}`];
  need(kind, file, `UNet_class_name '${cls}' is not supported (PlainConvUNet, ResidualEncoderUNet)`);
  const kernels = lists(cfg.conv_kernel_sizes, 'conv_kernel_sizes');
  const pools = lists(cfg.pool_op_kernel_sizes, 'pool_op_kernel_sizes');
  need(typeof cfg.UNet_base_num_features === 'number' && typeof cfg.unet_max_num_features === 'number', file, 'the configuration has neither an architecture entry nor UNet_base_num_features / unet_max_num_features');
  const n = kernels.length;
  return {
    kind,
    dim: kernels[0].length as 2 | 3,
    numInputChannels,
    numClasses,
    featuresPerStage: Array.from({ length: n }, (_, i) => Math.min(cfg.UNet_base_num_features! * 2 ** i, cfg.unet_max_num_features!)),
    kernelSizes: kernels,
    strides: pools,
    nPerStage: nums(cfg.n_conv_per_stage_encoder, 'n_conv_per_stage_encoder'),
    nConvPerStageDecoder: nums(cfg.n_conv_per_stage_decoder, 'n_conv_per_stage_decoder'),
  };
}

/**
 * network_weights -> values by canonical name, strict: a missing tensor, a wrong shape, a non-float tensor, an alias
 * whose shape differs from its canonical tensor, or an unknown key is refused naming the tensor and `file`.
 */
export function valuesFromV2StateDict(sd: Map<string, TorchTensor>, arch: DynamicUNetArchitecture, file: string): Map<string, Float32Array> {
  const byName = new Map(arch.params.map((p) => [p.name, p]));
  for (const [k, t] of sd) {
    const c = canonicalDnaKey(k);
    const p = byName.get(c);
    if (!p) throw new ModelImportError(`${file}: network_weights has tensor '${k}' that the ${arch.kind} built from the plans does not have`);
    if (t.shape.join() !== p.torchShape.join()) {
      throw new ModelImportError(`${file}: tensor '${k}' has shape [${t.shape}], the ${arch.kind} built from the plans needs [${p.torchShape}]`);
    }
  }
  const values = new Map<string, Float32Array>();
  for (const p of arch.params) {
    const t = sd.get(p.name);
    if (!t) throw new ModelImportError(`${file}: network_weights has no tensor '${p.name}' (the plans' ${arch.kind} needs it, shape [${p.torchShape}])`);
    if (!['float32', 'float16', 'float64', 'bfloat16'].includes(t.dtype)) throw new ModelImportError(`${file}: tensor '${p.name}' has dtype ${t.dtype}, expected floating point`);
    values.set(p.name, p.shape.length === 1 ? Float32Array.from(t.data as Float32Array) : toChannelsLast(t));
  }
  return values;
}

export interface V2Checkpoint {
  file: string;
  trainer: string;
  mirrorAxes: number[];
  stateDict: Map<string, TorchTensor>;
  initArgs: Record<string, unknown> | null;
  epoch: number | null;
}

/** Read a v2 checkpoint_final.pth (or any checkpoint_*.pth). */
export function readV2Checkpoint(file: string): V2Checkpoint {
  const ck = readTorchCheckpoint(file);
  const v = ck.value as Record<string, unknown>;
  need(v && typeof v === 'object' && v.network_weights && typeof v.network_weights === 'object', file, "not an nnU-Net v2 checkpoint (no 'network_weights')");
  const sd = new Map<string, TorchTensor>();
  for (const [k, t] of Object.entries(v.network_weights as Record<string, unknown>)) {
    need(t instanceof TorchTensor, file, `network_weights entry '${k}' is not a tensor`);
    sd.set(k.startsWith('module.') ? k.slice(7) : k, t);
  }
  const m = v.inference_allowed_mirroring_axes;
  need(m === null || m === undefined || (Array.isArray(m) && m.every((x) => typeof x === 'number')), file, `inference_allowed_mirroring_axes ${JSON.stringify(m)} is not a tuple of ints`);
  return {
    file,
    trainer: typeof v.trainer_name === 'string' ? v.trainer_name : 'nnUNetTrainer',
    mirrorAxes: Array.isArray(m) ? (m as number[]) : [],
    stateDict: sd,
    initArgs: v.init_args && typeof v.init_args === 'object' ? (v.init_args as Record<string, unknown>) : null,
    epoch: typeof v.current_epoch === 'number' ? v.current_epoch : null,
  };
}

export interface V2ModelFolder {
  dir: string;
  trainer: string;
  plansName: string;
  configuration: string;
  plansFile: string;
  datasetFile: string;
  fingerprintFile: string | null;
  folds: { fold: string; checkpoint: string }[];
}

/** Is `dir` (or its parent, for a fold folder) a v2 model folder? */
export function isV2ModelFolder(dir: string, checkpoint = 'checkpoint_final.pth'): boolean {
  const has = (d: string) => fs.existsSync(path.join(d, 'plans.json')) && fs.existsSync(path.join(d, 'dataset.json'));
  if (fs.existsSync(path.join(dir, checkpoint)) && has(path.dirname(dir))) return true;
  return has(dir) && fs.existsSync(dir) && fs.readdirSync(dir).some((d) => /^fold_(\d+|all)$/.test(d) && fs.existsSync(path.join(dir, d, checkpoint)));
}

/** Find the folds of a v2 model folder `<trainer>__<plans>__<configuration>` (or of one fold folder). */
export function findV2ModelFolder(dir: string, opts: { folds?: (number | 'all')[]; checkpoint?: string } = {}): V2ModelFolder {
  const ck = opts.checkpoint ?? 'checkpoint_final.pth';
  need(fs.existsSync(dir) && fs.statSync(dir).isDirectory(), dir, 'model folder not found');
  let modelDir = dir;
  let foldDirs: string[];
  if (fs.existsSync(path.join(dir, ck))) {
    modelDir = path.dirname(dir);
    foldDirs = [dir];
  } else if (opts.folds?.length) {
    foldDirs = opts.folds.map((f) => path.join(dir, `fold_${f}`));
    for (const d of foldDirs) need(fs.existsSync(path.join(d, ck)), d, `no ${ck}`);
  } else {
    foldDirs = fs
      .readdirSync(dir)
      .filter((d) => /^fold_(\d+|all)$/.test(d) && fs.existsSync(path.join(dir, d, ck)))
      .sort()
      .map((d) => path.join(dir, d));
    need(foldDirs.length > 0, dir, `no fold_k/${ck}`);
  }
  const plansFile = path.join(modelDir, 'plans.json');
  const datasetFile = path.join(modelDir, 'dataset.json');
  need(fs.existsSync(plansFile), modelDir, 'no plans.json (not an nnU-Net v2 model folder)');
  need(fs.existsSync(datasetFile), modelDir, 'no dataset.json (not an nnU-Net v2 model folder)');
  const parts = path.basename(modelDir).split('__');
  need(parts.length === 3, modelDir, "folder name is not '<trainer>__<plans>__<configuration>'");
  const fp = path.join(modelDir, 'dataset_fingerprint.json');
  return {
    dir: modelDir,
    trainer: parts[0],
    plansName: parts[1],
    configuration: parts[2],
    plansFile,
    datasetFile,
    fingerprintFile: fs.existsSync(fp) ? fp : null,
    folds: foldDirs.map((d) => ({ fold: path.basename(d), checkpoint: path.join(d, ck) })),
  };
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new ModelImportError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** A v2 model loaded for prediction on preprocessed data. */
export interface V2Model {
  folder: V2ModelFolder;
  plans: V2PlansJSON;
  dataset: V2DatasetJSON;
  /** LabelManager's view of dataset.json: labels or regions, the network's outputs */
  labels: V2Labels;
  configuration: V2Configuration;
  architecture: DynamicUNetArchitecture;
  networks: DynamicUNet[];
  trainer: string;
  /** the first fold's inference_allowed_mirroring_axes */
  mirrorAxes: number[];
}

/** Load a v2 model folder: plans, dataset.json, every fold's weights (strict), with errors naming the file. */
export function loadV2Model(dir: string, opts: { folds?: (number | 'all')[]; checkpoint?: string; allowOtherTrainer?: boolean } = {}): V2Model {
  const folder = findV2ModelFolder(path.resolve(dir), opts);
  const plans = readJson<V2PlansJSON>(folder.plansFile);
  need(plans && typeof plans.configurations === 'object', folder.plansFile, "no 'configurations' (not nnU-Net v2 plans)");
  const dataset = readJson<V2DatasetJSON>(folder.datasetFile);
  const cfg = resolveV2Configuration(plans, folder.configuration, folder.plansFile);
  const channels = dataset.channel_names ?? dataset.modality;
  need(channels && Object.keys(channels).length > 0, folder.datasetFile, "no 'channel_names'");
  const labels = v2LabelManager(dataset, folder.datasetFile);
  const numClasses = labels.numHeads;
  if (cfg.previous_stage) need(cfg.patch_size.length === 3, folder.plansFile, `the cascade configuration '${folder.configuration}' is not 3D`);
  // determine_num_input_channels: a cascade stage also sees the previous stage's one-hot foreground labels
  const numInputChannels = Object.keys(channels).length + (cfg.previous_stage ? labels.foregroundLabels.length : 0);
  const spec = v2NetworkSpec(cfg, numInputChannels, numClasses, folder.plansFile);
  let arch: DynamicUNetArchitecture;
  try {
    arch = buildDynamicArchitecture(spec);
  } catch (e) {
    throw new ModelImportError(`${folder.plansFile}: ${(e as Error).message}`);
  }
  const networks: DynamicUNet[] = [];
  let first: V2Checkpoint | null = null;
  try {
    for (const f of folder.folds) {
      const ck = readV2Checkpoint(f.checkpoint);
      if (!first) {
        first = ck;
        if (!opts.allowOtherTrainer && !isSupportedV2Trainer(ck.trainer)) {
          throw new ModelImportError(
            `${f.checkpoint}: trainer '${ck.trainer}' is not supported (nnUNetTrainer and its epoch / augmentation / mirroring variants); pass allowOtherTrainer to predict as nnUNetTrainer would`,
          );
        }
      }
      networks.push(new DynamicUNet(arch, valuesFromV2StateDict(ck.stateDict, arch, f.checkpoint)));
    }
  } catch (e) {
    for (const n of networks) n.dispose();
    throw e;
  }
  for (const a of first!.mirrorAxes) need(Number.isInteger(a) && a >= 0 && a < spec.dim, first!.file, `inference_allowed_mirroring_axes ${JSON.stringify(first!.mirrorAxes)} do not fit a ${spec.dim}D network`);
  return { folder, plans, dataset, labels, configuration: cfg, architecture: arch, networks, trainer: first!.trainer, mirrorAxes: first!.mirrorAxes };
}

export interface V2PredictOptions {
  /** mirroring over the checkpoint's inference_allowed_mirroring_axes (default true, as nnUNetv2_predict without --disable_tta) */
  mirroring?: boolean;
  stepSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * nnUNetPredictor.predict_logits_from_preprocessed_data on one preprocessed case ([C, Z, Y, X], C order): each
 * fold's v2 sliding-window logits (float16), summed over folds in float16 and divided by their number, then
 * softmax (float32) and argmax (regions: sigmoid, painted in regions_class_order). Resampling back to the original spacing and un-cropping are not done here (raw
 * images: predictCaseV2 in v2_predict.ts, or Model.load(dir).predict()).
 */
export async function predictPreprocessedV2(
  model: V2Model,
  image: Float32Array,
  shape: readonly number[],
  opts: V2PredictOptions = {},
): Promise<{ logits: Float32Array; probabilities: Float32Array; segmentation: Uint8Array; shape: [number, number, number, number] }> {
  const { logits, shape: outShape } = await predictLogitsV2(model, image, shape, opts);
  const { probabilities, segmentation } = v2ProbabilitiesAndSegmentation(model.labels, logits);
  return { logits, probabilities, segmentation, shape: outShape };
}
