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
 * Our probability files: `<case>.npy` (float16, (C, Z, Y, X) at size_after_cropping, un-transposed) and
 * `<case>.json` (the export properties), the counterpart of v1's `<case>.npz` + `<case>.pkl`.
 */
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { encodeNpy, readNpy } from '../io/npy';
import { writeNifti } from '../io/nifti';
import type { Shape3, Volume } from '../io/volume';
import { labelVolume, revertProbabilities, revertSegmentation } from '../preprocessing/export';
import type { ExportProperties } from '../preprocessing/export';
import { decideSeparateZ, resampleChannel } from '../preprocessing/resampling';
import { transpose3 } from '../preprocessing/preprocessing';
import { applyPostprocessing, Postprocessing, PostprocessingJson } from '../postprocessing/connected_components';
import { roundToFloat16 } from './gaussian';
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

function checkProbs(probs: ClassProbabilities, what: string): void {
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
  checkProbs(probs, 'probabilitiesToCroppedGeometry');
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
  checkProbs(probs, 'segmentationFromProbabilities');
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
  checkProbs(probs, 'segmentationFromCroppedProbabilities');
  const sp = probs.shape.slice(1);
  if (sp.some((s, i) => s !== p.size_after_cropping[i])) {
    throw new Error(`probabilities of shape [${sp}] are not at size_after_cropping [${p.size_after_cropping}]`);
  }
  const arg = argmaxClasses(probs);
  const r = revertSegmentation(arg, sp, p, [0, 1, 2], { order: 0 });
  return labelVolume(maybePostprocess(r.data, p, opts.postprocessing), p);
}

export interface ExportFiles {
  /** .nii.gz (or .nii) of the label map */
  segmentation: string;
  /** optional: `<case>.npy` for the probabilities at size_after_cropping (its properties go to `<case>.json`) */
  probabilities?: string;
}

/**
 * Write the prediction of one case: the uint8 NIfTI in the raw image's geometry and, if requested, the float16
 * probabilities for ensembling. Returns the written label volume.
 */
export async function exportPrediction(
  files: ExportFiles,
  probs: ClassProbabilities,
  p: ExportProperties,
  opts: ExportPredictionOptions = {},
): Promise<Volume<Uint8Array>> {
  let vol: Volume<Uint8Array>;
  if (files.probabilities) {
    const cropped = probabilitiesToCroppedGeometry(probs, p, opts);
    await saveProbabilities(files.probabilities, cropped, p);
    // v1 takes the argmax of the float32 probabilities (the float16 copy is only for ensembling)
    vol = segmentationFromCroppedProbabilities(cropped, p, opts);
  } else {
    vol = segmentationFromProbabilities(probs, p, opts);
  }
  await writeNifti(files.segmentation, vol, { dtype: 'uint8' });
  return vol;
}

/** Bits of a float16 value (the value must already be representable, see roundToFloat16). */
function float16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const s = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return s | 0x7c00;
  if (a === 0) return s;
  if (a < 2 ** -14) return s | Math.round(a / 2 ** -24); // subnormal
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const m = Math.round((a / 2 ** e - 1) * 1024);
  return s | ((e + 15) << 10) | m;
}

/** NPY bytes of float16 values (numpy '<f2'): written as uint16 bits with the descr patched to float16. */
export function encodeFloat16Npy(values: Float32Array, shape: readonly number[]): Uint8Array {
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = float16Bits(roundToFloat16(values[i]));
  const bytes = encodeNpy(bits, shape);
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 256));
  const at = head.indexOf("'<u2'", 0, 'latin1');
  if (at < 0) throw new Error('encodeFloat16Npy: unexpected npy header');
  bytes.set(Buffer.from("'<f2'", 'latin1'), at);
  return bytes;
}

function propertiesFileFor(npyFile: string): string {
  return npyFile.replace(/\.npy$/, '') + '.json';
}

/** Save probabilities at size_after_cropping as float16 `<case>.npy` plus `<case>.json` (export properties). */
export async function saveProbabilities(file: string, probs: ClassProbabilities, p: ExportProperties): Promise<void> {
  if (!file.endsWith('.npy')) throw new Error(`${file}: probability files end with .npy`);
  checkProbs(probs, file);
  await writeFileAtomic(file, encodeFloat16Npy(probs.data, probs.shape));
  await writeJsonAtomic(propertiesFileFor(file), { format: 'nnunet-ts probabilities v1', shape: probs.shape, properties: p });
}

export function loadProbabilities(file: string): { probs: ClassProbabilities; properties: ExportProperties } {
  const a = readNpy(file);
  if (a.shape.length !== 4) throw new Error(`${file}: expected (C, Z, Y, X) probabilities, got shape [${a.shape}]`);
  const meta = readJsonSync<{ properties?: ExportProperties }>(propertiesFileFor(file));
  if (!meta.properties) throw new Error(`${propertiesFileFor(file)}: no "properties" entry`);
  const data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>);
  return { probs: { data, shape: a.shape as [number, number, number, number] }, properties: meta.properties };
}
