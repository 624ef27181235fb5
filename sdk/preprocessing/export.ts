/**
 * The inverse path used at export (S1 nnunet/inference/segmentation_export.py): a segmentation or softmax in the
 * preprocessed grid goes back to the original image: transpose back (transpose_backward), resample to
 * size_after_cropping, paste into the uncropped original size at crop_bbox, write with the raw ITK geometry.
 *
 * - save_segmentation_nifti: labels resampled with resize_segmentation (order 1 default, separate-z with order 0
 *   along the low-res axis). The separate-z decision reads `original_spacing` and then `spacing_after_resampling`
 *   (the latter in transposed order: v1 quirk B.13, reproduced).
 * - save_segmentation_nifti_from_softmax: each class channel resampled as an image with order 1 (order 0 along z),
 *   then argmax.
 * Labels < 0 (the -1 "outside the nonzero mask" marker of preprocessed segmentations) are written as background 0.
 */
import type { Shape3, Volume, Spacing3, ItkVec3, ItkDirection } from '../io/volume';
import { decideSeparateZ, resampleChannel, resizeSegmentation, NumericArray } from './resampling';
import { transpose3 } from './preprocessing';
import type { PreprocessedProperties } from './preprocessing';

/** The properties export needs (a subset of PreprocessedProperties). */
export type ExportProperties = Pick<
  PreprocessedProperties,
  'original_size_of_raw_data' | 'original_spacing' | 'crop_bbox' | 'size_after_cropping' | 'spacing_after_resampling' | 'itk_origin' | 'itk_spacing' | 'itk_direction'
>;

export interface ExportOptions {
  /** resampling order for labels (save_segmentation_nifti default 1) or probabilities (1) */
  order?: 0 | 1;
  forceSeparateZ?: boolean | null;
}

function pasteIntoOriginal(seg: ArrayLike<number>, shape: readonly number[], p: ExportProperties): Uint8Array {
  const orig = p.original_size_of_raw_data;
  const out = new Uint8Array(orig[0] * orig[1] * orig[2]);
  const bb = p.crop_bbox;
  // S1: bbox[c][1] = min(bbox[c][0] + seg.shape[c], original size[c])
  const hi = [0, 1, 2].map((c) => Math.min(bb[c][0] + shape[c], orig[c]));
  for (let z = bb[0][0]; z < hi[0]; z++) {
    for (let y = bb[1][0]; y < hi[1]; y++) {
      let s = ((z - bb[0][0]) * shape[1] + (y - bb[1][0])) * shape[2];
      let o = (z * orig[1] + y) * orig[2] + bb[2][0];
      for (let x = bb[2][0]; x < hi[2]; x++, s++, o++) {
        const v = seg[s];
        out[o] = v > 0 ? v : 0;
      }
    }
  }
  return out;
}

function separateZForExport(p: ExportProperties, force: boolean | null | undefined) {
  // decideSeparateZ(original, target) checks the original spacing first, then the second argument
  return decideSeparateZ(p.original_spacing, p.spacing_after_resampling, force ?? null);
}

/**
 * A segmentation in the preprocessed (transposed, resampled) grid -> uint8 label map of the original raw image
 * (z, y, x), as save_segmentation_nifti.
 */
export function revertSegmentation(
  seg: NumericArray,
  segShape: readonly number[],
  p: ExportProperties,
  transposeBackward: readonly number[],
  opts: ExportOptions = {},
): { data: Uint8Array; shape: Shape3 } {
  const order = opts.order ?? 1;
  const back = transpose3(seg, segShape, transposeBackward);
  const shape = transposeBackward.map((a) => segShape[a]) as Shape3;
  const target = p.size_after_cropping as Shape3;
  let res: NumericArray = back;
  if (shape.some((s, i) => s !== target[i])) {
    if (order === 0) res = resizeSegmentation(back, shape, target, 0);
    else {
      const d = separateZForExport(p, opts.forceSeparateZ);
      res = resampleChannel(back, shape, target, { isSeg: true, order: 1, doSeparateZ: d.doSeparateZ, axis: d.axis }) as NumericArray;
    }
  }
  return { data: pasteIntoOriginal(res, target, p), shape: [...p.original_size_of_raw_data] as Shape3 };
}

/**
 * Class probabilities (one float32 array per class) in the preprocessed grid -> uint8 argmax label map of the
 * original raw image, as save_segmentation_nifti_from_softmax (order 1, order 0 along the low-res axis).
 */
export function revertProbabilities(
  probs: readonly Float32Array[],
  shape: readonly number[],
  p: ExportProperties,
  transposeBackward: readonly number[],
  opts: ExportOptions = {},
): { data: Uint8Array; shape: Shape3 } {
  const order = opts.order ?? 1;
  const shapeB = transposeBackward.map((a) => shape[a]) as Shape3;
  const target = p.size_after_cropping as Shape3;
  const needs = shapeB.some((s, i) => s !== target[i]);
  const d = separateZForExport(p, opts.forceSeparateZ);
  const n = target[0] * target[1] * target[2];
  const best = new Float32Array(n).fill(-Infinity);
  const arg = new Uint8Array(n);
  probs.forEach((pc, c) => {
    const b = transpose3(pc, shape, transposeBackward);
    const r = needs ? (resampleChannel(b, shapeB, target, { isSeg: false, order, doSeparateZ: d.doSeparateZ, axis: d.axis }) as Float32Array) : b;
    // np.argmax: first maximum wins
    for (let i = 0; i < n; i++) {
      if (r[i] > best[i]) {
        best[i] = r[i];
        arg[i] = c;
      }
    }
  });
  return { data: pasteIntoOriginal(arg, target, p), shape: [...p.original_size_of_raw_data] as Shape3 };
}

/** The label map as a Volume with the raw image's ITK geometry (spacing/origin/direction from the properties). */
export function labelVolume(data: Uint8Array, p: ExportProperties): Volume<Uint8Array> {
  const sp = p.itk_spacing;
  return {
    data,
    shape: [...p.original_size_of_raw_data] as Shape3,
    spacing: [sp[2], sp[1], sp[0]] as Spacing3,
    origin: [...p.itk_origin] as ItkVec3,
    direction: [...p.itk_direction] as ItkDirection,
  };
}
