/**
 * nnU-Net v1 `determine_postprocessing` and `load_postprocessing` (S1 nnunet/postprocessing/connected_components.py):
 * the decision on validation cases, and the postprocessing.json files. The components themselves:
 * connected_components.ts.
 */
import { aggregateScoresLazy, EvaluationResults, readPythonJsonSync, writePythonJson } from '../evaluation/evaluator';
import type { LabelArray } from '../evaluation/evaluator';
import { VALIDATION_FOLDER } from '../paths';
import { removeAllButLargestComponent, RemoveResult, PostprocessingJson, Postprocessing, postprocessingFromJson, formatMinValidObjectSizes } from './connected_components';

export function readPostprocessingJson(file: string): PostprocessingJson {
  const pp = readPythonJsonSync<PostprocessingJson>(file);
  if (!pp || !Array.isArray(pp.for_which_classes)) {
    throw new Error(`${file}: not a postprocessing.json (expected a for_which_classes list)`);
  }
  return pp;
}

export async function writePostprocessingJson(file: string, pp: PostprocessingJson): Promise<void> {
  await writePythonJson(file, pp);
}

/** One validation case for the postprocessing decision; loaded on demand (several passes read it again). */
export interface PostprocessingCase {
  name: string;
  load(): Promise<{ prediction: Uint8Array; reference: LabelArray; shape: readonly number[]; spacing?: readonly number[] }>;
}

export function inMemoryCase(
  name: string,
  prediction: Uint8Array,
  reference: LabelArray,
  shape: readonly number[],
  spacing: readonly number[] = [1, 1, 1],
): PostprocessingCase {
  return { name, load: async () => ({ prediction, reference, shape, spacing }) };
}

export interface DeterminePostprocessingOptions {
  /** Foreground classes (v1: the labels != 0 of the raw summary.json). */
  classes: readonly number[];
  /** v1 default 0: accept only if the mean Dice improves by more than this. */
  diceThreshold?: number;
  /** v1 default false: with true, only objects smaller than the smallest kept largest object are removed. */
  advancedPostprocessing?: boolean;
  /** Raw evaluation (summary.json results) if already computed; otherwise evaluated here. */
  rawResults?: EvaluationResults;
  validationRaw?: string;
  validationFinal?: string;
  /** Receives every case's final (postprocessed) segmentation, e.g. to write validation_final / cv_niftis_postprocessed. */
  onFinal?: (name: string, seg: Uint8Array) => Promise<void> | void;
}

export interface DeterminePostprocessingResult {
  postprocessing: PostprocessingJson;
  raw: EvaluationResults;
  /** Evaluation of the final postprocessed predictions (v1 writes it as <final>/summary.json). */
  final: EvaluationResults;
}

function volumeOf(spacing: readonly number[] | undefined): number {
  return (spacing ?? [1, 1, 1]).reduce((a, b) => a * b, 1);
}

function aggregateSizes(results: RemoveResult[]): Record<string, number> {
  const minKept: Record<string, number> = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.keptSize)) {
      if (v === null) continue;
      minKept[k] = minKept[k] === undefined ? v : Math.min(minKept[k], v);
    }
  }
  return minKept;
}

/**
 * v1 `determine_postprocessing` over pooled validation cases (the caller passes all 5 folds' cases for the
 * consolidated decision). Step 1: all foreground classes as one region; accepted iff at least one class' mean
 * Dice improves by more than diceThreshold and none gets worse. Step 2 (only with more than one class): each class
 * separately, starting from step 1's output if accepted; class c accepted iff its mean Dice improves by more than
 * diceThreshold.
 */
