/**
 * Official nnU-Net v1 model folders, read without Python (issue 22):
 *
 *   <trainer>__<plans>/                      e.g. nnUNetTrainerV2__nnUNetPlansv2.1 (under <results>/nnUNet/<network>/<task>/)
 *     plans.pkl                              the plans the trainer was created with
 *     postprocessing.json                    written by consolidate_folds (v1 predict reads it here)
 *     fold_k/model_final_checkpoint.model    torch.save zip: { epoch, state_dict, optimizer_state_dict, ... }
 *     fold_k/model_final_checkpoint.model.pkl  { init: trainer constructor args, name: trainer class, plans }
 *
 * What official prediction does (nnunetv1 nnunet/inference/predict.py predict_cases ->
 * training/model_restore.py load_model_and_checkpoint_files / restore_model): the trainer is rebuilt from the first
 * fold's `.model.pkl` (`tr(*init)`, then `process_plans(info['plans'])`: the **pickled plans and the stage in init**
 * decide the network and the preprocessing, not plans.pkl), every fold's state_dict is loaded with strict names, the
 * case is preprocessed with the plans' preprocessor at the stage's current_spacing, predicted with mirroring over
 * data_aug_params['mirror_axes'] (nnUNetTrainerV2: (0, 1) in 2D, (0, 1, 2) in 3D), Gaussian sliding window step 0.5,
 * the folds' softmax averaged, exported with segmentation_export_params (default order 1, order_z 0) and
 * postprocessed with `<model folder>/postprocessing.json`.
 *
 * Here: the pickled plans are converted to our plans.json schema (one configuration, named as v1's network type:
 * '2d', '3d_lowres', '3d_fullres'), Generic_UNet is built by sdk/network/architecture.ts (the same parameter
 * names as PyTorch), and the state_dict is mapped tensor by tensor with shape checks and the layout change
 * PyTorch [out, in, k...] -> ours [k..., in, out] (transposed conv [in, out, k...] -> [k..., out, in]: the same
 * permutation).
 */
import * as fs from 'fs';
import * as path from 'path';
import { NDArray, readPickleFile, TorchTensor } from '../io/pickle';
import { readTorchCheckpoint } from '../io/torch_checkpoint';
import { buildArchitecture, NetworkArchitecture } from '../network/architecture';
import { GenericUNet } from '../network/generic_unet';
import { configurationFromV1Stage } from '../planning/plan_experiment';
import type { V1Plans, V1StagePlan } from '../planning/planner_v21';
import { defaultResampling, IntensityProperties, PlansConfiguration, PlansJSON, V1_TO_V2_NORMALIZATION } from '../planning/plans';

export { ModelImportError } from './errors';
import { ModelImportError } from './errors';

/** Trainers whose prediction is nnUNetTrainerV2's (network, mirroring, preprocessing). */
export const SUPPORTED_V1_TRAINERS = ['nnUNetTrainerV2', 'nnUNetTrainerV2CascadeFullRes'] as const;

/**
 * v1 cascade trainers (nnUNetTrainerV2_CascadeFullRes.py): the last stage of plans with two, with num_classes - 1
 * extra input channels (the previous stage's one-hot segmentation). Their init args end with
 * (..., deterministic, previous_trainer = "nnUNetTrainerV2", fp16).
 */
export const V1_CASCADE_TRAINERS = ['nnUNetTrainerV2CascadeFullRes'] as const;

export function isV1CascadeTrainer(trainer: string): boolean {
  return (V1_CASCADE_TRAINERS as readonly string[]).includes(trainer);
}

/** The 3d_lowres trainer a cascade was trained on (init[8], v1 default nnUNetTrainerV2). */
export function v1PreviousTrainer(info: V1CheckpointInfo): string {
  const t = info.init[8];
  return typeof t === 'string' && t ? t : 'nnUNetTrainerV2';
}

