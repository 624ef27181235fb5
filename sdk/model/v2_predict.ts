/**
 * nnU-Net v2 prediction from raw images with an official v2 model folder (issue 22). Followed, from MIC-DKFZ/nnUNet
 * master (nnunetv2 @00f73256):
 *
 * Preprocessing: nnunetv2/preprocessing/preprocessors/default_preprocessor.py `DefaultPreprocessor.run_case_npy`
 *   float32 -> transpose (transpose_forward) -> crop_to_nonzero (nnunetv2/preprocessing/cropping/cropping.py: OR of
 *   channels != 0, binary_fill_holes, bbox; seg = 0 inside / -1 outside the mask at inference) -> target spacing (2d:
 *   [original z spacing, *configuration spacing]) -> compute_new_shape -> **normalize** (`_normalize`, the plans'
 *   normalization_schemes, default_normalization_schemes.py) -> **then resample** (configuration resampling_fn_data
 *   with resampling_fn_data_kwargs; resampling/default_resampling.py `resample_data_or_seg_to_shape`). v1 resamples
 *   first and normalizes after.
 * Inference: nnunetv2/inference/predict_from_raw_data.py `predict_logits_from_preprocessed_data` (every fold's
 *   sliding-window logits, sliding_window_v2.ts, summed in float16 and divided by the number of folds).
 * Export: nnunetv2/inference/export_prediction.py `convert_predicted_logits_to_segmentation_with_correct_shape`:
 *   the float16 **logits** are resampled to shape_after_cropping_and_before_resampling with
 *   resampling_fn_probabilities(_kwargs) (order 1; computed in float64, stored back as float16), then softmax
 *   (LabelManager.apply_inference_nonlin, float32) and argmax; the segmentation is pasted into zeros of
 *   shape_before_cropping at the bbox and transposed back (transpose_backward); probabilities likewise
 *   (label_handling.py `revert_cropping_on_probabilities`: background 1 outside the crop; regions 0). v1 resamples
 *   softmax maps.
 *
 * Cascade (3d_cascade_fullres): the previous stage's segmentation of the case, in the input's geometry (what
 *   `nnUNetv2_predict -c 3d_lowres` writes and `-prev_stage_predictions` reads back), is run_case's `seg`: transposed,
 *   cropped with the image (0 outside the nonzero mask becomes -1, so use_mask_for_norm sees it), resampled with
 *   resampling_fn_seg(_kwargs) (resize_segmentation, order 1) and appended as one-hot foreground channels
 *   (predict_from_raw_data.py preprocessing_iterator_fromfiles: convert_labelmap_to_one_hot).
 *
 * Supported here: resample_data_or_seg_to_shape (the planners' default), normalization ZScoreNormalization,
 * CTNormalization, NoNormalization, RescaleTo01Normalization, RGBTo0_1Normalization; labels and regions as
 * nnunetv2's LabelManager (v2_labels.ts: softmax + argmax, or sigmoid painted in regions_class_order).
 */
import type { ItkDirection, ItkVec3, Shape3, Spacing3, Volume } from '../io/volume';
import { createNonzeroMask, cropToBbox, getBboxFromMask, bboxShape, type BBox3 } from '../cropping/cropping';
import { computeNewShape, decideSeparateZ, resampleChannel, type ImageOrder } from '../preprocessing/resampling';
import { meanStdF32 } from '../preprocessing/normalization';
import { transpose3 } from '../preprocessing/preprocessing';
import { roundToFloat16 } from '../inference/gaussian';
import { predictLogitsSlidingWindowV2 } from '../inference/sliding_window_v2';
import { v2ProbabilitiesAndSegmentation } from './v2_labels';
import { tfjsPatchPredictor } from '../inference/tfjs_predictor';
import { ModelImportError } from './errors';
import type { V2Configuration, V2Model, V2PlansJSON } from './v2';

const f32 = Math.fround;

/** What v2's preprocessing records per case (the `properties` dict), spatial vectors in (z, y, x) of the input. */
export interface V2CaseProperties {
  /** the input's spacing (z, y, x), SimpleITKIO's `spacing` */
  spacing: number[];
  /** after transpose_forward, before cropping */
  shape_before_cropping: Shape3;
  /** in transposed axes, [[lo, hi)] per axis */
  bbox_used_for_cropping: BBox3;
  shape_after_cropping_and_before_resampling: Shape3;
  /** target spacing (transposed axes; 2d: the case's own first spacing) */
  target_spacing: number[];
  /** geometry to write the segmentation with */
  geometry: { shape: Shape3; spacing: Spacing3; origin: ItkVec3; direction: ItkDirection };
}

