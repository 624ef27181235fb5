/**
 * From predicted class probabilities (preprocessed grid) to the files nnU-Net v1 writes
 * (S1 nnunet/inference/segmentation_export.py `save_segmentation_nifti_from_softmax`, nnUNetTrainer.validate,
 * inference/predict.py, evaluation/model_selection/ensemble.py `merge`):
 *   transpose back (transpose_backward) -> resample each class to size_after_cropping (order 1, order 0 along the
 *   low-res axis on the separate-z path; decision from original_spacing, then spacing_after_resampling) ->
 *   optionally save these probabilities (v1: float16 .npz, key softmax, shape = size_after_cropping, NOT pasted into
 *   the uncropped image) -> argmax -> paste into the original size at crop_bbox -> postprocessing (if given) ->
 *   uint8 NIfTI with the raw image's ITK spacing/origin/direction.
 *
 * The geometry steps live in sdk/preprocessing/export.ts and sdk/preprocessing/resampling.ts (one resampler for
 * the whole SDK); this module adds the probability files, configuration ensembling and postprocessing.
 * This module is Node-free (the browser build uses it); export_files.ts writes the files. Our probability files: `<case>.npy` (float16, (C, Z, Y, X) at size_after_cropping, un-transposed) and
 * `<case>.json` (the export properties), the counterpart of v1's `<case>.npz` + `<case>.pkl`.
 */
import type { Shape3, Volume } from '../io/volume';
import { labelVolume, revertProbabilities, revertSegmentation } from '../preprocessing/export';
import type { ExportProperties } from '../preprocessing/export';
import { decideSeparateZ, resampleChannel } from '../preprocessing/resampling';
import { transpose3 } from '../preprocessing/preprocessing';
import { applyPostprocessing, Postprocessing, PostprocessingJson } from '../postprocessing/connected_components';
import { argmaxClasses, ClassProbabilities } from './sliding_window';

export type { ExportProperties };

export interface ExportPredictionOptions {
  /** Plans' transpose_backward (default identity). */
  transposeBackward?: readonly number[];
  /** v1 segmentation_export_params.force_separate_z (default null: decide from the spacings). */
  forceSeparateZ?: boolean | null;
  /** Largest-component postprocessing applied to the final label map (v1 predict: the model's postprocessing.json). */
  postprocessing?: PostprocessingJson | Postprocessing | null;
}

export function checkProbabilities(probs: ClassProbabilities, what: string): void {
  const [C, Z, Y, X] = probs.shape;
  if (probs.shape.length !== 4 || probs.data.length !== C * Z * Y * X) {
    throw new Error(`${what}: probabilities of shape [${probs.shape}] hold ${probs.data.length} values`);
  }
}

/** Voxel volume in mm^3 of the written image (v1 load_remove_save: prod(img.GetSpacing())). */
function voxelSpacing(p: ExportProperties): number[] {
  return [...p.itk_spacing];
}

function maybePostprocess(seg: Uint8Array, p: ExportProperties, pp: ExportPredictionOptions['postprocessing']): Uint8Array {
  if (!pp) return seg;
  return applyPostprocessing(seg, p.original_size_of_raw_data, pp, voxelSpacing(p));
}

/**
 * Transpose back and resample every class to size_after_cropping (what v1 saves for ensembling).
 * Returns the input itself when nothing changes.
 */
export function probabilitiesToCroppedGeometry(
  probs: ClassProbabilities,
  p: ExportProperties,
  opts: Pick<ExportPredictionOptions, 'transposeBackward' | 'forceSeparateZ'> = {},
): ClassProbabilities {
  checkProbabilities(probs, 'probabilitiesToCroppedGeometry');
  const tb = opts.transposeBackward ?? [0, 1, 2];
  const [C, ...sp] = probs.shape;
  const shapeB = tb.map((a) => sp[a]) as Shape3;
  const target = [...p.size_after_cropping] as Shape3;
  const identity = tb.every((a, i) => a === i);
  const needsResample = shapeB.some((s, i) => s !== target[i]);
  if (identity && !needsResample) return probs;
  const d = decideSeparateZ(p.original_spacing, p.spacing_after_resampling, opts.forceSeparateZ ?? null);
  const nIn = sp[0] * sp[1] * sp[2];
  const nOut = target[0] * target[1] * target[2];
  const out = new Float32Array(C * nOut);
  for (let c = 0; c < C; c++) {
    const ch = probs.data.subarray(c * nIn, (c + 1) * nIn);
    const back = identity ? ch : transpose3(ch, sp, tb);
    const r = needsResample
      ? (resampleChannel(back, shapeB, target, { isSeg: false, order: 1, orderZ: 0, doSeparateZ: d.doSeparateZ, axis: d.axis }) as Float32Array)
      : back;
    out.set(r, c * nOut);
  }
  return { data: out, shape: [C, ...target] };
}

/**
 * Label map of the original image from probabilities in the preprocessed grid (v1
 * save_segmentation_nifti_from_softmax without writing), postprocessed if requested.
 */
export function segmentationFromProbabilities(
  probs: ClassProbabilities,
  p: ExportProperties,
  opts: ExportPredictionOptions = {},
): Volume<Uint8Array> {
  checkProbabilities(probs, 'segmentationFromProbabilities');
  const [C, ...sp] = probs.shape;
  const n = sp[0] * sp[1] * sp[2];
  const channels = Array.from({ length: C }, (_, c) => probs.data.subarray(c * n, (c + 1) * n));
  const r = revertProbabilities(channels, sp, p, opts.transposeBackward ?? [0, 1, 2], {
    order: 1,
    forceSeparateZ: opts.forceSeparateZ ?? null,
  });
  return labelVolume(maybePostprocess(r.data, p, opts.postprocessing), p);
}

/**
 * Probabilities already at size_after_cropping (e.g. averaged probability files) -> label map of the original
 * image: argmax, paste at crop_bbox, postprocess.
 */
export function segmentationFromCroppedProbabilities(
  probs: ClassProbabilities,
  p: ExportProperties,
  opts: Pick<ExportPredictionOptions, 'postprocessing'> = {},
): Volume<Uint8Array> {
  checkProbabilities(probs, 'segmentationFromCroppedProbabilities');
  const sp = probs.shape.slice(1);
  if (sp.some((s, i) => s !== p.size_after_cropping[i])) {
    throw new Error(`probabilities of shape [${sp}] are not at size_after_cropping [${p.size_after_cropping}]`);
  }
  const arg = argmaxClasses(probs);
  const r = revertSegmentation(arg, sp, p, [0, 1, 2], { order: 0 });
  return labelVolume(maybePostprocess(r.data, p, opts.postprocessing), p);
}