/** numpy arrays -> nested lists, recursively (plans hold arrays and numpy scalars). */
export function toPlain(v: unknown): unknown {
  if (v instanceof NDArray) return v.tolist();
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = toPlain(x);
    return o;
  }
  return v;
}

/** The v1 plans pickle as read (numbers plain), with the fields prediction needs. */
export interface V1PlansPickle extends Omit<V1Plans, 'plans_per_stage' | 'normalization_schemes'> {
  normalization_schemes: Record<string, string>;
  plans_per_stage: Record<string, V1StagePlan>;
  dataset_properties?: { intensityproperties?: Record<string, Record<string, number>> | null } & Record<string, unknown>;
  segmentation_export_params?: { force_separate_z: boolean | null; interpolation_order: number; interpolation_order_z: number };
}

/** `.model.pkl` next to a checkpoint: trainer class name, constructor args, plans. */
export interface V1CheckpointInfo {
  init: unknown[];
  name: string;
  class?: string;
  plans: V1PlansPickle;
}

function need(cond: unknown, file: string, msg: string): asserts cond {
  if (!cond) throw new ModelImportError(`${file}: ${msg}`);
}

/** Read and check a v1 plans dict (from plans.pkl or a .model.pkl's 'plans'). */
export function checkV1Plans(raw: unknown, file: string): V1PlansPickle {
  const p = toPlain(raw) as V1PlansPickle;
  need(p && typeof p === 'object', file, 'plans are not a dict');
  for (const k of ['plans_per_stage', 'num_modalities', 'num_classes', 'normalization_schemes', 'use_mask_for_norm', 'base_num_features'] as const) {
    need(p[k] !== undefined && p[k] !== null, file, `plans have no '${k}' (not nnU-Net v1 plans?)`);
  }
  for (const [s, st] of Object.entries(p.plans_per_stage)) {
    for (const k of ['patch_size', 'pool_op_kernel_sizes', 'conv_kernel_sizes', 'current_spacing'] as const) {
      need(Array.isArray(st[k]), file, `plans_per_stage[${s}] has no '${k}' (plans of nnU-Net before v1.4 are not supported)`);
    }
  }
  return p;
}

export function readV1Plans(file: string): V1PlansPickle {
  return checkV1Plans(readPickleFile(file), file);
}

export function readV1CheckpointInfo(file: string): V1CheckpointInfo {
  const raw = readPickleFile(file) as Record<string, unknown>;
  need(raw && typeof raw === 'object' && Array.isArray(raw.init) && typeof raw.name === 'string', file, "not a v1 '.model.pkl' (needs 'init' and 'name')");
  return { init: toPlain(raw.init) as unknown[], name: raw.name as string, class: raw.class as string | undefined, plans: checkV1Plans(raw.plans, `${file} (plans)`) };
}

export type V1Configuration = '2d' | '3d_lowres' | '3d_fullres' | '3d_cascade_fullres';

/**
 * v1 nnUNetTrainer.process_plans: the stage (init[5], or the only one) and the configuration it is. A cascade
 * trainer (`trainer`) is 3d_cascade_fullres: the last of two or more 3D stages.
 */
export function v1Stage(plans: V1PlansPickle, init: unknown[] | null, file: string, trainer = ''): { stage: string; configuration: V1Configuration } {
  const stages = Object.keys(plans.plans_per_stage).sort((a, b) => Number(a) - Number(b));
  let stage: string;
  const s = init ? init[5] : null;
  if (s === null || s === undefined) {
    need(stages.length === 1, file, `the trainer has no stage and the plans have ${stages.length}`);
    stage = stages[0];
  } else stage = String(s);
  need(stages.includes(stage), file, `stage ${stage} is not in the plans (stages ${stages.join(', ')})`);
  const dim = plans.plans_per_stage[stage].patch_size.length;
  need(dim === 2 || dim === 3, file, `patch_size of stage ${stage} has ${dim} entries`);
  if (isV1CascadeTrainer(trainer)) {
    need(dim === 3 && stages.length > 1 && stage === stages[stages.length - 1], file, `${trainer} needs the last of two or more 3D stages; this is stage ${stage} of ${stages.join(', ')}`);
    return { stage, configuration: '3d_cascade_fullres' };
  }
  const configuration: V1Configuration = dim === 2 ? '2d' : stages.length > 1 && stage === stages[0] ? '3d_lowres' : '3d_fullres';
  return { stage, configuration };
}