export interface V2Preprocessed {
  /** (C, Z, Y, X) float32, C order, in transposed axes */
  data: Float32Array;
  shape: [number, number, number, number];
  properties: V2CaseProperties;
}

/** The resampling settings of a configuration (resample_data_or_seg_to_shape kwargs), checked. */
export function v2ResamplingKwargs(cfg: V2Configuration, which: 'data' | 'probabilities' | 'seg', file: string): { order: ImageOrder; forceSeparateZ: boolean | null } {
  const fn = cfg[`resampling_fn_${which}`] ?? 'resample_data_or_seg_to_shape';
  if (fn !== 'resample_data_or_seg_to_shape') {
    throw new ModelImportError(`${file}: resampling_fn_${which} '${String(fn)}' is not supported (resample_data_or_seg_to_shape)`);
  }
  const k = (cfg[`resampling_fn_${which}_kwargs`] ?? {}) as Record<string, unknown>;
  const order = Number(k.order ?? (which === 'data' ? 3 : 1));
  const orders = which === 'seg' ? [0, 1] : [0, 1, 3];
  if (!orders.includes(order)) throw new ModelImportError(`${file}: resampling_fn_${which}_kwargs order ${order} is not supported (${orders.join(', ')})`);
  if (k.order_z !== undefined && Number(k.order_z) !== 0) throw new ModelImportError(`${file}: resampling_fn_${which}_kwargs order_z ${String(k.order_z)} is not supported (0)`);
  if (which !== 'seg' && k.is_seg === true) throw new ModelImportError(`${file}: resampling_fn_${which}_kwargs is_seg true is not supported for ${which}`);
  if (which === 'seg' && k.is_seg === false) throw new ModelImportError(`${file}: resampling_fn_seg_kwargs is_seg false is not supported`);
  const f = k.force_separate_z;
  return { order: order as ImageOrder, forceSeparateZ: f === null || f === undefined ? null : Boolean(f) };
}

export const V2_NORMALIZATIONS = ['ZScoreNormalization', 'CTNormalization', 'NoNormalization', 'RescaleTo01Normalization', 'RGBTo0_1Normalization'] as const;

/**
 * One channel normalized in place as nnunetv2's default_normalization_schemes.py (float32 arithmetic as numpy's:
 * in-place ops with Python-float scalars stay float32). `seg`: 0 inside / -1 outside the nonzero mask.
 */
export function normalizeChannelV2(
  img: Float32Array,
  scheme: string,
  useMask: boolean,
  seg: ArrayLike<number>,
  intensity: Record<string, number> | undefined,
  file: string,
): void {
  const n = img.length;
  switch (scheme) {
    case 'ZScoreNormalization': {
      if (useMask) {
        let cnt = 0;
        for (let i = 0; i < n; i++) if (seg[i] >= 0) cnt++;
        const sel = new Float32Array(cnt);
        for (let i = 0, q = 0; i < n; i++) if (seg[i] >= 0) sel[q++] = img[i];
        const { mean, std } = meanStdF32(sel);
        const div = std > 1e-8 ? std : f32(1e-8); // max(std, 1e-8)
        // image[mask] = (image[mask] - mean) / max(std, 1e-8); outside the mask unchanged (0 there: the mask is != 0)
        for (let i = 0; i < n; i++) if (seg[i] >= 0) img[i] = f32(f32(img[i] - mean) / div);
      } else {
        const { mean, std } = meanStdF32(img);
        const div = std > 1e-8 ? std : f32(1e-8);
        for (let i = 0; i < n; i++) img[i] = f32(f32(img[i] - mean) / div);
      }
      return;
    }
    case 'CTNormalization': {
      if (!intensity) throw new ModelImportError(`${file}: CTNormalization needs foreground_intensity_properties_per_channel`);
      const lb = f32(intensity.percentile_00_5);
      const ub = f32(intensity.percentile_99_5);
      const mean = f32(intensity.mean);
      const sd = f32(Math.max(intensity.std, 1e-8));
      for (let i = 0; i < n; i++) {
        let v = img[i];
        if (v < lb) v = lb;
        else if (v > ub) v = ub;
        img[i] = f32(f32(v - mean) / sd);
      }
      return;
    }
    case 'NoNormalization':
      return;
    case 'RescaleTo01Normalization': {
      let mn = Infinity;
      for (let i = 0; i < n; i++) if (img[i] < mn) mn = img[i];
      let mx = -Infinity;
      for (let i = 0; i < n; i++) {
        img[i] = f32(img[i] - mn);
        if (img[i] > mx) mx = img[i];
      }
      const d = f32(Math.max(mx, 1e-8));
      for (let i = 0; i < n; i++) img[i] = f32(img[i] / d);
      return;
    }
    case 'RGBTo0_1Normalization':
      for (let i = 0; i < n; i++) img[i] = f32(img[i] / 255);
      return;
    default:
      throw new ModelImportError(`${file}: normalization scheme '${scheme}' is not supported (${V2_NORMALIZATIONS.join(', ')})`);
  }
}

