/**
 * Dataset fingerprint, as nnU-Net v1 computes it (ImageCropper + DatasetAnalyzer, nnunet/preprocessing/cropping.py and
 * nnunet/experiment_planning/DatasetAnalyzer.py), persisted as dataset_fingerprint.json with v2's field names.
 *
 * Per case (a pure function of one case, run over worker threads by computeFingerprint): crop to the non-zero box,
 * sizes, spacing, size reduction, label values, and every 10th foreground voxel (label > 0 after cropping, C order)
 * per channel. Dataset level: the same 7 statistics over the concatenated samples (v1 collects them only when a
 * modality is 'CT'/'ct'; we always compute them for foreground_intensity_properties_per_channel).
 */
import * as aq from 'arquero';
import * as fs from 'fs';
import { readJsonSync, writeJsonAtomic, writeJsonAtomicSync } from '../io/atomic';
import type { Dataset } from '../io/dataset';
import { readNiftiChannels } from '../io/nifti';
import type { Volume } from '../io/volume';
import { median as medianOf, percentileSorted, prod } from '../util/numpy_compat';
import type { PlotlyFigure } from '../viz/figure';
import type { IntensityProperties } from './fingerprint_types';
import { cropCase } from '../cropping/cropping';
import { RandomState } from '../util/random';
import type { CaseFingerprint, DatasetFingerprintJSON, V1ChannelIntensityProperties, V1IntensityStats } from './fingerprint_types';

export * from './fingerprint_types';

/** DatasetAnalyzer._get_voxels_in_foreground: `modality[mask][::10]`. */
export const FOREGROUND_SAMPLE_STEP = 10;

/**
 * DatasetAnalyzer._compute_stats on float32 samples. numpy returns float32 for median/mean/std/min/max of a float32
 * array (rounded here with Math.fround) and float64 for the linear-interpolation percentiles. NaN when empty.
 */
export function computeIntensityStats(samples: ArrayLike<number>): V1IntensityStats {
  const n = samples.length;
  if (n === 0) {
    return { median: NaN, mean: NaN, sd: NaN, mn: NaN, mx: NaN, percentile_99_5: NaN, percentile_00_5: NaN };
  }
  const s = Float64Array.from(samples as ArrayLike<number>);
  s.sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (s[i] - mean) * (s[i] - mean);
  const m = n >> 1;
  const med = n % 2 === 1 ? s[m] : Math.fround((s[m - 1] + s[m]) / 2);
  return {
    median: Math.fround(med),
    mean: Math.fround(mean),
    sd: Math.fround(Math.sqrt(ss / n)),
    mn: s[0],
    mx: s[n - 1],
    percentile_99_5: percentileSorted(s, 99.5),
    percentile_00_5: percentileSorted(s, 0.5),
  };
}

/** v1 statistic names -> v2 foreground_intensity_properties_per_channel names. */
export function toV2IntensityProperties(s: V1IntensityStats): IntensityProperties {
  return {
    max: s.mx,
    mean: s.mean,
    median: s.median,
    min: s.mn,
    percentile_00_5: s.percentile_00_5,
    percentile_99_5: s.percentile_99_5,
    std: s.sd,
  };
}

/** v2 DatasetFingerprintExtractor: 10e7 foreground voxels in total, spread evenly over the cases. */
export const V2_NUM_FOREGROUND_VOXELS_FOR_INTENSITYSTATS = 10e7;
/** v2 collect_foreground_intensities seed (a fresh RandomState per case). */
export const V2_INTENSITY_SEED = 1234;

/** v2 samples per case: int(10e7 // num_cases). */
export function v2SamplesPerCase(numCases: number): number {
  return Math.floor(V2_NUM_FOREGROUND_VOXELS_FOR_INTENSITYSTATS / numCases);
}

/**
 * The v2 sample of one channel, stored compactly: `rs.choice(foreground_pixels, n, replace=True)` is
 * foreground_pixels[randint(0, num_fg, n)], kept as the foreground values (C order) and how often each was drawn.
 */
export interface V2ChannelSample {
  values: Float32Array;
  counts: Uint32Array;
}

/** Result of one case: its fingerprint plus the foreground samples (transferred, not kept in the JSON). */
export interface CaseFingerprintResult {
  case: CaseFingerprint;
  /** per channel, every 10th foreground voxel in C order (float32) */
  foreground_samples: Float32Array[];
  /** per channel, the v2 random sample (when requested) */
  v2_samples?: V2ChannelSample[];
}

/**
 * v2 collect_foreground_intensities: one RandomState(1234) per case, channels drawn in order, each
 * `choice(fg, n, replace=True)` = randint(0, num_fg, n) (legacy masked rejection on 32-bit draws).
 */