function intensityProperties(p: V1PlansPickle): Record<string, IntensityProperties> {
  const ip = p.dataset_properties?.intensityproperties;
  if (!ip) return {};
  const out: Record<string, IntensityProperties> = {};
  for (const [k, v] of Object.entries(ip)) {
    out[k] = { max: v.mx, mean: v.mean, median: v.median, min: v.mn, percentile_00_5: v.percentile_00_5, percentile_99_5: v.percentile_99_5, std: v.sd };
  }
  return out;
}

/**
 * v1 plans + stage -> our plans.json with one configuration (named like v1's network type). The configuration's
 * arithmetic (spacing, normalization, use_mask_for_norm, network topology) is the trainer's; batch size and data
 * identifier are carried for information only.
 */
export function v1PlansToPlansJSON(
  p: V1PlansPickle,
  opts: { stage: string; configuration: V1Configuration; datasetName: string; plansName: string; batchDice?: boolean; file: string },
): PlansJSON {
  const st = p.plans_per_stage[opts.stage];
  const is2d = st.patch_size.length === 2;
  for (const [k, s] of Object.entries(p.normalization_schemes)) {
    need(s in V1_TO_V2_NORMALIZATION, opts.file, `channel ${k} uses normalization '${s}', which nnunet-ts does not implement`);
  }
  const pre = p.preprocessor_name ?? (is2d ? 'PreprocessorFor2D' : 'GenericPreprocessor');
  const expected = is2d ? 'PreprocessorFor2D' : 'GenericPreprocessor';
  need(pre === expected, opts.file, `preprocessor '${pre}' is not supported (nnunet-ts implements ${expected} for this configuration)`);
  const sep = p.segmentation_export_params;
  if (sep) {
    need(
      sep.interpolation_order === 1 && sep.interpolation_order_z === 0,
      opts.file,
      `segmentation_export_params with interpolation_order ${sep.interpolation_order} / order_z ${sep.interpolation_order_z} are not supported (1 / 0 only)`,
    );
  }
  const convPerStage = p.conv_per_stage ?? 2;
  const v1: V1Plans = { ...(p as unknown as V1Plans), normalization_schemes: p.normalization_schemes as V1Plans['normalization_schemes'] };
  const cfg: PlansConfiguration = {
    ...configurationFromV1Stage(v1, st, {
      is2d,
      dataIdentifier: `${p.data_identifier ?? (is2d ? 'nnUNetData_plans_v2.1_2D' : 'nnUNetData_plans_v2.1')}_stage${opts.stage}`,
      batchDice: opts.batchDice ?? is2d,
    }),
    preprocessor_name: pre,
    ...defaultResampling(),
    n_conv_per_stage_encoder: new Array<number>(st.conv_kernel_sizes.length).fill(convPerStage),
    n_conv_per_stage_decoder: new Array<number>(st.conv_kernel_sizes.length - 1).fill(convPerStage),
    // the cascade's input channels include the 3d_lowres segmentation (predicted first, by the lowres model's own plans)
    ...(opts.configuration === '3d_cascade_fullres' ? { previous_stage: '3d_lowres' } : {}),
  };
  const tf = p.transpose_forward ?? [0, 1, 2];
  const tb = p.transpose_backward ?? [0, 1, 2];
  return {
    dataset_name: opts.datasetName,
    plans_name: opts.plansName,
    original_median_spacing_after_transp: [...st.current_spacing],
    original_median_shape_after_transp: [...st.median_patient_size_in_voxels],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [...tf],
    transpose_backward: [...tb],
    configurations: { [opts.configuration]: cfg },
    experiment_planner_used: is2d ? 'ExperimentPlanner2D_v21' : 'ExperimentPlanner3D_v21',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: intensityProperties(p),
  };
}

