/**
 * A trained configuration as the web app (web/) loads it over HTTP: one `model.json` (plans, configuration,
 * postprocessing, label names and colours, one weights manifest per fold) and one float32 blob per fold, the same
 * `.bin` layout as our checkpoints' weights. `nnunet-ts serve` writes it from a model trained here, an imported
 * official v1 model or an official v2 one (web_model_files.ts); the page builds the networks and predicts with the
 * code Node uses: predict_volume.ts (v1 pipeline) or v2_predict.ts (nnU-Net v2's). Node-free.
 */
import type { PlansJSON } from '../planning/plans';
import { resolveConfiguration } from '../planning/plans';
import type { PostprocessingJson } from '../postprocessing/connected_components';
import { inferenceModel, type InferenceModel } from '../inference/predict_volume';
import type { GenericUNet } from '../network/generic_unet';
import { checkTensorList, decodeWeights, networkFromWeights, unpackTensors, type TensorEntry, type WeightsManifest } from '../network/weights_codec';
import { buildDynamicArchitecture, DynamicUNet, type DynamicUNetArchitecture } from '../network/dynamic_unet';
import type { Volume } from '../io/volume';
import { predictVolume, type PredictVolumeOptions, type VolumePrediction } from '../inference/predict_volume';
import { predictCaseV2 } from './v2_predict';
import { v2LabelManager } from './v2_labels';
import type { V2Configuration, V2Model, V2PlansJSON } from './v2';

export const WEB_MODEL_FORMAT = 'nnunet-ts-web-model';
export const WEB_MODEL_VERSION = 1;

/** RGB 0-255 */
export type Rgb = [number, number, number];

/** The v2 pipeline's part of a web model (an official nnU-Net v2 model: PlainConvUNet or ResidualEncoderUNet). */
export interface WebModelV2 {
  plans: V2PlansJSON;
  /** the configuration, resolved (inherits_from applied) */
  configuration: V2Configuration;
  architecture: DynamicUNetArchitecture;
  /** the checkpoint's inference_allowed_mirroring_axes */
  mirrorAxes: number[];
  trainer: string;
}

/** A fold's weights of a v2 network: our layout (channels-last float32), tensors in the architecture's order. */
export interface WebWeightsV2 {
  blob: string;
  tensors: TensorEntry[];
}

export interface WebModelManifest {
  format: typeof WEB_MODEL_FORMAT;
  version: number;
  name: string;
  /** one line for the model picker, e.g. "Task004_Hippocampus 2d, folds 0 1 (nnunet-ts)" */
  description: string;
  /** who trained it: 'nnunet-ts' or an official format it was imported from */
  source: 'nnunet-ts' | 'nnunet-v1' | 'nnunet-v2';
  /** 'v1': nnU-Net v1's prediction (predict_volume.ts); 'v2': nnUNetv2_predict's (v2_predict.ts, the `v2` entry) */
  pipeline: 'v1' | 'v2';
  /** the plans in nnunet-ts's schema (v1 pipeline; for v2 models the v2 plans are in `v2`) */
  plans: PlansJSON;
  configuration: string;
  postprocessing: PostprocessingJson | null;
  v2?: WebModelV2;
  /** label value -> name ("0": "background"), from dataset.json when the model has one */
  labels: Record<string, string>;
  /** label value -> colour (dataset.json `colors` when given, else a fixed palette) */
  colors: Record<string, Rgb>;
  /** image channel index -> modality name ("0": "MRI"), from dataset.json */
  channels: Record<string, string>;
  /** one network per fold, averaged as nnU-Net's predict does; `weights.blob` is the fold's blob file next to model.json */
  folds: { name: string; weights: WeightsManifest | WebWeightsV2 }[];
}

/** Label colours when dataset.json gives none (niivue-like, distinct on grey MRI/CT). */
export const LABEL_PALETTE: readonly Rgb[] = [
  [0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255], [170, 110, 40],
];

export function paletteColors(labels: Record<string, string>, given: Record<string, unknown> = {}): Record<string, Rgb> {
  const out: Record<string, Rgb> = {};
  for (const k of Object.keys(labels)) {
    const g = given[k];
    const ok = Array.isArray(g) && g.length === 3 && g.every((v) => Number.isInteger(v) && v >= 0 && v <= 255);
    out[k] = ok ? ([...(g as number[])] as Rgb) : LABEL_PALETTE[Number(k) % LABEL_PALETTE.length];
  }
  return out;
}

/** Validate a manifest (`name`: where it came from, for the errors). */
export function checkWebModel(m: WebModelManifest, name: string): void {
  if (!m || m.format !== WEB_MODEL_FORMAT) throw new Error(`${name}: not an nnunet-ts web model (format ${JSON.stringify(m && (m as { format?: unknown }).format)})`);
  if (m.version !== WEB_MODEL_VERSION) throw new Error(`${name}: web model version ${m.version}, this build reads ${WEB_MODEL_VERSION}`);
  if (!Array.isArray(m.folds) || m.folds.length === 0) throw new Error(`${name}: no folds`);
  if (m.pipeline === 'v2') {
    if (!m.v2) throw new Error(`${name}: a v2 model without its 'v2' entry`);
  } else if (m.pipeline === 'v1') resolveConfiguration(m.plans, m.configuration);
  else throw new Error(`${name}: unknown pipeline ${JSON.stringify((m as { pipeline?: unknown }).pipeline)}`);
}

