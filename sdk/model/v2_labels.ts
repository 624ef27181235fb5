/**
 * nnunetv2's LabelManager (utilities/label_handling/label_handling.py, read at MIC-DKFZ/nnUNet 02153c66): how
 * dataset.json's labels turn into network outputs, probabilities and a segmentation. Node-free (the web app uses it).
 */
import { argmaxChannelsFirst, softmaxChannelsFirst } from '../inference/sliding_window_v2';
import { ModelImportError } from './errors';

/** dataset.json's label entries (values: a label, or a region as a list of labels) and regions_class_order. */
export interface V2LabelsJSON {
  labels: Record<string, number | number[]>;
  regions_class_order?: number[];
}

function need(cond: unknown, file: string, msg: string): asserts cond {
  if (!cond) throw new ModelImportError(`${file}: ${msg}`);
}

/**
 * What nnunetv2's LabelManager (utilities/label_handling/label_handling.py) derives from dataset.json's labels.
 * Region-based models (a label given as a list of more than one value, e.g. BraTS' whole tumor [1, 2, 3]) have one
 * sigmoid output per foreground region, painted in `regions_class_order`; label models one softmax output per label.
 */
export interface V2Labels {
  /** every label value except the ignore label, sorted */
  allLabels: number[];
  /** allLabels without 0: the cascade's one-hot channels */
  foregroundLabels: number[];
  /** region-based: the foreground regions, one network output each (LabelManager.foreground_regions) */
  regions: (number | number[])[] | null;
  /** region-based: the label painted where each region's probability is > 0.5, in this order */
  regionsClassOrder: number[] | null;
  ignoreLabel: number | null;
  /** network outputs (LabelManager.num_segmentation_heads) */
  numHeads: number;
}

/** LabelManager for dataset.json's labels (and regions_class_order), with its checks as errors naming the file. */
export function v2LabelManager(ds: V2LabelsJSON, file: string): V2Labels {
  need(ds && typeof ds.labels === 'object', file, "dataset.json has no 'labels'");
  need('background' in ds.labels && Number(ds.labels.background) === 0 && !Array.isArray(ds.labels.background), file, "labels must declare 'background': 0");
  const entries = Object.entries(ds.labels).filter(([k]) => k !== 'ignore');
  const ignore = ds.labels.ignore;
  need(ignore === undefined || (typeof ignore === 'number' && Number.isInteger(ignore)), file, `the ignore label must be an integer, got ${JSON.stringify(ignore)}`);
  const all = [...new Set(entries.flatMap(([, v]) => (Array.isArray(v) ? v : [v]).map(Number)))].sort((a, b) => a - b);
  if (ignore !== undefined) need(ignore === Math.max(...all) + 1, file, `the ignore label (${ignore}) must be the highest label value + 1`);
  const hasRegions = entries.some(([, v]) => Array.isArray(v) && v.length > 1);
  let regions: (number | number[])[] | null = null;
  let order: number[] | null = null;
  if (hasRegions) {
    need(Array.isArray(ds.regions_class_order), file, 'a region-based model needs regions_class_order');
    // _get_regions: not the ignore label, not background regions
    const rs = entries
      .map(([, v]) => v)
      .filter((r) => !(Array.isArray(r) ? new Set(r).size === 1 && Number(r[0]) === 0 : Number(r) === 0));
    need(ds.regions_class_order!.length === rs.length, file, `regions_class_order has ${ds.regions_class_order!.length} entries for ${rs.length} regions`);
    // filter_background as nnunetv2 writes it: a one-value list region is dropped too
    regions = rs.filter((r) => !Array.isArray(r) || !(new Set(r).size === 1 && Number(r[0]) !== 0));
    order = ds.regions_class_order!.map(Number);
  }
  const numHeads = regions ? regions.length : all.length;
  if (!regions) need(all.every((v, i) => v === i), file, `labels must be consecutive from 0 (got ${all.join(', ')})`);
  return { allLabels: all, foregroundLabels: all.filter((v) => v !== 0), regions, regionsClassOrder: order, ignoreLabel: ignore ?? null, numHeads };
}

/**
 * LabelManager.apply_inference_nonlin + convert_probabilities_to_segmentation on (C, ...) logits, C order: softmax and
 * argmax for labels; for regions a sigmoid per output and, in regions_class_order, the label where it is > 0.5.
 */
export function v2ProbabilitiesAndSegmentation(labels: V2Labels, logits: Float32Array): { probabilities: Float32Array; segmentation: Uint8Array } {
  const C = labels.numHeads;
  if (logits.length % C !== 0) throw new Error(`logits of ${logits.length} values do not split into ${C} outputs`);
  if (!labels.regions) {
    const probabilities = softmaxChannelsFirst(logits, C);
    return { probabilities, segmentation: argmaxChannelsFirst(probabilities, C) };
  }
  const n = logits.length / C;
  const probabilities = new Float32Array(logits.length);
  // torch.sigmoid in float32
  for (let i = 0; i < logits.length; i++) probabilities[i] = Math.fround(1 / (1 + Math.exp(-logits[i])));
  const segmentation = new Uint8Array(n);
  labels.regionsClassOrder!.forEach((label, c) => {
    for (let i = 0; i < n; i++) if (probabilities[c * n + i] > 0.5) segmentation[i] = label;
  });
  return { probabilities, segmentation };
}
