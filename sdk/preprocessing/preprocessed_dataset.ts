/**
 * The preprocessed dataset on disk and its inspectable handle.
 *
 * Layout (nnU-Net v2 style, numpy-readable): `<nnUNet_preprocessed>/<dataset folder>/<data_identifier>/`
 *   <case>.npy        float32 (C, Z, Y, X)   normalized image channels (transposed, resampled)
 *   <case>_seg.npy    int8    (1, Z, Y, X)   segmentation, -1 outside the nonzero mask
 *   <case>.json       properties (crop bbox, original size/spacing, ITK geometry, sizes after cropping/resampling,
 *                     classes, class_locations, preprocessing_hash)
 *   preprocessing.json  settings, hash and case list of the last completed run
 * Every file is written atomically; the case JSON is written last, so a case counts as done only when its JSON exists
 * with the current `preprocessing_hash` (a hash of the plan fields and fingerprint statistics preprocessing uses).
 * An interrupted run therefore resumes where it stopped, and a changed plan recomputes every case.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync, writeJsonAtomic } from '../io/atomic';
import { readNpy, writeNpy } from '../io/npy';
import { readNifti, readNiftiChannels } from '../io/nifti';
import type { Dataset, ChannelRef } from '../io/dataset';
import type { Volume } from '../io/volume';
import { Plans, resolveConfiguration } from '../planning/plans';
import type { PlansJSON } from '../planning/plans_types';
import { mapInWorkers } from '../util/pool';
import { filesKey } from '../io/files_key';
import type { PlotlyFigure } from '../viz/figure';
import { cropCase } from '../cropping/cropping';
import { preprocessCase, preprocessSettingsFromPlans, PreprocessSettings, PreprocessedProperties } from './preprocessing';
import { toV1Scheme } from './normalization';
import { preprocessedFolder, resolveRoots } from '../paths';

/** Bump when the on-disk format or the numerics change: invalidates every cache. */
export const PREPROCESSING_VERSION = 1;

/** The cache key: preprocessing version + every setting that changes the arrays. */
export function preprocessingHash(s: PreprocessSettings): string {
  const key = JSON.stringify({ v: PREPROCESSING_VERSION, ...s, normalizationSchemes: s.normalizationSchemes.map(toV1Scheme) });
  return crypto.createHash('sha256').update(key).digest('hex').slice(0, 16);
}

export interface PreprocessJob {
  caseId: string;
  channels: ChannelRef[];
  labelFile: string | null;
  dir: string;
  settings: PreprocessSettings;
  hash: string;
  /** io/files_key.ts key of the case's raw files: a rewritten raw file invalidates the stored case */
  inputKey?: string;
}

export interface PreprocessJobResult {
  caseId: string;
  skipped: boolean;
  dataShape: number[];
  seconds: number;
}

export interface StoredProperties extends PreprocessedProperties {
  case_identifier: string;
  preprocessing_hash: string;
  data_shape: number[];
  seg_shape: number[];
  list_of_data_files: string[];
  seg_file: string | null;
  /** key of the raw files this case was made from (io/files_key.ts); absent in older folders */
  input_key?: string;
  /** sha256 of the stored data and seg voxels: the content identity a training run keys on; absent in older folders */
  data_sha256?: string;
}

export function caseFiles(dir: string, id: string): { data: string; seg: string; props: string } {
  return { data: path.join(dir, `${id}.npy`), seg: path.join(dir, `${id}_seg.npy`), props: path.join(dir, `${id}.json`) };
}

/** The stored properties (`<id>.json`) of one preprocessed case; names the folder and file when missing. */
export function readCaseProperties(dir: string, id: string): StoredProperties {
  const f = caseFiles(dir, id).props;
  if (!fs.existsSync(f)) throw new Error(`${dir}: no preprocessed case '${id}' (${f} missing)`);
  return readJsonSync<StoredProperties>(f);
}

/** True when the case is on disk with this hash, made from the same raw files when `inputKey` is given (its JSON is written last). */
export function isCaseDone(dir: string, id: string, hash: string, inputKey?: string): boolean {
  const f = caseFiles(dir, id);
  if (!fs.existsSync(f.props) || !fs.existsSync(f.data) || !fs.existsSync(f.seg)) return false;
  try {
    const p = readJsonSync<StoredProperties>(f.props);
    return p.preprocessing_hash === hash && (inputKey === undefined || p.input_key === inputKey);
  } catch {
    return false;
  }
}