export async function determinePostprocessing(
  cases: readonly PostprocessingCase[],
  opts: DeterminePostprocessingOptions,
): Promise<DeterminePostprocessingResult> {
  const classes = [...opts.classes];
  if (classes.length === 0 || classes.includes(0)) {
    throw new Error(`determinePostprocessing: classes must be the foreground labels, got [${classes}]`);
  }
  const thr = opts.diceThreshold ?? 0;
  const advanced = opts.advancedPostprocessing ?? false;
  const fgRegion = [...classes];

  // Memory: one case at a time. Every pass reloads the raw prediction and recomputes what it starts from
  // (step 2 re-applies step 1 when step 1 was accepted) instead of keeping postprocessed copies of all cases.
  const n = cases.length;
  const evalPass = (
    transform: (i: number, seg: Uint8Array, shape: readonly number[], vpv: number) => void | Promise<void>,
  ) =>
    aggregateScoresLazy(
      n,
      async (i) => {
        const d = await cases[i].load();
        const seg = d.prediction.slice();
        await transform(i, seg, d.shape, volumeOf(d.spacing));
        return { test: seg, reference: d.reference, testName: cases[i].name, referenceName: cases[i].name };
      },
      classes,
    );
  const sizePass = async (transform: (seg: Uint8Array, shape: readonly number[], vpv: number) => RemoveResult) => {
    const sizes: RemoveResult[] = [];
    for (const c of cases) {
      const d = await c.load();
      sizes.push(transform(d.prediction.slice(), d.shape, volumeOf(d.spacing)));
    }
    return aggregateSizes(sizes);
  };

  const raw = opts.rawResults ?? (await evalPass(() => undefined));

  const pp: PostprocessingJson = {
    dc_per_class_raw: {},
    dc_per_class_pp_all: {},
    dc_per_class_pp_per_class: {},
    for_which_classes: [],
    min_valid_object_sizes: 'None',
    num_samples: raw.all.length,
  };
  const minValid: Record<string, number> = {};

  // Step 1: all foreground classes as one region.
  const minKept = advanced
    ? await sizePass((seg, shape, vpv) => removeAllButLargestComponent(seg, shape, [fgRegion], vpv))
    : null;
  const step1 = (seg: Uint8Array, shape: readonly number[], vpv: number) =>
    removeAllButLargestComponent(seg, shape, [fgRegion], vpv, minKept);
  const allRes = await evalPass((_i, seg, shape, vpv) => {
    step1(seg, shape, vpv);
  });
  for (const c of classes) {
    pp.dc_per_class_raw[String(c)] = raw.mean[String(c)].Dice;
    pp.dc_per_class_pp_all[String(c)] = allRes.mean[String(c)].Dice;
  }
  let doFg = false;
  const improved = classes.some((c) => pp.dc_per_class_pp_all[String(c)] > pp.dc_per_class_raw[String(c)] + thr);
  if (improved) {
    const worse = classes.some((c) => pp.dc_per_class_pp_all[String(c)] < pp.dc_per_class_raw[String(c)]);
    if (!worse) {
      pp.for_which_classes.push([...classes]);
      if (minKept) Object.assign(minValid, minKept);
      doFg = true;
    }
  }

  // Step 2: each class separately, starting from step 1's output if it was accepted.
  if (classes.length > 1) {
    const source = (seg: Uint8Array, shape: readonly number[], vpv: number) => {
      if (doFg) step1(seg, shape, vpv);
    };
    const minKeptPer = advanced
      ? await sizePass((seg, shape, vpv) => {
          source(seg, shape, vpv);
          return removeAllButLargestComponent(seg, shape, classes, vpv);
        })
      : null;
    const perRes = await evalPass((_i, seg, shape, vpv) => {
      source(seg, shape, vpv);
      removeAllButLargestComponent(seg, shape, classes, vpv, minKeptPer);
    });
    const oldRes = doFg ? allRes.mean : raw.mean;
    for (const c of classes) {
      const before = oldRes[String(c)].Dice;
      const after = perRes.mean[String(c)].Dice;
      pp.dc_per_class_pp_per_class[String(c)] = after;
      if (after > before + thr) {
        pp.for_which_classes.push(c);
        if (minKeptPer) minValid[String(c)] = minKeptPer[String(c)];
      }
    }
  }

  pp.min_valid_object_sizes = advanced ? formatMinValidObjectSizes(minValid) : 'None';
  pp.validation_raw = opts.validationRaw ?? VALIDATION_FOLDER;
  pp.validation_final = opts.validationFinal ?? 'validation_final';

  // Apply the decision to the raw predictions (v1 applies it to validation_raw, not to the step outputs).
  const decision = postprocessingFromJson(pp);
  const final = await evalPass(async (i, seg, shape, vpv) => {
    removeAllButLargestComponent(seg, shape, decision.forWhichClasses, vpv, decision.minValidObjectSizes);
    if (opts.onFinal) await opts.onFinal(cases[i].name, seg);
  });
  return { postprocessing: pp, raw, final };
}