export function sampleForegroundV2(channels: readonly Float32Array[], seg: Float32Array, numSamples: number): V2ChannelSample[] {
  const fgIdx: number[] = [];
  for (let i = 0; i < seg.length; i++) if (seg[i] > 0) fgIdx.push(i);
  const rs = new RandomState(V2_INTENSITY_SEED);
  return channels.map((ch) => {
    const values = Float32Array.from(fgIdx, (i) => ch[i]);
    const counts = new Uint32Array(values.length);
    const max = values.length - 1;
    if (max === 0) counts[0] = numSamples; // numpy draws nothing when the range is a single value
    else if (max > 0) {
      // rs.randint(0, n) inlined (same masked rejection as RandomState.interval), hoisting the mask
      let mask = max;
      mask |= mask >>> 1;
      mask |= mask >>> 2;
      mask |= mask >>> 4;
      mask |= mask >>> 8;
      mask |= mask >>> 16;
      for (let k = 0; k < numSamples; k++) {
        let v: number;
        do v = rs.nextUint32() & mask;
        while (v > max);
        counts[v]++;
      }
    }
    return { values, counts };
  });
}

/**
 * numpy statistics (v2 names) of a sample given as (value, count) pairs: mean, std (ddof 0), min, max and the
 * linear-interpolation percentiles 0.5 / 50 / 99.5 over the expanded sample.
 */
export function weightedIntensityProperties(parts: readonly V2ChannelSample[]): IntensityProperties {
  let total = 0;
  let m = 0;
  for (const p of parts) for (let i = 0; i < p.values.length; i++) if (p.counts[i]) m++;
  const vals = new Float64Array(m);
  const cnts = new Float64Array(m);
  let k = 0;
  for (const p of parts) {
    for (let i = 0; i < p.values.length; i++) {
      if (p.counts[i]) {
        vals[k] = p.values[i];
        cnts[k++] = p.counts[i];
        total += p.counts[i];
      }
    }
  }
  if (total === 0) return { max: NaN, mean: NaN, median: NaN, min: NaN, percentile_00_5: NaN, percentile_99_5: NaN, std: NaN };
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => vals[a] - vals[b]);
  const sv = Float64Array.from(order, (i) => vals[i]);
  const sc = Float64Array.from(order, (i) => cnts[i]);
  let sum = 0;
  for (let i = 0; i < m; i++) sum += sv[i] * sc[i];
  const mean = sum / total;
  let ss = 0;
  for (let i = 0; i < m; i++) ss += sc[i] * (sv[i] - mean) * (sv[i] - mean);
  // value at rank r of the expanded sorted sample
  const cum = new Float64Array(m);
  let c = 0;
  for (let i = 0; i < m; i++) cum[i] = c += sc[i];
  const at = (r: number) => {
    let lo = 0;
    let hi = m - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return sv[lo];
  };
  const pct = (q: number) => {
    const idx = ((total - 1) * q) / 100;
    const lo = Math.floor(idx);
    const t = idx - lo;
    const a = at(lo);
    const b = at(Math.min(lo + 1, total - 1));
    const d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
  };
  return {
    max: sv[m - 1],
    mean: Math.fround(mean),
    median: pct(50),
    min: sv[0],
    percentile_00_5: pct(0.5),
    percentile_99_5: pct(99.5),
    std: Math.fround(Math.sqrt(ss / total)),
  };
}

/** Fingerprint of one loaded case (pure: volumes in, plain data out). */
export function fingerprintCaseFromVolumes(
  caseId: string,
  images: readonly Volume[],
  label: Volume | null,
  v2SamplesPerCase?: number,
): CaseFingerprintResult {
  const cropped = cropCase(images, label, caseId);
  const p = cropped.properties;
  const seg = cropped.seg;
  let fg = 0;
  for (let i = 0; i < seg.length; i++) if (seg[i] > 0) fg++;
  const samples = cropped.data.map((ch) => {
    const out = new Float32Array(Math.ceil(fg / FOREGROUND_SAMPLE_STEP));
    let k = 0;
    let o = 0;
    for (let i = 0; i < seg.length; i++) {
      if (seg[i] > 0) {
        if (k % FOREGROUND_SAMPLE_STEP === 0) out[o++] = ch[i];
        k++;
      }
    }
    return out;
  });
  return {
    case: {
      case_identifier: caseId,
      original_size_of_raw_data: [...p.original_size_of_raw_data],
      original_spacing: [...p.original_spacing],
      itk_origin: p.itk_origin,
      itk_spacing: p.itk_spacing,
      itk_direction: p.itk_direction,
      crop_bbox: p.crop_bbox.map((b) => [...b]),
      size_after_cropping: [...p.size_after_cropping],
      classes: p.classes,
      size_reduction: prod(p.size_after_cropping) / prod(p.original_size_of_raw_data),
      num_foreground_voxels: fg,
      intensity_stats: samples.map((s) => computeIntensityStats(s)),
    },
    foreground_samples: samples,
    ...(v2SamplesPerCase !== undefined ? { v2_samples: sampleForegroundV2(cropped.data, seg, v2SamplesPerCase) } : {}),
  };
}