/**
 * The Generic_UNet nnUNetTrainerV2.initialize_network builds for these plans and stage; a cascade stage
 * (`cascade`) has num_classes - 1 more input channels (nnUNetTrainerV2CascadeFullRes.process_plans).
 */
export function v1Architecture(p: V1PlansPickle, stage: string, cascade = false): NetworkArchitecture {
  const st = p.plans_per_stage[stage];
  return buildArchitecture(
    {
      pool_op_kernel_sizes: st.pool_op_kernel_sizes,
      conv_kernel_sizes: st.conv_kernel_sizes,
      UNet_base_num_features: p.base_num_features,
      patch_size: st.patch_size,
      batch_size: st.batch_size,
    },
    { numInputChannels: p.num_modalities + (cascade ? p.num_classes : 0), numClasses: p.num_classes + 1, convPerStage: p.conv_per_stage ?? 2 },
  );
}

/** Our layout [k..., a1, a0] from PyTorch [a0, a1, k...] (conv: a0 = out, a1 = in; transposed conv: a0 = in, a1 = out). */
export function toChannelsLast(t: TorchTensor): Float32Array {
  const [a0, a1, ...k] = t.shape;
  const kn = k.reduce((a, b) => a * b, 1);
  const src = t.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < a0; i++)
    for (let j = 0; j < a1; j++) {
      const base = (i * a1 + j) * kn;
      for (let s = 0; s < kn; s++) out[(s * a1 + j) * a0 + i] = Number(src[base + s]);
    }
  return out;
}

/**
 * state_dict (PyTorch names and layouts) -> values by our parameter names (channels-last). Strict like
 * `load_state_dict`: a missing tensor, a tensor of another shape, or an unexpected tensor is refused naming the
 * tensor and `file`.
 */
export function valuesFromStateDict(stateDict: Map<string, TorchTensor>, arch: NetworkArchitecture, file: string): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  const known = new Set(arch.params.map((p) => p.name));
  const unexpected = [...stateDict.keys()].filter((k) => !known.has(k));
  if (unexpected.length) {
    throw new ModelImportError(`${file}: state_dict has tensor(s) the network built from the plans does not have: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` (+${unexpected.length - 5})` : ''}`);
  }
  for (const p of arch.params) {
    const t = stateDict.get(p.name);
    if (!t) throw new ModelImportError(`${file}: state_dict has no tensor '${p.name}' (the plans' network needs it, shape [${torchShape(p.shape)}])`);
    const want = torchShape(p.shape);
    if (t.shape.join() !== want.join()) {
      throw new ModelImportError(`${file}: tensor '${p.name}' has shape [${t.shape}], the network built from the plans needs [${want}]`);
    }
    if (!['float32', 'float16', 'float64', 'bfloat16'].includes(t.dtype)) {
      throw new ModelImportError(`${file}: tensor '${p.name}' has dtype ${t.dtype}, expected floating point`);
    }
    values.set(p.name, p.shape.length === 1 ? Float32Array.from(t.data as Float32Array) : toChannelsLast(t));
  }
  return values;
}

/** PyTorch shape of one of our parameters (ours [k..., a1, a0] -> [a0, a1, k...]). */
function torchShape(ours: readonly number[]): number[] {
  if (ours.length === 1) return [...ours];
  const n = ours.length;
  return [ours[n - 1], ours[n - 2], ...ours.slice(0, n - 2)];
}

