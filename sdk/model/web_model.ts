/**
 * A trained configuration as the web app (web/) loads it over HTTP: one `model.json` (plans, configuration,
 * postprocessing, label names and colours, one weights manifest per fold) and one float32 blob per fold, the same
 * `.bin` layout as our checkpoints' weights. `nnunet-ts serve` writes it from a model trained here or from an
 * imported official v1 model (web_model_files.ts); the page turns it into an InferenceModel and predicts with
 * predict_volume.ts, the code Node uses. Node-free.
 */
import type { PlansJSON } from '../planning/plans';
import { resolveConfiguration } from '../planning/plans';
import type { PostprocessingJson } from '../postprocessing/connected_components';
import { inferenceModel, type InferenceModel } from '../inference/predict_volume';
import type { GenericUNet } from '../network/generic_unet';
import { decodeWeights, networkFromWeights, type WeightsManifest } from '../network/weights_codec';

export const WEB_MODEL_FORMAT = 'nnunet-ts-web-model';
export const WEB_MODEL_VERSION = 1;

/** RGB 0-255 */
export type Rgb = [number, number, number];

export interface WebModelManifest {
  format: typeof WEB_MODEL_FORMAT;
  version: number;
  name: string;
  /** one line for the model picker, e.g. "Task004_Hippocampus 2d, folds 0 1 (nnunet-ts)" */
  description: string;
  /** who trained it: 'nnunet-ts' or an official format it was imported from */
  source: 'nnunet-ts' | 'nnunet-v1';
  /** the plans (at least this configuration) */
  plans: PlansJSON;
  configuration: string;
  postprocessing: PostprocessingJson | null;
  /** label value -> name ("0": "background"), from dataset.json when the model has one */
  labels: Record<string, string>;
  /** label value -> colour (dataset.json `colors` when given, else a fixed palette) */
  colors: Record<string, Rgb>;
  /** image channel index -> modality name ("0": "MRI"), from dataset.json */
  channels: Record<string, string>;
  /** one network per fold, averaged as nnU-Net's predict does; `weights.blob` is the fold's blob file next to model.json */
  folds: { name: string; weights: WeightsManifest }[];
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
  resolveConfiguration(m.plans, m.configuration);
}

/**
 * Build the networks of a web model. `fetchBlob(file)` returns a fold's blob (the page fetches it next to
 * model.json). The networks are disposed again if one fold fails.
 */
export async function loadWebModel(m: WebModelManifest, fetchBlob: (file: string) => Promise<Uint8Array>, name = m.name): Promise<InferenceModel> {
  checkWebModel(m, name);
  const nets: GenericUNet[] = [];
  const dispose = () => nets.forEach((n) => n.dispose());
  try {
    for (const f of m.folds) {
      const bytes = await fetchBlob(f.weights.blob);
      nets.push(networkFromWeights(f.weights, decodeWeights(f.weights, bytes, `${name} ${f.name}`, `${name}/${f.weights.blob}`), `${name} ${f.name}`));
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
