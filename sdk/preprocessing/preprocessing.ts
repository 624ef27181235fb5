/**
 * One case through nnU-Net v1's GenericPreprocessor / PreprocessorFor2D (S1 preprocessing.py), starting from the
 * cropped case (crop to the nonzero bbox with -1 outside the hole-filled mask, shared with the fingerprint):
 *   transpose (transpose_forward) -> NaN to 0 -> resample to the configuration's spacing (data order 3, seg order 1,
 *   order 0 along z on the separate-z path) -> seg < -1 to 0 -> normalize per channel -> sample class locations.
 * Channels are processed one at a time and written into the final (C, Z, Y, X) buffer, so peak memory is about
 * input + output + one intermediate of one channel.
 */
import type { Shape3 } from '../io/volume';
import { resampleChannel, computeNewShape, decideSeparateZ, SeparateZDecision, NumericArray } from './resampling';
import { normalizeChannel, toV1Scheme, CTIntensityStats, V1NormalizationScheme } from './normalization';
import type { NormalizationScheme, PlansJSON } from '../planning/plans_types';
import { Plans, resolveConfiguration } from '../planning/plans';
import { sampleClassLocations, ClassLocations } from './class_locations';

/** Properties of a cropped case (v1 ImageCropper), all spatial vectors (z, y, x) except itk_*. */
export interface CroppedProperties {
  original_size_of_raw_data: number[];
  original_spacing: number[];
  itk_origin: number[];
  itk_spacing: number[];
  itk_direction: number[];
  /** [[z0, z1], [y0, y1], [x0, x1]], half open */
  crop_bbox: number[][];
  size_after_cropping: number[];
  /** np.unique of the cropped seg (including -1 and 0) */
  classes: number[];
}

export interface CroppedCaseInput {
  /** image channels, C order over size_after_cropping (un-transposed) */
  data: ArrayLike<number>[];
  /** cropped label with -1 outside the nonzero mask; null at inference */
  seg: NumericArray | null;
  properties: CroppedProperties;
}

/** What preprocessing needs from a plans configuration (+ dataset), resolved to plain data (crosses threads). */
export interface PreprocessSettings {
  /** configuration spacing in transposed order; 2 entries (in-plane) or 3 */
  spacing: number[];
  /** 2D preprocessor: axis 0 keeps the case's own spacing */
  is2D: boolean;
  transposeForward: number[];
  normalizationSchemes: (NormalizationScheme | V1NormalizationScheme)[];
  useMaskForNorm: boolean[];
  /** per channel CT statistics (null for non-CT channels) */
  intensityProperties: (CTIntensityStats | null)[];
  /** foreground labels (v1 all_classes), for class locations */
  foregroundClasses: number[];
  /** S1 force_separate_z (default null: decide from the spacings) */
  forceSeparateZ?: boolean | null;
}

export interface PreprocessedProperties extends CroppedProperties {
  use_nonzero_mask_for_norm: Record<string, boolean>;
  /** transposed order */
  size_after_resampling: number[];
  /** transposed order */
  spacing_after_resampling: number[];
  separate_z: { do_separate_z: boolean; axis: number | null };
  class_locations: Record<string, number[][]>;
}

export interface PreprocessedCase {
  /** (C, Z, Y, X) float32 in transposed order */
  data: Float32Array;
  dataShape: [number, number, number, number];
  /** (1, Z, Y, X) int8, -1 outside the nonzero mask; null at inference */
  seg: Int8Array | null;
  properties: PreprocessedProperties;
  classLocations: ClassLocations;
}

/** Transpose a C-order 3D array: out axis i = in axis perm[i] (numpy `transpose(perm)`). */
export function transpose3<T extends NumericArray | Float32Array>(src: T, shape: readonly number[], perm: readonly number[]): T {
  if (perm[0] === 0 && perm[1] === 1 && perm[2] === 2) return src;
  const newShape = perm.map((p) => shape[p]);
  const inStrides = [shape[1] * shape[2], shape[2], 1];
  const s0 = inStrides[perm[0]];
  const s1 = inStrides[perm[1]];
  const s2 = inStrides[perm[2]];
  const Ctor = src.constructor as { new (n: number): T };
  const out = new Ctor(src.length);
  let o = 0;
  for (let a = 0; a < newShape[0]; a++) {
    for (let b = 0; b < newShape[1]; b++) {
      let i = a * s0 + b * s1;
      for (let c = 0; c < newShape[2]; c++, i += s2) out[o++] = src[i];
    }
  }
  return out;
}

/** The target spacing of a case (transposed order): the configuration's, with axis 0 kept for 2D. */
export function targetSpacingFor(settings: PreprocessSettings, originalSpacingTransposed: readonly number[]): number[] {
  const sp = settings.spacing;
  if (sp.length === 3) {
    const t = [...sp];
    // PreprocessorFor2D: target_spacing[0] = original_spacing_transposed[0]
    if (settings.is2D) t[0] = originalSpacingTransposed[0];
    return t;
  }
  if (sp.length === 2) return [originalSpacingTransposed[0], ...sp];
  throw new Error(`preprocess: configuration spacing must have 2 or 3 entries, got [${sp.join(', ')}]`);
}