/** Read a v1 checkpoint's state_dict into a Generic U-Net of `arch`. */
export function loadV1Network(checkpointFile: string, arch: NetworkArchitecture): GenericUNet {
  const ck = readTorchCheckpoint(checkpointFile);
  const v = ck.value as Record<string, unknown>;
  need(v && typeof v === 'object' && v.state_dict && typeof v.state_dict === 'object', checkpointFile, "not an nnU-Net v1 checkpoint (no 'state_dict')");
  const sd = new Map<string, TorchTensor>();
  for (const [k, t] of Object.entries(v.state_dict as Record<string, unknown>)) {
    need(t instanceof TorchTensor, checkpointFile, `state_dict entry '${k}' is not a tensor`);
    sd.set(k, t);
  }
  return new GenericUNet(arch, valuesFromStateDict(sd, arch, checkpointFile));
}

/** One fold of a v1 model folder. */
export interface V1Fold {
  fold: string;
  dir: string;
  checkpoint: string;
  info: string;
}

export interface V1ModelFolder {
  /** the `<trainer>__<plans>` folder (holds plans.pkl, postprocessing.json, fold_k) */
  modelDir: string;
  trainer: string;
  plansName: string;
  folds: V1Fold[];
  /** `<modelDir>/postprocessing.json` when it exists: the one v1 prediction applies */
  postprocessingFile: string | null;
  /** postprocessing.json files inside the fold folders (v1 prediction does not apply these) */
  foldPostprocessingFiles: string[];
}

/**
 * Find the folds of a v1 model folder (or of a single fold folder). `checkpoint`: model_final_checkpoint (default),
 * model_best, model_latest.
 */
export function findV1ModelFolder(dir: string, opts: { folds?: (number | 'all')[]; checkpoint?: string } = {}): V1ModelFolder {
  const ck = opts.checkpoint ?? 'model_final_checkpoint';
  need(fs.existsSync(dir) && fs.statSync(dir).isDirectory(), dir, 'model folder not found');
  const hasCk = (d: string) => fs.existsSync(path.join(d, `${ck}.model`)) && fs.existsSync(path.join(d, `${ck}.model.pkl`));
  let modelDir = dir;
  let foldDirs: string[];
  if (hasCk(dir)) {
    // a fold folder itself
    modelDir = path.dirname(dir);
    foldDirs = [dir];
  } else if (opts.folds && opts.folds.length) {
    foldDirs = opts.folds.map((f) => path.join(dir, f === 'all' ? 'all' : `fold_${f}`));
    for (const d of foldDirs) need(hasCk(d), d, `no ${ck}.model (+ .model.pkl) in this fold folder`);
  } else {
    foldDirs = fs
      .readdirSync(dir)
      .filter((n) => /^fold_\d+$/.test(n))
      .sort()
      .map((n) => path.join(dir, n))
      .filter(hasCk);
    need(foldDirs.length > 0, dir, `no fold_k folder with ${ck}.model and ${ck}.model.pkl (is this an nnU-Net v1 model folder?)`);
  }
  const base = path.basename(modelDir);
  const m = /^(.+?)__(.+)$/.exec(base);
  const trainer = m ? m[1] : '';
  const plansName = m ? m[2] : '';
  // v1 predict_cases: pp_file = join(model, "postprocessing.json"), model = the <trainer>__<plans> folder; a
  // postprocessing.json inside a fold folder (written by that fold's validation) is not applied
  const ppFile = path.join(modelDir, 'postprocessing.json');
  const postprocessingFile = fs.existsSync(ppFile) ? ppFile : null;
  return {
    modelDir,
    trainer,
    plansName,
    foldPostprocessingFiles: foldDirs.map((d) => path.join(d, 'postprocessing.json')).filter((f) => fs.existsSync(f)),
    folds: foldDirs.map((d) => ({ fold: path.basename(d), dir: d, checkpoint: path.join(d, `${ck}.model`), info: path.join(d, `${ck}.model.pkl`) })),
    postprocessingFile,
  };
}
