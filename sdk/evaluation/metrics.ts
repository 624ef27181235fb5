/**
 * Segmentation metrics as nnU-Net v1's evaluator computes them (S1 nnunet/evaluation/metrics.py).
 *
 * For a label l: test = (prediction == l), reference = (ground truth == l). The confusion counts are voxel counts;
 * `nan_for_nonexisting` (default true) turns the undefined cases into NaN exactly where v1 does:
 *  - Dice, Jaccard: NaN when test AND reference are empty (only one empty gives 0),
 *  - Precision (and False Discovery Rate = 1 - precision): NaN when test is empty,
 *  - Recall (and False Negative Rate = 1 - recall): NaN when reference is empty,
 *  - True Negative Rate / False Positive Rate: NaN when reference is full,
 *  - False Omission Rate / Negative Predictive Value: NaN when test is full.
 * With nan_for_nonexisting false those cases give 0 (and the `1 - x` metrics give 1, as v1).
 */
import type { VoxelArray } from '../io/volume';

export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  size: number;
  testEmpty: boolean;
  testFull: boolean;
  referenceEmpty: boolean;
  referenceFull: boolean;
}

/** v1 `Evaluator.default_metrics`, in the order v1 stores them (`self.metrics.sort()`). */
export const V1_DEFAULT_METRICS = [
  'Accuracy',
  'Dice',
  'False Discovery Rate',
  'False Negative Rate',
  'False Omission Rate',
  'False Positive Rate',
  'Jaccard',
  'Negative Predictive Value',
  'Precision',
  'Recall',
  'Total Positives Reference',
  'Total Positives Test',
  'True Negative Rate',
] as const;

/** Raw confusion counts added after the v1 metrics (nnU-Net v2 reports them under these names). */
export const COUNT_METRICS = ['TP', 'FP', 'FN', 'TN'] as const;

export type MetricName = (typeof V1_DEFAULT_METRICS)[number] | (typeof COUNT_METRICS)[number];
export type MetricValues = Record<string, number>;

type LabelArray = VoxelArray | ArrayLike<number>;

function countsFrom(tp: number, fp: number, fn: number, size: number): ConfusionCounts {
  const tn = size - tp - fp - fn;
  return {
    tp,
    fp,
    tn,
    fn,
    size,
    testEmpty: tp + fp === 0,
    testFull: tp + fp === size,
    referenceEmpty: tp + fn === 0,
    referenceFull: tp + fn === size,
  };
}

/**
 * Confusion counts for several labels in one pass (joint histogram when every value is an integer in [0, 255],
 * otherwise one pass per label).
 */
export function confusionCounts(test: LabelArray, reference: LabelArray, labels: readonly number[]): ConfusionCounts[] {
  if (test.length !== reference.length) {
    throw new Error(`confusionCounts: shape mismatch, test has ${test.length} voxels and reference ${reference.length}`);
  }
  const n = test.length;
  const hist = new Float64Array(256 * 256);
  let small = true;
  for (let i = 0; i < n; i++) {
    const t = test[i];
    const r = reference[i];
    if (t >= 0 && t < 256 && r >= 0 && r < 256 && (t | 0) === t && (r | 0) === r) hist[t * 256 + r]++;
    else {
      small = false;
      break;
    }
  }
  return labels.map((l) => {
    if (small && l >= 0 && l < 256 && Number.isInteger(l)) {
      let tp = 0;
      let testPos = 0;
      let refPos = 0;
      tp = hist[l * 256 + l];
      for (let k = 0; k < 256; k++) {
        testPos += hist[l * 256 + k];
        refPos += hist[k * 256 + l];
      }
      return countsFrom(tp, testPos - tp, refPos - tp, n);
    }
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < n; i++) {
      const t = test[i] === l;
      const r = reference[i] === l;
      if (t && r) tp++;
      else if (t) fp++;
      else if (r) fn++;
    }
    return countsFrom(tp, fp, fn, n);
  });
}

export function dice(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.testEmpty && c.referenceEmpty) return nanForNonexisting ? NaN : 0;
  return (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

export function jaccard(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.testEmpty && c.referenceEmpty) return nanForNonexisting ? NaN : 0;
  return c.tp / (c.tp + c.fp + c.fn);
}

export function precision(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.testEmpty) return nanForNonexisting ? NaN : 0;
  return c.tp / (c.tp + c.fp);
}

export function recall(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.referenceEmpty) return nanForNonexisting ? NaN : 0;
  return c.tp / (c.tp + c.fn);
}

export function specificity(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.referenceFull) return nanForNonexisting ? NaN : 0;
  return c.tn / (c.tn + c.fp);
}

export function accuracy(c: ConfusionCounts): number {
  return (c.tp + c.tn) / (c.tp + c.fp + c.tn + c.fn);
}

export function falseOmissionRate(c: ConfusionCounts, nanForNonexisting = true): number {
  if (c.testFull) return nanForNonexisting ? NaN : 0;
  return c.fn / (c.fn + c.tn);
}

/** All v1 default metrics (sorted names, as v1 stores them), then TP/FP/FN/TN. */
export function computeMetrics(c: ConfusionCounts, nanForNonexisting = true): MetricValues {
  const nan = nanForNonexisting;
  return {
    Accuracy: accuracy(c),
    Dice: dice(c, nan),
    'False Discovery Rate': 1 - precision(c, nan),
    'False Negative Rate': 1 - recall(c, nan),
    'False Omission Rate': falseOmissionRate(c, nan),
    'False Positive Rate': 1 - specificity(c, nan),
    Jaccard: jaccard(c, nan),
    'Negative Predictive Value': 1 - falseOmissionRate(c, nan),
    Precision: precision(c, nan),
    Recall: recall(c, nan),
    'Total Positives Reference': c.tp + c.fn,
    'Total Positives Test': c.tp + c.fp,
    'True Negative Rate': specificity(c, nan),
    TP: c.tp,
    FP: c.fp,
    FN: c.fn,
    TN: c.tn,
  };
}