/** Preprocess one cropped case (see the module comment). Does not modify the input arrays. */
export function preprocessCase(c: CroppedCaseInput, settings: PreprocessSettings, caseId = '<case>'): PreprocessedCase {
  const p = c.properties;
  const shape = p.size_after_cropping as Shape3;
  const nVox = shape[0] * shape[1] * shape[2];
  const C = c.data.length;
  if (settings.normalizationSchemes.length !== C || settings.useMaskForNorm.length !== C) {
    throw new Error(
      `preprocess ${caseId}: ${C} channels but the plans have ${settings.normalizationSchemes.length} normalization schemes ` +
        `and ${settings.useMaskForNorm.length} use_mask_for_norm entries`,
    );
  }
  c.data.forEach((d, i) => {
    if (d.length !== nVox) throw new Error(`preprocess ${caseId}: channel ${i} has ${d.length} voxels, size_after_cropping ${shape.join('x')} needs ${nVox}`);
  });
  if (c.seg && c.seg.length !== nVox) throw new Error(`preprocess ${caseId}: seg has ${c.seg.length} voxels, expected ${nVox}`);
  const tf = settings.transposeForward;
  const shapeT = tf.map((a) => shape[a]) as Shape3;
  const spacingT = tf.map((a) => p.original_spacing[a]);
  const target = targetSpacingFor(settings, spacingT);
  const newShape = computeNewShape(shapeT, spacingT, target) as Shape3;
  const decision: SeparateZDecision = decideSeparateZ(spacingT, target, settings.forceSeparateZ ?? null);

  // segmentation first: the mask for normalization needs the resampled seg
  let seg: Int8Array | null = null;
  if (c.seg) {
    const segT = transpose3(c.seg, shape, tf);
    const r = resampleChannel(segT, shapeT, newShape, { isSeg: true, order: 1, doSeparateZ: decision.doSeparateZ, axis: decision.axis });
    seg = new Int8Array(r.length);
    for (let i = 0; i < r.length; i++) {
      let v = r[i];
      if (v < -1) v = 0; // S1: seg[seg < -1] = 0 ("hippocampus 243 has one voxel with -2")
      seg[i] = v;
      if (seg[i] !== v) throw new Error(`preprocess ${caseId}: label value ${v} does not fit the int8 segmentation`);
    }
  }
  const nOut = newShape[0] * newShape[1] * newShape[2];
  const data = new Float32Array(C * nOut);
  for (let ch = 0; ch < C; ch++) {
    const src = c.data[ch];
    // float32 copy (official: .astype(np.float32)), transposed, NaN -> 0
    // typed-array constructor copy (Float32Array.from iterates and is ~10x slower)
    let x = ArrayBuffer.isView(src) ? new Float32Array(src as unknown as ArrayLike<number>) : Float32Array.from(src);
    x = transpose3(x, shape, tf);
    for (let i = 0; i < x.length; i++) if (x[i] !== x[i]) x[i] = 0;
    const r = resampleChannel(x, shapeT, newShape, { isSeg: false, order: 3, doSeparateZ: decision.doSeparateZ, axis: decision.axis }) as Float32Array;
    normalizeChannel(r, settings.normalizationSchemes[ch], {
      intensity: settings.intensityProperties[ch] ?? undefined,
      useMaskForNorm: settings.useMaskForNorm[ch],
      seg,
    });
    data.set(r, ch * nOut);
  }
  const classLocations = seg ? sampleClassLocations(seg, newShape, settings.foregroundClasses) : {};
  const class_locations: Record<string, number[][]> = {};
  for (const [k, v] of Object.entries(classLocations)) {
    const l: number[][] = [];
    for (let j = 0; j < v.length; j += 3) l.push([v[j], v[j + 1], v[j + 2]]);
    class_locations[k] = l;
  }
  const properties: PreprocessedProperties = {
    ...structuredClone(p),
    use_nonzero_mask_for_norm: Object.fromEntries(settings.useMaskForNorm.map((b, i) => [String(i), b])),
    size_after_resampling: [...newShape],
    spacing_after_resampling: target,
    separate_z: { do_separate_z: decision.doSeparateZ, axis: decision.axis },
    class_locations,
  };
  return { data, dataShape: [C, ...newShape] as [number, number, number, number], seg, properties, classLocations };
}

/** Resolve the preprocessing settings of a configuration from the plans (+ dataset labels). */
export function preprocessSettingsFromPlans(plans: Plans | PlansJSON, configurationName: string, foregroundClasses: number[]): PreprocessSettings {
  const json = plans instanceof Plans ? plans.json : plans;
  const c = resolveConfiguration(json, configurationName);
  const fip = json.foreground_intensity_properties_per_channel ?? {};
  const intensityProperties = c.normalization_schemes.map((s, i): CTIntensityStats | null => {
    const v1 = toV1Scheme(s);
    if (v1 !== 'CT' && v1 !== 'CT2') return null;
    const p = fip[String(i)];
    if (!p) throw new Error(`plans ${json.plans_name}: channel ${i} uses ${s} but foreground_intensity_properties_per_channel has no entry '${i}'`);
    return { mean: p.mean, sd: p.std, percentile_00_5: p.percentile_00_5, percentile_99_5: p.percentile_99_5 };
  });
  return {
    spacing: [...c.spacing],
    is2D: c.patch_size.length === 2,
    transposeForward: [...json.transpose_forward],
    normalizationSchemes: [...c.normalization_schemes],
    useMaskForNorm: [...c.use_mask_for_norm],
    intensityProperties,
    foregroundClasses: [...foregroundClasses],
    forceSeparateZ: null,
  };
}