async function loadChannels(channels: ChannelRef[], caseId: string): Promise<Volume[]> {
  const byFile = new Map<string, Volume[]>();
  for (const c of channels) if (!byFile.has(c.file)) byFile.set(c.file, await readNiftiChannels(c.file));
  return channels.map((c) => {
    const vols = byFile.get(c.file) as Volume[];
    const i = c.index ?? 0;
    if (i >= vols.length) throw new Error(`${c.file}: case ${caseId}: channel ${i} requested but the file has ${vols.length}`);
    if (c.index === undefined && vols.length !== 1) throw new Error(`${c.file}: case ${caseId}: expected a 3D image, found ${vols.length} channels`);
    return vols[i];
  });
}

function voxelsSha256(...arrays: (ArrayBufferView | null | undefined)[]): string {
  const h = crypto.createHash('sha256');
  for (const a of arrays) if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/** Worker entry point: read, crop, preprocess and store one case (skips it when already done with this hash). */
export async function preprocessCaseJob(job: PreprocessJob): Promise<PreprocessJobResult> {
  const t0 = Date.now();
  if (isCaseDone(job.dir, job.caseId, job.hash, job.inputKey)) {
    const p = readJsonSync<StoredProperties>(caseFiles(job.dir, job.caseId).props);
    return { caseId: job.caseId, skipped: true, dataShape: p.data_shape, seconds: 0 };
  }
  const images = await loadChannels(job.channels, job.caseId);
  const label = job.labelFile ? await readNifti(job.labelFile) : null;
  const cropped = cropCase(images, label, job.caseId);
  images.length = 0; // release the raw voxels before resampling
  const r = preprocessCase(cropped, job.settings, job.caseId);
  const f = caseFiles(job.dir, job.caseId);
  await writeNpy(f.data, r.data, r.dataShape);
  const segShape = [1, ...r.dataShape.slice(1)];
  await writeNpy(f.seg, r.seg ?? new Int8Array(r.data.length / r.dataShape[0]), segShape);
  const props: StoredProperties = {
    case_identifier: job.caseId,
    ...r.properties,
    preprocessing_hash: job.hash,
    data_shape: r.dataShape,
    seg_shape: segShape,
    list_of_data_files: [...new Set(job.channels.map((c) => c.file))],
    seg_file: job.labelFile,
    ...(job.inputKey ? { input_key: job.inputKey } : {}),
    data_sha256: voxelsSha256(r.data, r.seg),
  };
  await writeJsonAtomic(f.props, props);
  return { caseId: job.caseId, skipped: false, dataShape: r.dataShape, seconds: (Date.now() - t0) / 1000 };
}

export interface PreprocessConfigurationOptions {
  /** worker threads (default: cores available; 1 runs inline) */
  threads?: number;
  /** the nnUNet_preprocessed root (default $nnUNet_preprocessed or ./nnUNet_preprocessed) */
  outDir?: string;
  /** folder name under outDir (default: the raw dataset folder's name) */
  datasetFolder?: string;
  /** only these training cases (default all) */
  caseIds?: string[];
  /** progress label (default 'preprocess <configuration>'); null for none */
  label?: string | null;
}

export interface CaseArrays {
  /** (C, Z, Y, X) float32 */
  data: Float32Array;
  dataShape: number[];
  /** (1, Z, Y, X) int8 */
  seg: Int8Array;
  segShape: number[];
  properties: StoredProperties;
}

/** Plotly figure spec (one definition: sdk/viz/figure.ts). */
export type Figure = PlotlyFigure;

/** Handle to a preprocessed configuration on disk (see the module comment). */
export class Preprocessed {
  constructor(
    readonly dir: string,
    readonly configurationName: string,
    readonly caseIds: string[],
    readonly settings: PreprocessSettings,
    readonly hash: string,
    /** the raw dataset (for plot); optional when reopened from disk */
    readonly dataset: Dataset | null = null,
    /** per case timing of this run */
    readonly results: PreprocessJobResult[] = [],
  ) {}

  /** Reopen a preprocessed folder written by preprocessConfiguration. */
  static open(dir: string, dataset: Dataset | null = null): Preprocessed {
    const meta = readJsonSync<{ configuration: string; case_ids: string[]; settings: PreprocessSettings; preprocessing_hash: string }>(
      path.join(dir, 'preprocessing.json'),
    );
    return new Preprocessed(dir, meta.configuration, meta.case_ids, meta.settings, meta.preprocessing_hash, dataset);
  }

  /** The stored arrays and properties of one case. */
  case(id: string): CaseArrays {
    if (!this.caseIds.includes(id)) throw new Error(`${this.dir}: no preprocessed case '${id}'`);
    const f = caseFiles(this.dir, id);
    const d = readNpy(f.data);
    const s = readNpy(f.seg);
    if (!(d.data instanceof Float32Array)) throw new Error(`${f.data}: expected float32 data, found ${d.dtype}`);
    if (!(s.data instanceof Int8Array)) throw new Error(`${f.seg}: expected int8 segmentation, found ${s.dtype}`);
    return { data: d.data, dataShape: d.shape, seg: s.data, segShape: s.shape, properties: readJsonSync<StoredProperties>(f.props) };
  }

  /** Cases this call computed and reused (the cache at work; not part of summary(), which describes the data). */
  get thisRun(): { computed: number; reused: number } {
    const computed = this.results.filter((r) => !r.skipped).length;
    return { computed, reused: this.results.length - computed };
  }

  summary(): string {
    return [
      `Preprocessed ${this.configurationName}: ${this.caseIds.length} cases in ${this.dir}`,
      `  spacing ${this.settings.spacing.join(' x ')}${this.settings.is2D ? ' (2D: axis 0 kept)' : ''}, ` +
        `normalization ${this.settings.normalizationSchemes.join(', ')}, hash ${this.hash}`,
    ].join('\n');
  }

  toString(): string {
    return this.summary();
  }

  /**
   * Raw and preprocessed axial slices side by side (heatmaps, gray), labels overlaid. `slice` indexes the
   * preprocessed axis 0 (default: the slice with the most foreground); the raw slice is the matching one.
   */
  async plot(id: string, opts: { slice?: number; channel?: number } = {}): Promise<Figure> {
    const c = this.case(id);
    const [C, Z, Y, X] = c.dataShape;
    const ch = opts.channel ?? 0;
    if (ch < 0 || ch >= C) throw new Error(`plot ${id}: channel ${ch} out of range (0..${C - 1})`);
    let k = opts.slice;
    if (k === undefined) {
      let best = -1;
      k = Math.floor(Z / 2);
      for (let z = 0; z < Z; z++) {
        let n = 0;
        for (let i = z * Y * X; i < (z + 1) * Y * X; i++) if (c.seg[i] > 0) n++;
        if (n > best && n > 0) {
          best = n;
          k = z;
        }
      }
    }
    if (k < 0 || k >= Z) throw new Error(`plot ${id}: slice ${k} out of range (0..${Z - 1})`);
    const pre2d = (arr: ArrayLike<number>, off: number) => {
      const rows: number[][] = [];
      for (let y = 0; y < Y; y++) rows.push(Array.from({ length: X }, (_, x) => arr[off + y * X + x]));
      return rows;
    };
    const preImg = pre2d(c.data, ch * Z * Y * X + k * Y * X);
    const preSeg = pre2d(c.seg, k * Y * X).map((r) => r.map((v) => (v > 0 ? v : null)));
    const traces: Record<string, unknown>[] = [];
    const p = c.properties;
    const tf = this.settings.transposeForward;
    const ds = this.dataset;
    let rawTitle = 'raw (dataset not attached)';
    if (ds) {
      const dc = ds.cases.find((x) => x.id === id);
      if (dc) {
        const img = (await dc.loadImage())[ch];
        const lab = dc.labelFile ? await dc.loadLabel() : null;
        // preprocessed axis 0 is raw axis tf[0]; map slice k back through resampling and the crop
        const a0 = tf[0];
        const nCrop = p.size_after_cropping[a0];
        const kr = Math.min(nCrop - 1, Math.max(0, Math.floor((k + 0.5) * (nCrop / Z) - 0.5 + 0.5)));
        const rawIdx = p.crop_bbox[a0][0] + kr;
        const sh = img.shape;
        const strides = [sh[1] * sh[2], sh[2], 1];
        const [u, v] = [tf[1], tf[2]];
        const sl = (arr: ArrayLike<number>, mapper: (x: number) => number | null) => {
          const rows: (number | null)[][] = [];
          for (let i = 0; i < sh[u]; i++) {
            const row: (number | null)[] = [];
            for (let j = 0; j < sh[v]; j++) row.push(mapper(arr[rawIdx * strides[a0] + i * strides[u] + j * strides[v]]));
            rows.push(row);
          }
          return rows;
        };
        traces.push({ type: 'heatmap', z: sl(img.data, (x) => x), colorscale: 'Greys', reversescale: true, showscale: false, xaxis: 'x', yaxis: 'y', name: 'raw' });
        if (lab) traces.push({ type: 'heatmap', z: sl(lab.data, (x) => (x > 0 ? x : null)), colorscale: 'Jet', opacity: 0.4, showscale: false, xaxis: 'x', yaxis: 'y', name: 'raw label' });
        rawTitle = `raw ${id} (axis ${a0} index ${rawIdx}, spacing ${p.original_spacing.map((s) => s.toFixed(2)).join('x')})`;
      }
    }
    traces.push({ type: 'heatmap', z: preImg, colorscale: 'Greys', reversescale: true, showscale: true, xaxis: 'x2', yaxis: 'y2', name: 'preprocessed' });
    traces.push({ type: 'heatmap', z: preSeg, colorscale: 'Jet', opacity: 0.4, showscale: false, xaxis: 'x2', yaxis: 'y2', name: 'label' });
    return {
      data: traces,
      layout: {
        title: { text: `${id}: raw vs ${this.configurationName} preprocessed (slice ${k} of ${Z})` },
        grid: { rows: 1, columns: 2, pattern: 'independent' },
        xaxis: { title: { text: rawTitle }, scaleanchor: 'y' },
        yaxis: { autorange: 'reversed' },
        xaxis2: { title: { text: `preprocessed (spacing ${p.spacing_after_resampling.map((s) => s.toFixed(2)).join('x')})` }, scaleanchor: 'y2' },
        yaxis2: { autorange: 'reversed' },
      },
    };
  }
}

/**
 * Preprocess every training case of `dataset` for one plans configuration, over worker threads, into
 * `<outDir>/<dataset folder>/<data_identifier>/`. Resumes finished cases; a changed plan recomputes.
 * @example
 *   const pre = await preprocessConfiguration(loadDataset(dir), plans, '3d_fullres', { outDir: 'nnUNet_preprocessed' });
 *   await pre.plot(pre.caseIds[0]);
 */
export async function preprocessConfiguration(
  dataset: Dataset,
  plans: Plans | PlansJSON,
  configurationName: string,
  opts: PreprocessConfigurationOptions = {},
): Promise<Preprocessed> {
  const json = plans instanceof Plans ? plans.json : plans;
  const conf = resolveConfiguration(json, configurationName);
  const fg = dataset.declaredLabelIds().filter((l) => l > 0);
  const settings = preprocessSettingsFromPlans(json, configurationName, fg);
  if (settings.normalizationSchemes.length !== dataset.numChannels) {
    throw new Error(
      `preprocess ${configurationName}: plans have ${settings.normalizationSchemes.length} channels, dataset ${dataset.dir} has ${dataset.numChannels}`,
    );
  }
  const hash = preprocessingHash(settings);
  // the same default as Task (sdk/paths.ts): $nnUNet_preprocessed, else <$NNUNET_WORK or ./nnunet_work>/nnUNet_preprocessed
  const root = opts.outDir ?? resolveRoots().preprocessed;
  const dir = preprocessedFolder(root, opts.datasetFolder ?? path.basename(dataset.dir), conf.data_identifier);
  fs.mkdirSync(dir, { recursive: true });
  const cases = opts.caseIds ? opts.caseIds.map((id) => dataset.case(id)) : dataset.cases;
  const jobs: PreprocessJob[] = cases.map((c) => ({
    caseId: c.id,
    channels: c.channels,
    labelFile: c.labelFile ?? null,
    dir,
    settings,
    hash,
    inputKey: filesKey([...c.imageFiles, ...(c.labelFile ? [c.labelFile] : [])]),
  }));
  const results = await mapInWorkers<PreprocessJob, PreprocessJobResult>(__filename, 'preprocessCaseJob', jobs, {
    threads: opts.threads,
    label: opts.label === null ? undefined : opts.label ?? `preprocess ${configurationName}`,
    describe: (j) => `case ${(j as PreprocessJob).caseId}`,
  });
  const caseIds = cases.map((c) => c.id);
  await writeJsonAtomic(path.join(dir, 'preprocessing.json'), {
    preprocessing_version: PREPROCESSING_VERSION,
    configuration: configurationName,
    data_identifier: conf.data_identifier,
    plans_name: json.plans_name,
    preprocessing_hash: hash,
    settings,
    case_ids: caseIds,
  });
  return new Preprocessed(dir, configurationName, caseIds, settings, hash, dataset, results);
}
