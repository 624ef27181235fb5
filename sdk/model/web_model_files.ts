/**
 * Web models (web_model.ts) from what is on disk: a configuration trained here (its fold checkpoints' weights files
 * are served as they are) or an official v1 model loaded with `Model.load` (its networks encoded in our weights
 * layout). `nnunet-ts serve` serves them; `serve --export DIR` writes them as static files.
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import type { Dataset } from '../io/dataset';
import { Plans, type PlansJSON } from '../planning/plans';
import { checkpointFile, readCheckpoint, type CheckpointName } from '../checkpoint/checkpoint';
import { findFoldFolders } from '../inference/predict';
import { readPostprocessingJson } from '../postprocessing/determine';
import type { PostprocessingJson } from '../postprocessing/connected_components';
import { checkBlobLength, checkWeightsManifest, encodeWeights, packTensors, type WeightsManifest } from '../network/weights_codec';
import { paletteColors, WEB_MODEL_FORMAT, WEB_MODEL_VERSION, type WebModelManifest } from './web_model';
import type { Model } from './model';
import type { ModelV2 } from './model_v2';
import type { GenericUNet } from '../network/generic_unet';

/** A web model ready to serve: its manifest and the fold blobs by file name. */
export interface ServedModel {
  id: string;
  manifest: WebModelManifest;
  blobs: Map<string, Uint8Array>;
}

type LabelTable = Pick<WebModelManifest, 'labels' | 'colors' | 'channels'>;

/**
 * Label names (value -> name, from dataset.json's name -> value), channel names and colours (dataset.json's optional
 * `colors` {"1": [r,g,b]}, else the palette); labels dataset.json does not name get "background" / "label k".
 */
function labelTable(namesToValues: Record<string, unknown>, channels: Record<string, string>, colors: Record<string, unknown>, numClasses: number): LabelTable {
  const labels: Record<string, string> = {};
  for (const [name, id] of Object.entries(namesToValues)) if (typeof id === 'number') labels[String(id)] = name;
  for (let k = 0; k < numClasses; k++) labels[String(k)] ??= k === 0 ? 'background' : `label ${k}`;
  return { labels, channels: { ...channels }, colors: paletteColors(labels, colors) };
}

/** labelTable of a loaded dataset (v1 or v2 layout); none: default names. */
function datasetLabels(dataset: Dataset | null, numClasses: number): LabelTable {
  if (!dataset) return labelTable({}, {}, {}, numClasses);
  let colors: Record<string, unknown> = {};
  try {
    const raw = JSON.parse(fs.readFileSync(path.join(dataset.dir, 'dataset.json'), 'utf8')) as { colors?: Record<string, unknown> };
    if (raw.colors && typeof raw.colors === 'object') colors = raw.colors;
  } catch {
    // loadDataset read it already; a colour table is optional
  }
  return labelTable(dataset.labels, Object.fromEntries(dataset.channelNames.map((n, i) => [String(i), n])), colors, numClasses);
}

/** The served model: its id (the name, URL-safe) and the manifest with this format's header. */
function served(m: Omit<WebModelManifest, 'format' | 'version'>, blobs: Map<string, Uint8Array>): ServedModel {
  return { id: m.name.replace(/[^\w.-]+/g, '_'), manifest: { format: WEB_MODEL_FORMAT, version: WEB_MODEL_VERSION, ...m }, blobs };
}

/** Fold folder name of an official model's fold ('0' or 'fold_0' -> 'fold_0'). */
function foldName(fold: string | number): string {
  return `fold_${fold}`.replace(/^fold_fold_/, 'fold_');
}

/** A configuration trained here: `modelFolder` holds fold_k/checkpoint_final.json (+ its weights files). */
export async function webModelFromTrained(o: {
  name: string;
  plans: Plans | PlansJSON;
  configuration: string;
  modelFolder: string;
  folds?: (number | 'all')[];
  checkpoint?: CheckpointName;
  dataset?: Dataset | null;
  postprocessing?: boolean;
}): Promise<ServedModel> {
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  const checkpoint = o.checkpoint ?? 'checkpoint_final';
  const foldDirs = findFoldFolders(o.modelFolder, o.folds, checkpoint);
  const blobs = new Map<string, Uint8Array>();
  const folds: WebModelManifest['folds'] = [];
  for (const d of foldDirs) {
    const ck = readCheckpoint(checkpointFile(d, checkpoint));
    const wjson = path.join(d, `${ck.manifest.weights}.json`);
    const weights = JSON.parse(fs.readFileSync(wjson, 'utf8')) as WeightsManifest;
    checkWeightsManifest(weights, wjson);
    const blobName = `${path.basename(d)}.bin`;
    const blob = fs.readFileSync(path.join(d, weights.blob));
    checkBlobLength(weights.tensors, blob.byteLength, path.join(d, weights.blob));
    blobs.set(blobName, new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength));
    folds.push({ name: path.basename(d), weights: { ...weights, blob: blobName } });
  }
  const ppFile = path.join(o.modelFolder, 'postprocessing.json');
  const postprocessing: PostprocessingJson | null = o.postprocessing !== false && fs.existsSync(ppFile) ? readPostprocessingJson(ppFile) : null;
  const numClasses = (folds[0].weights as WeightsManifest).architecture.numClasses;
  return served(
    {
      name: o.name,
      description: `${json.dataset_name ?? 'model'} ${o.configuration}, ${folds.map((f) => f.name).join(' ')} (trained with nnunet-ts)`,
      source: 'nnunet-ts',
      pipeline: 'v1',
      plans: json,
      configuration: o.configuration,
      postprocessing,
      ...datasetLabels(o.dataset ?? null, numClasses),
      folds,
    },
    blobs,
  );
}