/**
 * DefaultPreprocessor.run_case_npy at inference: see the module comment. `previousStage`: a cascade's previous-stage
 * segmentation in the input's geometry (z, y, x); its one-hot foreground labels follow the image channels.
 */
export function preprocessV2(
  images: readonly Volume[],
  model: Pick<V2Model, 'plans' | 'configuration' | 'folder'>,
  id = 'case',
  previousStage?: { segmentation: ArrayLike<number>; foregroundLabels: readonly number[] },
): V2Preprocessed {
  const file = model.folder.plansFile;
  const plans: V2PlansJSON = model.plans;
  const cfg = model.configuration;
  if (images.length === 0) throw new Error(`case ${id}: no image channels`);
  const C = images.length;
  if (cfg.normalization_schemes.length !== C) throw new Error(`case ${id}: ${C} channel(s), the model expects ${cfg.normalization_schemes.length}`);
  const shape = images[0].shape;
  images.forEach((v, i) => {
    if (v.shape.join() !== shape.join()) throw new Error(`case ${id}: channel ${i} has shape ${v.shape.join('x')}, channel 0 has ${shape.join('x')}`);
  });
  const tf = plans.transpose_forward;
  // data.astype(float32).transpose([0, *[i + 1 for i in transpose_forward]])
  const chans = images.map((v) => transpose3(v.data instanceof Float32Array ? v.data : new Float32Array(v.data as ArrayLike<number>), shape, tf));
  const shapeT = tf.map((a) => shape[a]) as Shape3;
  const spacingT = tf.map((a) => images[0].spacing[a]);
  // crop_to_nonzero
  const mask = createNonzeroMask(chans, shapeT);
  const bbox = getBboxFromMask(mask, shapeT);
  const cropped = chans.map((c) => cropToBbox(c, shapeT, bbox, Float32Array));
  const m = cropToBbox(mask, shapeT, bbox);
  // int16: run_case_npy keeps labels above 127
  const seg = new Int16Array(m.length);
  if (previousStage) {
    const n = shape[0] * shape[1] * shape[2];
    if (previousStage.segmentation.length !== n) throw new Error(`case ${id}: the previous stage's segmentation has ${previousStage.segmentation.length} voxels, the image ${n}`);
    const prev = cropToBbox(transpose3(Int16Array.from(previousStage.segmentation), shape, tf), shapeT, bbox);
    for (let i = 0; i < m.length; i++) seg[i] = prev[i] === 0 && !m[i] ? -1 : prev[i];
  } else for (let i = 0; i < m.length; i++) seg[i] = m[i] ? 0 : -1;
  const shapeC = bboxShape(bbox);
  let target = [...cfg.spacing];
  if (target.length < 3) target = [spacingT[0], ...target];
  const newShape = computeNewShape(shapeC, spacingT, target) as Shape3;
  const fg = plans.foreground_intensity_properties_per_channel ?? {};
  cropped.forEach((c, ch) => normalizeChannelV2(c, cfg.normalization_schemes[ch], Boolean(cfg.use_mask_for_norm?.[ch]), seg, fg[String(ch)], file));
  const rk = v2ResamplingKwargs(cfg, 'data', file);
  const dec = decideSeparateZ(spacingT, target, rk.forceSeparateZ);
  const nOut = newShape[0] * newShape[1] * newShape[2];
  const extra = previousStage ? previousStage.foregroundLabels.length : 0;
  const data = new Float32Array((C + extra) * nOut);
  cropped.forEach((c, ch) => {
    const r = resampleChannel(c, shapeC, newShape, { isSeg: false, order: rk.order, doSeparateZ: dec.doSeparateZ, axis: dec.axis }) as Float32Array;
    data.set(r, ch * nOut);
  });
  if (previousStage) {
    const sk = v2ResamplingKwargs(cfg, 'seg', file);
    const ds = decideSeparateZ(spacingT, target, sk.forceSeparateZ);
    const r = resampleChannel(seg, shapeC, newShape, { isSeg: true, order: sk.order, doSeparateZ: ds.doSeparateZ, axis: ds.axis });
    // convert_labelmap_to_one_hot(seg, foreground_labels)
    previousStage.foregroundLabels.forEach((label, k) => {
      const off = (C + k) * nOut;
      for (let i = 0; i < nOut; i++) if (r[i] === label) data[off + i] = 1;
    });
  }
  const g = images[0];
  return {
    data,
    shape: [C + extra, ...newShape],
    properties: {
      spacing: [...g.spacing],
      shape_before_cropping: shapeT,
      bbox_used_for_cropping: bbox,
      shape_after_cropping_and_before_resampling: shapeC,
      target_spacing: target,
      geometry: { shape: [...g.shape] as Shape3, spacing: [...g.spacing] as Spacing3, origin: [...g.origin] as ItkVec3, direction: [...g.direction] as ItkDirection },
    },
  };
}