/** Worker input: one case as file references (so it can cross a worker boundary). */
export interface FingerprintCaseInput {
  caseId: string;
  /** one entry per channel: a 3D file, or volume `index` of a 4D file */
  channels: { file: string; index?: number }[];
  labelFile?: string;
  /** draw the v2 random intensity sample of this size (v2SamplesPerCase(numCases)) */
  v2SamplesPerCase?: number;
}

/** Load one case from its files and fingerprint it (the function mapInWorkers runs). */
export async function fingerprintCaseFromFiles(input: FingerprintCaseInput): Promise<CaseFingerprintResult> {
  const byFile = new Map<string, Volume[]>();
  for (const c of input.channels) if (!byFile.has(c.file)) byFile.set(c.file, await readNiftiChannels(c.file));
  const images = input.channels.map((c) => {
    const vols = byFile.get(c.file)!;
    if (c.index === undefined) {
      if (vols.length !== 1) throw new Error(`${c.file}: case ${input.caseId}: expected a 3D image, found ${vols.length} channels`);
      return vols[0];
    }
    if (c.index >= vols.length) throw new Error(`${c.file}: case ${input.caseId}: channel ${c.index} requested, the 4D image has ${vols.length}`);
    return vols[c.index];
  });
  let label: Volume | null = null;
  if (input.labelFile) {
    const l = await readNiftiChannels(input.labelFile);
    if (l.length !== 1) throw new Error(`${input.labelFile}: case ${input.caseId}: the label must be a 3D image, found ${l.length} volumes`);
    label = l[0];
  }
  try {
    return fingerprintCaseFromVolumes(input.caseId, images, label, input.v2SamplesPerCase);
  } catch (e) {
    const files = [...input.channels.map((c) => c.file), ...(input.labelFile ? [input.labelFile] : [])].join(', ');
    throw new Error(`fingerprint of case ${input.caseId} (${files}): ${(e as Error).message}`);
  }
}

export interface FingerprintMeta {
  datasetName: string;
  /** channel index -> name (dataset.json modality / channel_names) */
  modalities: Record<string, string>;
  /** foreground label values (v1: dataset.json labels > 0) */
  allClasses: number[];
}

/** Histogram of foreground samples for plotting (kept in the JSON, small). */
export interface IntensityHistogram {
  bin_edges: number[];
  counts: number[];
}

const HIST_BINS = 50;

function histogram(samples: Float32Array[]): IntensityHistogram {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples) for (let i = 0; i < s.length; i++) {
    if (s[i] < lo) lo = s[i];
    if (s[i] > hi) hi = s[i];
  }
  if (!Number.isFinite(lo)) return { bin_edges: [], counts: [] };
  if (hi === lo) hi = lo + 1;
  const w = (hi - lo) / HIST_BINS;
  const counts = new Array<number>(HIST_BINS).fill(0);
  for (const s of samples) for (let i = 0; i < s.length; i++) counts[Math.min(HIST_BINS - 1, Math.floor((s[i] - lo) / w))]++;
  return { bin_edges: Array.from({ length: HIST_BINS + 1 }, (_, i) => lo + i * w), counts };
}

export type FingerprintDocument = DatasetFingerprintJSON & {
  /**
   * v2's own statistics (random sample of 10e7 / n foreground voxels per case, RandomState(1234) per case), used by
   * the nnUNetPlans preset so v2 CTNormalization gets the official numbers.
   */
  v2_foreground_intensity_properties_per_channel?: Record<string, IntensityProperties>;
  /** per channel, histogram of the foreground samples (for .plot()) */
  foreground_intensity_histogram_per_channel?: Record<string, IntensityHistogram>;
};