/** Networks in memory (one per fold) as a web model: encoded in our weights layout. */
export async function webModelFromNetworks(o: {
  name: string;
  description: string;
  source: 'nnunet-ts' | 'nnunet-v1';
  plans: PlansJSON;
  configuration: string;
  networks: readonly GenericUNet[];
  foldNames: readonly string[];
  postprocessing: PostprocessingJson | null;
  dataset?: Dataset | null;
}): Promise<ServedModel> {
  const blobs = new Map<string, Uint8Array>();
  const folds: WebModelManifest['folds'] = [];
  for (const [i, net] of o.networks.entries()) {
    const name = o.foldNames[i];
    const { manifest, blob } = await encodeWeights(net, `${name}.bin`);
    blobs.set(`${name}.bin`, blob);
    folds.push({ name, weights: manifest });
  }
  return served(
    {
      name: o.name,
      description: o.description,
      source: o.source,
      pipeline: 'v1',
      plans: o.plans,
      configuration: o.configuration,
      postprocessing: o.postprocessing,
      ...datasetLabels(o.dataset ?? null, o.networks[0].architecture.numClasses),
      folds,
    },
    blobs,
  );
}

/** The page predicts one network stage per model: a cascade would need its previous stage there too. */
function refuseCascade(name: string, cascade: boolean): void {
  if (cascade) throw new Error(`${name}: the cascade is not served to the browser yet (it needs both stages); serve its 3d_lowres model or a 3d_fullres one`);
}

/** An official model loaded with Model.load (nnU-Net v1): its networks in our weights layout. */
export async function webModelFromOfficial(model: Model, o: { name: string; dataset?: Dataset | null }): Promise<ServedModel> {
  refuseCascade(o.name, model.previousStage !== null);
  const foldNames = model.folds.map(foldName);
  return webModelFromNetworks({
    name: o.name,
    description: `${model.plans.json.dataset_name ?? 'model'} ${model.configuration}, ${foldNames.join(' ')} (official nnU-Net v1, ${model.trainer})`,
    source: 'nnunet-v1',
    plans: model.plans.json,
    configuration: model.configuration,
    networks: model.networks,
    foldNames,
    postprocessing: model.postprocessing,
    dataset: o.dataset,
  });
}

/**
 * An official nnU-Net v2 model loaded with Model.load (ModelV2): its networks in our channels-last layout, the
 * v2 plans, configuration and mirroring axes; the page predicts with v2_predict.ts, as ModelV2.predict does.
 */
export async function webModelFromV2(model: ModelV2, o: { name: string }): Promise<ServedModel> {
  refuseCascade(o.name, Boolean(model.v2.configuration.previous_stage));
  if (model.v2.labels.regions) throw new Error(`${o.name}: region-based models are not served to the browser yet (the page paints labels, not regions)`);
  const v2 = model.v2;
  const blobs = new Map<string, Uint8Array>();
  const folds: WebModelManifest['folds'] = [];
  for (const [i, net] of v2.networks.entries()) {
    const name = foldName(v2.folder.folds[i].fold);
    const { tensors, blob } = packTensors(v2.architecture.params, await net.getValues());
    blobs.set(`${name}.bin`, blob);
    folds.push({ name, weights: { blob: `${name}.bin`, tensors } });
  }
  const ds = v2.dataset as { labels?: Record<string, unknown>; channel_names?: Record<string, string>; colors?: Record<string, unknown> };
  return served(
    {
      name: o.name,
      description: `${v2.plans.dataset_name ?? 'model'} ${v2.folder.configuration}, ${folds.map((f) => f.name).join(' ')} (official nnU-Net v2, ${v2.trainer}, ${v2.architecture.kind})`,
      source: 'nnunet-v2',
      pipeline: 'v2',
      // the v1-schema fields stay empty for v2: the page reads `v2`
      plans: { dataset_name: v2.plans.dataset_name, plans_name: v2.folder.plansName, configurations: {} } as unknown as PlansJSON,
      configuration: v2.folder.configuration,
      postprocessing: null,
      v2: { plans: v2.plans, configuration: v2.configuration, architecture: v2.architecture, mirrorAxes: [...v2.mirrorAxes], trainer: v2.trainer },
      ...labelTable(ds.labels ?? {}, ds.channel_names ?? {}, ds.colors ?? {}, v2.architecture.numClasses),
      folds,
    },
    blobs,
  );
}

/** The models index the page reads (`models/index.json`). */
export function modelsIndex(models: readonly ServedModel[]): { models: { id: string; name: string; description: string }[] } {
  return { models: models.map((m) => ({ id: m.id, name: m.manifest.name, description: m.manifest.description })) };
}

/** Write served models as static files: `<dir>/models/index.json`, `<dir>/models/<id>/model.json` + blobs. */
export async function writeWebModels(dir: string, models: readonly ServedModel[]): Promise<void> {
  for (const m of models) {
    const d = path.join(dir, 'models', m.id);
    fs.mkdirSync(d, { recursive: true });
    for (const [f, b] of m.blobs) await writeFileAtomic(path.join(d, f), b);
    await writeJsonAtomic(path.join(d, 'model.json'), m.manifest);
  }
  await writeJsonAtomic(path.join(dir, 'models', 'index.json'), modelsIndex(models));
}
