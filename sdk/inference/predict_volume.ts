/**
 * One case in memory through a trained configuration, as nnU-Net v1's predict_simple does it
 * (S1 nnunet/inference/predict.py `predict_cases`, GenericPreprocessor.preprocess_test_case,
 * nnUNetTrainer.predict_preprocessed_data_return_seg_and_softmax, segmentation_export.py):
 * crop -> preprocess with the plans -> Gaussian sliding window with mirroring TTA, averaged over the folds' networks ->
 * probabilities back to the raw image's geometry -> argmax -> postprocessing.json.
 *
 * Node-free: predict.ts runs it over folders of files, the web app (web/) in the page. Both use this one code.
 */
import type { Volume } from '../io/volume';
import { cropCase } from '../cropping/cropping';
import type { GenericUNet } from '../network/generic_unet';
import { resolveConfiguration, type PlansJSON } from '../planning/plans';
import { preprocessCase, preprocessSettingsFromPlans, type PreprocessedProperties } from '../preprocessing/preprocessing';
import type { PostprocessingJson } from '../postprocessing/connected_components';
import { cascadeOneHot } from './cascade_one_hot';
import { segmentationFromProbabilities } from './export';
import { predictEnsemble, type ClassProbabilities, type PatchPredictor } from './sliding_window';
import { tfjsPatchPredictor } from './tfjs_predictor';

/** A configuration ready for inference: its plans, networks (one per fold) and postprocessing. */
export interface InferenceModel {
  json: PlansJSON;
  configuration: string;
  /** network patch size, (z, y, x) or (y, x) */
  patch: number[];
  nets: GenericUNet[];
  /** one name per network (fold folders, or fold_k) */
  foldFolders: string[];
  numClasses: number;
  numImageChannels: number;
  postprocessing: PostprocessingJson | null;
  /** loaded by the caller's loader, so disposed by it */
  owned: boolean;
  /**
   * A cascade's previous-stage segmentation enters uncropped, as official v1 prediction does it (cascade_one_hot.ts);
   * default false: cropped with crop_bbox first, as at training.
   */
  v1UncroppedCascadeInput?: boolean;
}

/**
 * Check that networks fit a configuration of the plans and bundle them. `fail` runs before the error is thrown
 * (the caller disposes what it loaded).
 */
export function inferenceModel(
  o: { json: PlansJSON; configuration: string; nets: GenericUNet[]; foldFolders: string[]; postprocessing: PostprocessingJson | null; owned: boolean; v1UncroppedCascadeInput?: boolean },
  fail: () => void = () => undefined,
): InferenceModel {
  const error = (msg: string): never => {
    fail();
    throw new Error(msg);
  };
  const { json, configuration, nets, foldFolders } = o;
  if (nets.length === 0) error(`predict ${configuration}: no networks`);
  const cfg = resolveConfiguration(json, configuration);
  const a = nets[0].architecture;
  for (let i = 1; i < nets.length; i++) {
    const b = nets[i].architecture;
    if (b.numClasses !== a.numClasses || b.numInputChannels !== a.numInputChannels) {
      error(`${foldFolders[i]}: network has ${b.numInputChannels} inputs / ${b.numClasses} classes, ${foldFolders[0]} has ${a.numInputChannels} / ${a.numClasses}`);
    }
  }
  const numImageChannels = cfg.normalization_schemes.length;
  const cascadeExtra = configuration === '3d_cascade_fullres' || cfg.previous_stage ? a.numClasses - 1 : 0;
  if (a.numInputChannels !== numImageChannels + cascadeExtra) {
    error(
      `${foldFolders[0]}: network expects ${a.numInputChannels} input channels, the plans' ${configuration} has ${numImageChannels} image channels` +
        (cascadeExtra ? ` + ${cascadeExtra} one-hot` : ''),
    );
  }
  return { ...o, patch: cfg.patch_size, numClasses: a.numClasses, numImageChannels };
}

export interface PredictVolumeOptions {
  /** mirroring TTA over all spatial axes (default true, as official prediction) */
  mirroring?: boolean;
  /** sliding-window step as a fraction of the patch (v1 default 0.5) */
  stepSize?: number;
  /** (network calls done, total) over every stage and fold; a returned promise is awaited (lets a page repaint) */
  onProgress?: (done: number, total: number) => void | Promise<void>;
  /** cancels between network calls (PredictionCancelled) */
  signal?: AbortSignal;
  /**
   * Runs the networks' tiles (default: tfjsPatchPredictor on this thread, one call at a time). Node's predictCases
   * passes TileWorkers here (tileWorkers option): several calls in flight on several wasm instances.
   */
  tileRunner?: TileRunner;
}

/** Where a model's network calls run: one PatchPredictor per network, and how many calls may be in flight. */
export interface TileRunner {
  predictors(nets: readonly GenericUNet[]): Promise<PatchPredictor[]>;
  concurrency: number;
}