/** Combine per-case results (in case order) into the dataset fingerprint. */
export function assembleFingerprint(results: CaseFingerprintResult[], meta: FingerprintMeta): Fingerprint {
  if (results.length === 0) throw new Error(`fingerprint of ${meta.datasetName}: the dataset has no training cases`);
  const keys = Object.keys(meta.modalities).sort((a, b) => Number(a) - Number(b));
  const nCh = keys.length;
  results.forEach((r) => {
    if (r.foreground_samples.length !== nCh) {
      throw new Error(`fingerprint: case ${r.case.case_identifier} has ${r.foreground_samples.length} channels, dataset.json lists ${nCh}`);
    }
  });
  const cases = results.map((r) => r.case);
  const isCT = Object.values(meta.modalities).some((m) => m === 'CT' || m === 'ct');
  const fgProps: Record<string, IntensityProperties> = {};
  const v2Props: Record<string, IntensityProperties> = {};
  const haveV2 = results.every((r) => r.v2_samples !== undefined);
  const v1Props: Record<string, V1ChannelIntensityProperties> = {};
  const hist: Record<string, IntensityHistogram> = {};
  keys.forEach((k, c) => {
    const parts = results.map((r) => r.foreground_samples[c]);
    const total = parts.reduce((a, p) => a + p.length, 0);
    const all = new Float32Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    const stats = computeIntensityStats(all);
    fgProps[k] = toV2IntensityProperties(stats);
    const local: Record<string, V1IntensityStats> = {};
    for (const cs of cases) local[cs.case_identifier] = cs.intensity_stats[c];
    v1Props[k] = { local_props: local, ...stats };
    hist[k] = histogram(parts);
    if (haveV2) v2Props[k] = weightedIntensityProperties(results.map((r) => r.v2_samples![c]));
  });
  const sizeReductions: Record<string, number> = {};
  for (const c of cases) sizeReductions[c.case_identifier] = c.size_reduction;
  const doc: FingerprintDocument = {
    fingerprint_version: 1,
    dataset_name: meta.datasetName,
    spacings: cases.map((c) => [...c.original_spacing]),
    shapes_after_crop: cases.map((c) => [...c.size_after_cropping]),
    median_relative_size_after_cropping: medianOf(cases.map((c) => c.size_reduction)),
    foreground_intensity_properties_per_channel: fgProps,
    case_identifiers: cases.map((c) => c.case_identifier),
    modalities: Object.fromEntries(keys.map((k) => [k, meta.modalities[k]])),
    all_classes: [...meta.allClasses].sort((a, b) => a - b),
    size_reductions: sizeReductions,
    intensityproperties: isCT ? v1Props : null,
    cases,
    foreground_intensity_histogram_per_channel: hist,
    ...(haveV2 ? { v2_foreground_intensity_properties_per_channel: v2Props } : {}),
  };
  return new Fingerprint(doc);
}

export interface ComputeFingerprintOptions {
  /** worker threads (default: the pool's default; 1 runs inline) */
  threads?: number;
  /** progress label; default 'fingerprint' */
  label?: string;
  /** also draw v2's random intensity sample (default true; costs 10e7 random draws in total) */
  v2Intensities?: boolean;
}

/** Fingerprint inputs for every training case of a dataset (sorted by case id, as nnU-Net lists them). */
export function fingerprintInputs(dataset: Dataset, opts: { v2Intensities?: boolean } = {}): FingerprintCaseInput[] {
  const n = dataset.cases.length;
  return dataset.cases.map((c) => ({
    caseId: c.id,
    channels: c.channels.map((ch) => (ch.index === undefined ? { file: ch.file } : { file: ch.file, index: ch.index })),
    labelFile: c.labelFile,
    ...(opts.v2Intensities === false || n === 0 ? {} : { v2SamplesPerCase: v2SamplesPerCase(n) }),
  }));
}

export function fingerprintMeta(dataset: Dataset): FingerprintMeta {
  return {
    datasetName: dataset.name,
    modalities: Object.fromEntries(dataset.channelNames.map((n, i) => [String(i), n])),
    allClasses: dataset.declaredLabelIds().filter((i) => i > 0),
  };
}

/**
 * Fingerprint a whole dataset, one case per worker task (sdk/util/pool.ts mapInWorkers).
 * @example
 *   const fp = await computeFingerprint(loadDataset('nnUNet_raw/Task06_Lung'));
 *   fp.table();  fp.plot();
 */
export async function computeFingerprint(dataset: Dataset, opts: ComputeFingerprintOptions = {}): Promise<Fingerprint> {
  const inputs = fingerprintInputs(dataset, { v2Intensities: opts.v2Intensities });
  const missing = inputs.find((i) => !i.labelFile);
  if (missing) throw new Error(`${dataset.dir}: training case ${missing.caseId} has no label file; the fingerprint needs labels`);
  let results: CaseFingerprintResult[];
  if (opts.threads === 1) {
    results = [];
    for (const i of inputs) results.push(await fingerprintCaseFromFiles(i));
  } else {
    const { mapInWorkers } = await import('../util/pool');
    results = await mapInWorkers<FingerprintCaseInput, CaseFingerprintResult>(__filename, 'fingerprintCaseFromFiles', inputs, {
      threads: opts.threads,
      label: opts.label ?? 'fingerprint',
      describe: (inp) => (inp as FingerprintCaseInput).caseId,
    });
  }
  return assembleFingerprint(results, fingerprintMeta(dataset));
}

