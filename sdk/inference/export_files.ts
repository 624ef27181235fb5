/**
 * The files of a prediction (nnU-Net v1 segmentation_export.py, predict.py): the uint8 NIfTI in the raw image's
 * geometry and the float16 probabilities for ensembling (`<case>.npy` + `<case>.json`). The arrays come from
 * export.ts (Node-free); this module adds the file system.
 */
import { readJsonSync, writeFileAtomic, writeJsonAtomic } from '../io/atomic';
import { encodeNpy, readNpy } from '../io/npy';
import { writeNifti } from '../io/nifti';
import type { Volume } from '../io/volume';
import type { NumericArray } from '../preprocessing/resampling';
import { labelVolume, revertSegmentation, type ExportOptions, type ExportProperties } from '../preprocessing/export';
import { roundToFloat16 } from './gaussian';
import type { ClassProbabilities } from './sliding_window';
import {
  checkProbabilities,
  probabilitiesToCroppedGeometry,
  segmentationFromCroppedProbabilities,
  segmentationFromProbabilities,
  type ExportPredictionOptions,
} from './export';

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
  checkProbabilities(probs, file);
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

/** revertSegmentation + write a uint8 NIfTI with the raw image's geometry. */
export async function exportSegmentation(
  file: string,
  seg: NumericArray,
  segShape: readonly number[],
  p: ExportProperties,
  transposeBackward: readonly number[],
  opts: ExportOptions = {},
): Promise<Volume<Uint8Array>> {
  const r = revertSegmentation(seg, segShape, p, transposeBackward, opts);
  const vol = labelVolume(r.data, p);
  await writeNifti(file, vol, { dtype: 'uint8' });
  return vol;
}