/** Preprocess one case for a configuration as at training (GenericPreprocessor.preprocess_test_case). */
export function preprocessForModel(images: readonly Volume[], model: InferenceModel, id: string) {
  const cropped = cropCase(images, null, id);
  const settings = preprocessSettingsFromPlans(model.json, model.configuration, []);
  // v1 passes the cropped nonzero mask (-1 outside, 0 inside) as seg: use_mask_for_norm reads it
  return preprocessCase({ data: cropped.data, seg: cropped.seg, properties: cropped.properties }, settings, id);
}

async function slidingWindow(
  model: InferenceModel,
  data: Float32Array,
  shape: number[],
  o: PredictVolumeOptions,
  onProgress?: (done: number, total: number) => void | Promise<void>,
): Promise<ClassProbabilities> {
  const dim = model.patch.length;
  return predictEnsemble(
    data,
    shape,
    {
      patchSize: model.patch,
      numClasses: model.numClasses,
      stepSize: o.stepSize ?? 0.5,
      useGaussian: true,
      mirrorAxes: o.mirroring === false ? [] : dim === 3 ? [0, 1, 2] : [0, 1],
      onProgress,
      signal: o.signal,
      concurrency: o.tileRunner?.concurrency ?? 1,
    },
    o.tileRunner ? await o.tileRunner.predictors(model.nets) : model.nets.map((n) => tfjsPatchPredictor((x) => n.predict(x))),
  );
}

/**
 * Class probabilities of one case on the preprocessed grid (and the properties to export them), with the cascade's
 * low-resolution stage first when given.
 */
export async function predictProbabilities(
  images: readonly Volume[],
  id: string,
  model: InferenceModel,
  lowres: InferenceModel | null,
  o: PredictVolumeOptions & {
    /** a cascade's previous-stage segmentation of this case (input geometry), instead of predicting it with `lowres` */
    previousSegmentation?: Volume;
  } = {},
): Promise<{ probs: ClassProbabilities; properties: PreprocessedProperties; preprocess_s: number; predict_s: number }> {
  const t0 = performance.now();
  const pre = preprocessForModel(images, model, id);
  let data = pre.data;
  let shape: number[] = pre.dataShape;
  // progress: the low-res stage reports the first half, the full-res stage the second (their tile counts differ)
  const prev = o.previousSegmentation;
  const stages = lowres && !prev ? 2 : 1;
  const report = (stage: number) => o.onProgress && ((d: number, t: number) => o.onProgress!(stage * t + d, stages * t));
  const lowresSegmentation = async (low: InferenceModel) => {
    const lp = preprocessForModel(images, low, id);
    const lprobs = await slidingWindow(low, lp.data, lp.dataShape, o, report(0));
    // v1 predict_simple: the low-res stage is exported (with its postprocessing) and read back as lowres_segmentations
    return segmentationFromProbabilities(lprobs, lp.properties, { transposeBackward: low.json.transpose_backward, postprocessing: low.postprocessing });
  };
  const lseg = prev ?? (lowres ? await lowresSegmentation(lowres) : null);
  if (lseg) {
    const sp = pre.dataShape.slice(1);
    const bbox = model.v1UncroppedCascadeInput ? null : pre.properties.crop_bbox;
    const oneHot = cascadeOneHot(lseg.data, lseg.shape, bbox, model.json.transpose_forward, sp, model.numClasses);
    const both = new Float32Array(data.length + oneHot.length);
    both.set(data);
    both.set(oneHot, data.length);
    data = both;
    shape = [pre.dataShape[0] + model.numClasses - 1, ...sp];
  }
  const t1 = performance.now();
  const probs = await slidingWindow(model, data, shape, o, report(stages - 1));
  return { probs, properties: pre.properties, preprocess_s: (t1 - t0) / 1000, predict_s: (performance.now() - t1) / 1000 };
}

export interface VolumePrediction {
  /** uint8 label map in the input's geometry, postprocessed as the model's postprocessing.json says */
  segmentation: Volume<Uint8Array>;
  timings: { preprocess_s: number; predict_s: number; export_s: number };
}

/**
 * Predict one case held in memory (one Volume per image channel, (z, y, x)): the segmentation that
 * `predictCases` would write as `<case>.nii.gz`, voxel for voxel.
 */
export async function predictVolume(
  images: readonly Volume[],
  model: InferenceModel,
  o: PredictVolumeOptions & { id?: string; lowres?: InferenceModel | null } = {},
): Promise<VolumePrediction> {
  const id = o.id ?? 'case';
  if (images.length !== model.numImageChannels) {
    throw new Error(`${id}: the model expects ${model.numImageChannels} image channel(s), the input has ${images.length}`);
  }
  const { probs, properties, preprocess_s, predict_s } = await predictProbabilities(images, id, model, o.lowres ?? null, o);
  const te = performance.now();
  const segmentation = segmentationFromProbabilities(probs, properties, {
    transposeBackward: model.json.transpose_backward,
    postprocessing: model.postprocessing,
  });
  return { segmentation, timings: { preprocess_s, predict_s, export_s: (performance.now() - te) / 1000 } };
}