/** The dataset fingerprint with notebook helpers. */
export class Fingerprint {
  readonly json: FingerprintDocument;

  constructor(json: FingerprintDocument) {
    this.json = json;
  }

  get numCases(): number {
    return this.json.case_identifiers.length;
  }

  toJSON(): FingerprintDocument {
    return structuredClone(this.json);
  }

  /** One row per case: shape, spacing, crop reduction, foreground voxels. */
  table(): aq.ColumnTable {
    const cs = this.json.cases;
    const fmt = (v: number[], d?: number) => v.map((x) => (d === undefined ? String(x) : x.toFixed(d))).join(' x ');
    return aq.table({
      case: cs.map((c) => c.case_identifier),
      shape: cs.map((c) => fmt(c.original_size_of_raw_data)),
      shape_after_crop: cs.map((c) => fmt(c.size_after_cropping)),
      spacing: cs.map((c) => fmt(c.original_spacing, 4)),
      crop_reduction: cs.map((c) => c.size_reduction),
      foreground_voxels: cs.map((c) => c.num_foreground_voxels),
      classes: cs.map((c) => c.classes.join(',')),
    });
  }

  /** Plotly specs: spacing and shape distributions per axis, foreground intensity histogram per channel. */
  plot(): PlotlyFigure[] {
    const axes = ['z', 'y', 'x'];
    const spacing: PlotlyFigure = {
      data: axes.map((a, i) => ({ type: 'box', name: `spacing ${a}`, y: this.json.spacings.map((s) => s[i]), boxpoints: 'all' })),
      layout: { title: { text: `${this.json.dataset_name}: voxel spacing (mm)` }, yaxis: { title: { text: 'mm' } } },
    };
    const shape: PlotlyFigure = {
      data: axes.map((a, i) => ({ type: 'box', name: `size ${a}`, y: this.json.shapes_after_crop.map((s) => s[i]), boxpoints: 'all' })),
      layout: { title: { text: `${this.json.dataset_name}: image size after cropping (voxels)` }, yaxis: { title: { text: 'voxels' } } },
    };
    const hists = this.json.foreground_intensity_histogram_per_channel ?? {};
    const intensity: PlotlyFigure = {
      data: Object.entries(hists).map(([k, h]) => ({
        type: 'bar',
        name: `channel ${k} (${this.json.modalities[k] ?? '?'})`,
        x: h.counts.map((_, i) => (h.bin_edges[i] + h.bin_edges[i + 1]) / 2),
        y: h.counts,
      })),
      layout: {
        title: { text: `${this.json.dataset_name}: foreground intensities (every 10th foreground voxel)` },
        xaxis: { title: { text: 'intensity' } },
        yaxis: { title: { text: 'count' } },
        barmode: 'overlay',
      },
    };
    return [spacing, shape, intensity];
  }
}

function checkFingerprintJSON(j: unknown, file: string): FingerprintDocument {
  const d = j as FingerprintDocument;
  const need: (keyof DatasetFingerprintJSON)[] = ['spacings', 'shapes_after_crop', 'modalities', 'all_classes', 'size_reductions', 'case_identifiers'];
  for (const k of need) if (!d || d[k] === undefined) throw new Error(`${file}: not a dataset_fingerprint.json of nnunet-ts (missing '${k}')`);
  if (d.spacings.length !== d.shapes_after_crop.length || d.spacings.length !== d.case_identifiers.length) {
    throw new Error(`${file}: spacings, shapes_after_crop and case_identifiers differ in length`);
  }
  return d;
}

export async function saveFingerprint(fp: Fingerprint | FingerprintDocument, file: string): Promise<void> {
  await writeJsonAtomic(file, fp instanceof Fingerprint ? fp.toJSON() : fp);
}

export function saveFingerprintSync(fp: Fingerprint | FingerprintDocument, file: string): void {
  writeJsonAtomicSync(file, fp instanceof Fingerprint ? fp.toJSON() : fp);
}

export function loadFingerprint(file: string): Fingerprint {
  if (!fs.existsSync(file)) throw new Error(`loadFingerprint: ${file} does not exist`);
  return new Fingerprint(checkFingerprintJSON(readJsonSync(file), file));
}