/** predict_logits_from_preprocessed_data: every fold's v2 sliding-window logits, averaged in float16. */
export async function predictLogitsV2(
  model: V2Model,
  image: Float32Array,
  shape: readonly number[],
  opts: { mirroring?: boolean; stepSize?: number; onProgress?: (done: number, total: number) => void | Promise<void>; signal?: AbortSignal } = {},
): Promise<{ logits: Float32Array; shape: [number, number, number, number] }> {
  const C = model.architecture.numClasses;
  let sum: Float32Array | null = null;
  let outShape: [number, number, number, number] = [C, 0, 0, 0];
  for (const [k, net] of model.networks.entries()) {
    // progress over all folds: fold k's tiles come after the k folds before it
    const onProgress = opts.onProgress && ((d: number, t: number) => opts.onProgress!(k * t + d, model.networks.length * t));
    const r = await predictLogitsSlidingWindowV2(image, shape, {
      patchSize: model.configuration.patch_size,
      numClasses: C,
      predictPatch: tfjsPatchPredictor((x) => net.predict(x)),
      stepSize: opts.stepSize ?? 0.5,
      mirrorAxes: opts.mirroring === false ? [] : model.mirrorAxes,
      onProgress,
      signal: opts.signal,
    });
    outShape = r.shape;
    if (!sum) sum = r.data;
    else for (let i = 0; i < sum.length; i++) sum[i] = roundToFloat16(Math.fround(sum[i] + r.data[i]));
  }
  const logits = sum!;
  if (model.networks.length > 1) for (let i = 0; i < logits.length; i++) logits[i] = roundToFloat16(Math.fround(logits[i] / model.networks.length));
  return { logits, shape: outShape };
}

export interface V2CasePrediction {
  /** uint8 labels in the input's geometry (z, y, x) */
  segmentation: Volume<Uint8Array>;
  /** softmax (float32, (C, z, y, x) of the input), background 1 outside the crop; only when asked */
  probabilities?: Float32Array;
  /** the preprocessed-grid logits (float16 values), for inspection */
  logits: Float32Array;
  logitsShape: [number, number, number, number];
  preprocessed: V2Preprocessed;
  timings: { preprocess_s: number; predict_s: number; export_s: number };
}

/**
 * convert_predicted_logits_to_segmentation_with_correct_shape: logits in the preprocessed grid -> resampled (float16)
 * to the cropped size -> softmax -> argmax (regions: sigmoid, painted) -> un-cropped and transposed back.
 */