/** A loaded web model: the v1 pipeline's InferenceModel or a v2 model (networks, plans, mirroring axes). */
export type LoadedWebModel = { pipeline: 'v1'; model: InferenceModel; numImageChannels: number } | { pipeline: 'v2'; model: V2Model; numImageChannels: number };


/** Load a web model of either pipeline (see loadWebModel for the v1 one). */
export async function loadAnyWebModel(m: WebModelManifest, fetchBlob: (file: string) => Promise<Uint8Array>, name = m.name): Promise<LoadedWebModel> {
  if (m?.pipeline === 'v1') {
    const model = await loadWebModel(m, fetchBlob, name); // checks the manifest
    return { pipeline: 'v1', model, numImageChannels: model.numImageChannels };
  }
  checkWebModel(m, name);
  const v2 = m.v2!;
  const arch = buildDynamicArchitecture(v2.architecture);
  if (JSON.stringify(arch.params) !== JSON.stringify(v2.architecture.params)) throw new Error(`${name}: the stored v2 architecture is inconsistent with its own settings`);
  const nets: DynamicUNet[] = [];
  try {
    for (const f of m.folds) {
      const w = f.weights as WebWeightsV2;
      checkTensorList(arch.params, w.tensors, `${name} ${f.name}`);
      nets.push(new DynamicUNet(arch, unpackTensors(w.tensors, await fetchBlob(w.blob), `${name}/${w.blob}`)));
    }
  } catch (e) {
    nets.forEach((n) => n.dispose());
    throw e;
  }
  const dataset = { channel_names: m.channels, labels: Object.fromEntries(Object.entries(m.labels).map(([k, v]) => [v, Number(k)])) } as V2Model['dataset'];
  const model: V2Model = {
    // only the plans file's name is read (in error messages): the page has model.json instead of a folder
    folder: { dir: name, trainer: v2.trainer, plansName: v2.plans.plans_name ?? 'nnUNetPlans', configuration: m.configuration, plansFile: `${name}/model.json`, datasetFile: `${name}/model.json`, fingerprintFile: null, folds: m.folds.map((f) => ({ fold: f.name, checkpoint: `${name}/${(f.weights as WebWeightsV2).blob}` })) },
    plans: v2.plans,
    dataset,
    labels: v2LabelManager(dataset, `${name}/model.json`),
    configuration: v2.configuration,
    architecture: arch,
    networks: nets,
    trainer: v2.trainer,
    mirrorAxes: [...v2.mirrorAxes],
  };
  return { pipeline: 'v2', model, numImageChannels: arch.numInputChannels };
}

/** Predict one case (one Volume per channel) with a loaded web model, by its own pipeline. */
export async function predictWebModel(images: readonly Volume[], m: LoadedWebModel, o: PredictVolumeOptions & { id?: string } = {}): Promise<VolumePrediction> {
  if (m.pipeline === 'v1') return predictVolume(images, m.model, o);
  const id = o.id ?? 'case';
  if (images.length !== m.numImageChannels) throw new Error(`${id}: the model expects ${m.numImageChannels} image channel(s), the input has ${images.length}`);
  const r = await predictCaseV2(m.model, images, { id, mirroring: o.mirroring, stepSize: o.stepSize, onProgress: o.onProgress, signal: o.signal });
  return { segmentation: r.segmentation, timings: r.timings };
}

export function disposeWebModel(m: LoadedWebModel | null): void {
  if (!m) return;
  if (m.pipeline === 'v1') m.model.nets.forEach((n) => n.dispose());
  else m.model.networks.forEach((n) => n.dispose());
}

/**
 * Build the networks of a web model. `fetchBlob(file)` returns a fold's blob (the page fetches it next to
 * model.json). The networks are disposed again if one fold fails.
 */
export async function loadWebModel(m: WebModelManifest, fetchBlob: (file: string) => Promise<Uint8Array>, name = m.name): Promise<InferenceModel> {
  checkWebModel(m, name);
  if (m.pipeline !== 'v1') throw new Error(`${name}: a ${m.pipeline} model (loadAnyWebModel loads it)`);
  const nets: GenericUNet[] = [];
  const dispose = () => nets.forEach((n) => n.dispose());
  try {
    for (const f of m.folds) {
      const w = f.weights as WeightsManifest;
      const bytes = await fetchBlob(w.blob);
      nets.push(networkFromWeights(w, decodeWeights(w, bytes, `${name} ${f.name}`, `${name}/${w.blob}`), `${name} ${f.name}`));
    }
  } catch (e) {
    dispose();
    throw e;
  }
  return inferenceModel(
    { json: m.plans, configuration: m.configuration, nets, foldFolders: m.folds.map((f) => f.name), postprocessing: m.postprocessing, owned: true },
    dispose,
  );
}

/** Volume per label in ml (voxel count x voxel volume in mm^3 / 1000); spacing (z, y, x) in mm. */
export function labelVolumesMl(seg: ArrayLike<number>, spacing: readonly number[], labels: Record<string, string>): { label: number; name: string; voxels: number; ml: number }[] {
  const counts = new Map<number, number>();
  for (let i = 0; i < seg.length; i++) if (seg[i] !== 0) counts.set(seg[i], (counts.get(seg[i]) ?? 0) + 1);
  const vox = spacing.reduce((a, b) => a * b, 1);
  const keys = new Set([...Object.keys(labels).map(Number).filter((k) => k !== 0), ...counts.keys()]);
  return [...keys]
    .sort((a, b) => a - b)
    .map((label) => ({ label, name: labels[String(label)] ?? `label ${label}`, voxels: counts.get(label) ?? 0, ml: ((counts.get(label) ?? 0) * vox) / 1000 }));
}