export function exportLogitsV2(
  model: Pick<V2Model, 'plans' | 'configuration' | 'folder' | 'labels'>,
  logits: Float32Array,
  logitsShape: readonly number[],
  p: V2CaseProperties,
  probabilities: boolean,
): { segmentation: Volume<Uint8Array>; probabilities?: Float32Array } {
  const C = logitsShape[0];
  const grid = logitsShape.slice(1) as Shape3;
  const target = p.shape_after_cropping_and_before_resampling;
  const tf = model.plans.transpose_forward;
  const spacingT = tf.map((a) => p.spacing[a]);
  const rk = v2ResamplingKwargs(model.configuration, 'probabilities', model.folder.plansFile);
  // current_spacing = the configuration's (2d: with the case's own first spacing); new spacing = the case's, transposed
  const current = model.configuration.spacing.length === 3 ? [...model.configuration.spacing] : [spacingT[0], ...model.configuration.spacing];
  const nT = target[0] * target[1] * target[2];
  let lg = logits;
  if (grid.some((s, i) => s !== target[i])) {
    const dec = decideSeparateZ(current, spacingT, rk.forceSeparateZ);
    const nG = grid[0] * grid[1] * grid[2];
    lg = new Float32Array(C * nT);
    for (let c = 0; c < C; c++) {
      const r = resampleChannel(logits.subarray(c * nG, (c + 1) * nG), grid, target, { isSeg: false, order: rk.order, doSeparateZ: dec.doSeparateZ, axis: dec.axis }) as Float32Array;
      // reshaped_final has the input's dtype (float16)
      for (let i = 0; i < nT; i++) lg[c * nT + i] = roundToFloat16(r[i]);
    }
  }
  // LabelManager: softmax + argmax, or for regions sigmoid + regions_class_order
  const { probabilities: probs, segmentation: seg } = v2ProbabilitiesAndSegmentation(model.labels, lg);
  const full = p.shape_before_cropping;
  const nF = full[0] * full[1] * full[2];
  const bb = p.bbox_used_for_cropping;
  const paste = (src: ArrayLike<number>, dst: Uint8Array | Float32Array, dOff: number, sOff: number) => {
    for (let z = 0; z < target[0]; z++)
      for (let y = 0; y < target[1]; y++) {
        const s = sOff + (z * target[1] + y) * target[2];
        const d = dOff + ((z + bb[0][0]) * full[1] + y + bb[1][0]) * full[2] + bb[2][0];
        for (let x = 0; x < target[2]; x++) dst[d + x] = src[s + x];
      }
  };
  const segFull = new Uint8Array(nF);
  paste(seg, segFull, 0, 0);
  const tb = model.plans.transpose_backward;
  const segOut = transpose3(segFull, full, tb);
  let probOut: Float32Array | undefined;
  if (probabilities) {
    probOut = new Float32Array(C * nF);
    const outShape = tb.map((a) => full[a]);
    const nO = outShape[0] * outShape[1] * outShape[2];
    const one = new Float32Array(nF);
    for (let c = 0; c < C; c++) {
      // revert_cropping_on_probabilities: background 1 outside the crop (labels; a region output has no background)
      one.fill(c === 0 && !model.labels.regions ? 1 : 0);
      paste(probs, one, 0, c * nT);
      probOut.set(transpose3(one, full, tb), c * nO);
    }
  }
  const g = p.geometry;
  const outShape = tb.map((a) => full[a]) as Shape3;
  if (outShape.join() !== g.shape.join()) throw new Error(`exportLogitsV2: reverted shape ${outShape.join('x')} differs from the input's ${g.shape.join('x')}`);
  return {
    segmentation: { data: segOut, shape: [...g.shape] as Shape3, spacing: [...g.spacing] as Spacing3, origin: [...g.origin] as ItkVec3, direction: [...g.direction] as ItkDirection },
    probabilities: probOut,
  };
}

/** One case from raw images to the segmentation in the input's geometry (nnUNetPredictor.predict_single_npy_array). */
export async function predictCaseV2(
  model: V2Model,
  images: readonly Volume[],
  opts: {
    id?: string;
    mirroring?: boolean;
    stepSize?: number;
    probabilities?: boolean;
    onProgress?: (done: number, total: number) => void | Promise<void>;
    signal?: AbortSignal;
    /** a cascade's previous-stage segmentation of the case, in the input's geometry (z, y, x) */
    previousStage?: ArrayLike<number>;
  } = {},
): Promise<V2CasePrediction> {
  const t0 = performance.now();
  if (Boolean(model.configuration.previous_stage) !== Boolean(opts.previousStage)) {
    throw new Error(
      model.configuration.previous_stage
        ? `${model.folder.dir}: a cascade stage needs the ${model.configuration.previous_stage} segmentation of case ${opts.id ?? 'case'}`
        : `${model.folder.dir}: not a cascade stage, it takes no previous-stage segmentation`,
    );
  }
  const pre = preprocessV2(images, model, opts.id, opts.previousStage && { segmentation: opts.previousStage, foregroundLabels: model.labels.foregroundLabels });
  const t1 = performance.now();
  const { logits, shape } = await predictLogitsV2(model, pre.data, pre.shape, opts);
  const t2 = performance.now();
  const ex = exportLogitsV2(model, logits, shape, pre.properties, Boolean(opts.probabilities));
  const t3 = performance.now();
  return {
    segmentation: ex.segmentation,
    probabilities: ex.probabilities,
    logits,
    logitsShape: shape,
    preprocessed: pre,
    timings: { preprocess_s: (t1 - t0) / 1000, predict_s: (t2 - t1) / 1000, export_s: (t3 - t2) / 1000 },
  };
}
