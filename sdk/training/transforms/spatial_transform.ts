/**
 * SpatialTransform (batchgenerators transforms/spatial_transforms.py → augmentations/spatial_transformations.py
 * ::augment_spatial, reference §7.3).
 */
import { RandomState } from '../../util/random';
import { gaussianFilter } from '../gaussian_filter';
import { linearCorners, locatePoint, mapCoordinates, splineFilter3 } from '../map_coordinates';
import { rotationMatrix2d, rotationMatrix3d } from '../rotation';
import { cropPadInto, floorDiv, prod, stridesOf, uniqueSorted } from '../util';
import { AugBatch, RandomTransform, channelView, checkOptions, checkPerSample, definedOptions } from './base';

/**
 * Options; defaults are batchgenerators' SpatialTransform defaults. nnU-Net v1 (setupDAParams → MoreDAParams, from
 * default_3D_augmentation_params and nnUNetTrainerV2.setup_DA_params) passes: elastic off (p_eldef 0.2 if on),
 * rotation ±30° 3D / ±180° 2D with p_rot 0.2, p_rot_per_axis 1, scale (0.7, 1.4) with p_scale 0.2, one isotropic
 * factor, no random crop, order 3 data / order 1 seg, seg border −1.
 */
export interface SpatialTransformOptions {
  /** Output (final) patch size, (z, y, x) or (y, x). Required. */
  patchSize: number[];
  /** Random crop centre instead of the patch centre. Default true; nnU-Net v1 false. */
  randomCrop?: boolean;
  /** Margin of the random crop centre from the border. Default 30; nnU-Net v1 None (unused without random crop). */
  patchCenterDistFromBorder?: number | number[];
  /** Elastic deformation. Default true; nnU-Net v1 false. */
  doElasticDeform?: boolean;
  /** Elastic magnitude range. Default (0, 1000); nnU-Net v1 (0, 900) 3D, (0, 200) 2D. */
  alpha?: [number, number];
  /** Elastic smoothing σ range. Default (10, 13); nnU-Net v1 (9, 13) 3D, (9, 12) 2D. */
  sigma?: [number, number];
  doRotation?: boolean;
  /** Rotation ranges in radians (angleX is the only one in 2D). Default (0, 2π); nnU-Net v1 ±30° 3D, ±180° 2D. */
  angleX?: [number, number];
  angleY?: [number, number];
  angleZ?: [number, number];
  doScale?: boolean;
  /** Scale range (> 1 zooms out). Default (0.75, 1.25); nnU-Net v1 (0.7, 1.4). */
  scale?: [number, number];
  borderCvalData?: number;
  /** Spline order for images. Default 3 (nnU-Net v1 too). */
  orderData?: 0 | 1 | 3;
  /** Value outside the input for labels. Default 0; nnU-Net v1 −1. */
  borderCvalSeg?: number;
  /** Interpolation order for labels (per label value). Default 0; nnU-Net v1 1. */
  orderSeg?: 0 | 1 | 3;
  /** Probability of elastic deformation per sample. Default 1; nnU-Net v1 p_eldef 0.2. */
  pElPerSample?: number;
  /** Probability of scaling per sample. Default 1; nnU-Net v1 p_scale 0.2. */
  pScalePerSample?: number;
  /** Probability of rotation per sample. Default 1; nnU-Net v1 p_rot 0.2. */
  pRotPerSample?: number;
  /** One scale factor per axis (with pIndependentScalePerAxis). Default false (nnU-Net v1 too). */
  independentScaleForEachAxis?: boolean;
  /** Probability, once rotation fires, that each axis gets an angle (else 0). Default 1 (nnU-Net v1 too). */
  pRotPerAxis?: number;
  pIndependentScalePerAxis?: number;
}

/**
 * Drawn for one sample. When elastic, rotation or scale fired, the output is interpolated at the deformed, rotated,
 * scaled grid placed at `center`; otherwise it is a plain crop starting at `cropLow`.
 */
export interface SpatialParams {
  /** Magnitude α, smoothing σ and the raw U(−1, 1) noise per axis (patch-sized), or null. */
  elastic: { alpha: number; sigma: number; noise: Float64Array[] } | null;
  /** Angles (radians) [angleX, angleY, angleZ] in 3D, [angleX] in 2D (0 for an axis that was not drawn), or null. */
  rotation: number[] | null;
  /** Scale factor per spatial axis (z, y, x), or null. */
  scale: number[] | null;
  /** Grid centre in input voxel coordinates per axis (when something fired), else null. */
  center: number[] | null;
  /** Crop start in the input per axis (when nothing fired), else null. */
  cropLow: number[] | null;
}

/** create_zero_centered_coordinate_mesh: c_d(i) = i − (P_d − 1)/2, one Float64Array per axis. */
export function zeroCenteredMesh(patch: readonly number[]): Float64Array[] {
  const m = prod(patch);
  const nd = patch.length;
  const out = patch.map(() => new Float64Array(m));
  const idx = new Array(nd).fill(0);
  for (let k = 0; k < m; k++) {
    for (let d = 0; d < nd; d++) out[d][k] = idx[d] - (patch[d] - 1) / 2;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < patch[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** coords ← coords·R (row vectors), in place. */
export function rotateCoords(coords: Float64Array[], angles: number[]): void {
  const m = coords[0].length;
  if (coords.length === 3) {
    const R = rotationMatrix3d(angles[0], angles[1], angles[2]);
    const [a, b, c] = coords;
    for (let k = 0; k < m; k++) {
      const x = a[k], y = b[k], z = c[k];
      a[k] = x * R[0] + y * R[3] + z * R[6];
      b[k] = x * R[1] + y * R[4] + z * R[7];
      c[k] = x * R[2] + y * R[5] + z * R[8];
    }
  } else {
    const R = rotationMatrix2d(angles[0]);
    const [a, b] = coords;
    for (let k = 0; k < m; k++) {
      const x = a[k], y = b[k];
      a[k] = x * R[0] + y * R[2];
      b[k] = x * R[1] + y * R[3];
    }
  }
}

/**
 * interpolate_img(..., is_seg=True) for order != 0: for each unique label (ascending), interpolate the binary mask with
 * cval = border value and write the label where the result >= 0.5; voxels claimed by no label stay 0.
 * Order 1 runs in one pass: linear interpolation of the mask of label v is the summed weight of the corners holding v,
 * so the per-corner weights are accumulated per label and the largest label reaching 0.5 wins (the last write in
 * ascending order). Outside [0, n−1] every mask interpolates to cval (−1 < 0.5): the voxel stays 0.
 */
export function interpolateSeg(
  img: Float32Array,
  shape: readonly number[],
  coords: readonly Float64Array[],
  order: 0 | 1 | 3,
  cval: number,
  out: Float32Array,
): void {
  if (order === 0) {
    mapCoordinates(img, shape, coords, { order: 0, cval }, out);
    return;
  }
  const labels = uniqueSorted(img);
  if (order !== 1 || cval >= 0.5 || labels.length > 64) {
    interpolateSegPerLabel(img, shape, coords, order, cval, out, labels);
    return;
  }
  const nd = shape.length;
  const st = stridesOf(shape);
  const m = coords[0].length;
  const lo = new Int32Array(nd);
  const fr = new Float64Array(nd);
  const corners = 1 << nd;
  const cl = new Float64Array(corners); // corner label
  const cw = new Float64Array(corners); // corner weight
  const co = new Int32Array(corners); // corner offset
  for (let k = 0; k < m; k++) {
    if (!locatePoint(coords, shape, k, lo, fr)) {
      out[k] = 0;
      continue;
    }
    // the corners of map_coordinates order 1 (same weights and offsets)
    linearCorners(lo, fr, shape, st, cw, co);
    for (let c = 0; c < corners; c++) cl[c] = img[co[c]];
    let best = 0;
    let bestLabel = -Infinity;
    for (let c = 0; c < corners; c++) {
      const v = cl[c];
      if (v <= bestLabel) continue;
      let acc = 0;
      for (let e = 0; e < corners; e++) if (cl[e] === v && cw[e] !== 0) acc += cw[e];
      if (acc >= 0.5) {
        bestLabel = v;
        best = v;
      }
    }
    out[k] = bestLabel === -Infinity ? 0 : best;
  }
}

/** The literal per-label loop of batchgenerators (reference implementation, any order). */
export function interpolateSegPerLabel(
  img: Float32Array,
  shape: readonly number[],
  coords: readonly Float64Array[],
  order: 0 | 1 | 3,
  cval: number,
  out: Float32Array,
  labels: number[] = uniqueSorted(img),
): void {
  out.fill(0);
  const mask = new Float32Array(img.length);
  const res = new Float32Array(out.length);
  for (const v of labels) {
    for (let i = 0; i < img.length; i++) mask[i] = img[i] === v ? 1 : 0;
    mapCoordinates(mask, shape, coords, { order, cval }, res);
    for (let i = 0; i < res.length; i++) if (res[i] >= 0.5) out[i] = v;
  }
}

/**
 * Per sample: optional elastic deformation, rotation (R = Rx·Ry·Rz on row-vector coordinates), scaling, then
 * interpolation of the loaded (larger) patch at the transformed, re-centred grid of the final patch — images with
 * order-3 splines and constant 0 outside, labels per label value with order-1 interpolation of the binary mask,
 * border −1, threshold 0.5. When nothing was drawn: a crop (centre, or random with randomCrop).
 * Probabilities, each per sample and independent: elastic pElPerSample, rotation pRotPerSample (then each axis with
 * pRotPerAxis), scale pScalePerSample (then, with independentScaleForEachAxis, pIndependentScalePerAxis). nnU-Net v1:
 * elastic off (do_elastic False in nnUNetTrainerV2.setup_DA_params; p_eldef 0.2 if on), p_rot 0.2, p_rot_per_axis 1,
 * p_scale 0.2, so 1 − 0.8² = 36% of samples are interpolated — moreDA.py:71
 * `p_rot_per_axis=params.get("rotation_p_per_axis")` and moreDA.py:75–76 `p_el_per_sample=params.get("p_eldef"),
 * p_scale_per_sample=params.get("p_scale"), p_rot_per_sample=params.get("p_rot")`.
 */
export class SpatialTransform extends RandomTransform<SpatialParams[]> {
  readonly name = 'SpatialTransform';
  readonly o: Required<SpatialTransformOptions>;
  constructor(o: SpatialTransformOptions) {
    super();
    checkOptions('SpatialTransform', o);
    // batchgenerators SpatialTransform defaults
    this.o = {
      randomCrop: true,
      patchCenterDistFromBorder: 30,
      doElasticDeform: true,
      alpha: [0, 1000],
      sigma: [10, 13],
      doRotation: true,
      angleX: [0, 2 * Math.PI],
      angleY: [0, 2 * Math.PI],
      angleZ: [0, 2 * Math.PI],
      doScale: true,
      scale: [0.75, 1.25],
      borderCvalData: 0,
      orderData: 3,
      borderCvalSeg: 0,
      orderSeg: 0,
      pElPerSample: 1,
      pScalePerSample: 1,
      pRotPerSample: 1,
      independentScaleForEachAxis: false,
      pRotPerAxis: 1,
      pIndependentScalePerAxis: 1,
      ...definedOptions(o),
    } as Required<SpatialTransformOptions>;
  }

  private inputSpatial(batch: AugBatch): number[] {
    const P = this.o.patchSize;
    const inSpatial = batch.dataShape.slice(2);
    if (inSpatial.length !== P.length)
      throw new Error(`SpatialTransform: data is ${inSpatial.length}-d (${batch.dataShape}), patch [${P}] is ${P.length}-d`);
    return inSpatial;
  }

  draw(batch: AugBatch, rng: RandomState): SpatialParams[] {
    const o = this.o;
    const P = o.patchSize;
    const dim = P.length;
    const B = batch.dataShape[0];
    const inSpatial = this.inputSpatial(batch);
    const m = prod(P);
    const dist = typeof o.patchCenterDistFromBorder === 'number' ? new Array(dim).fill(o.patchCenterDistFromBorder) : o.patchCenterDistFromBorder;
    const out: SpatialParams[] = [];
    for (let b = 0; b < B; b++) {
      const p: SpatialParams = { elastic: null, rotation: null, scale: null, center: null, cropLow: null };
      if (o.doElasticDeform && rng.uniform() < o.pElPerSample) {
        const alpha = rng.uniform(o.alpha[0], o.alpha[1]);
        const sigma = rng.uniform(o.sigma[0], o.sigma[1]);
        // elastic_deform_coordinates: per axis, random*2−1 (smoothed and scaled in applyParams)
        const noise: Float64Array[] = [];
        for (let d = 0; d < dim; d++) {
          const z = new Float64Array(m);
          for (let k = 0; k < m; k++) z[k] = rng.random() * 2 - 1;
          noise.push(z);
        }
        p.elastic = { alpha, sigma, noise };
      }
      if (o.doRotation && rng.uniform() < o.pRotPerSample) {
        const ax = rng.uniform() <= o.pRotPerAxis ? rng.uniform(o.angleX[0], o.angleX[1]) : 0;
        if (dim === 3) {
          const ay = rng.uniform() <= o.pRotPerAxis ? rng.uniform(o.angleY[0], o.angleY[1]) : 0;
          const az = rng.uniform() <= o.pRotPerAxis ? rng.uniform(o.angleZ[0], o.angleZ[1]) : 0;
          p.rotation = [ax, ay, az];
        } else p.rotation = [ax];
      }
      if (o.doScale && rng.uniform() < o.pScalePerSample) {
        const sc: number[] = [];
        if (o.independentScaleForEachAxis && rng.uniform() < o.pIndependentScalePerAxis) {
          const scaleL = Math.max(o.scale[0], 1);
          for (let d = 0; d < dim; d++)
            sc.push(o.scale[0] < 1 && rng.random() < 0.5 ? rng.uniform(o.scale[0], 1) : rng.uniform(scaleL, o.scale[1]));
        } else {
          // one isotropic factor: with prob 0.5 U(scale[0], 1), else U(max(scale[0], 1), scale[1])
          const s = o.scale[0] < 1 && rng.random() < 0.5 ? rng.uniform(o.scale[0], 1) : rng.uniform(Math.max(o.scale[0], 1), o.scale[1]);
          for (let d = 0; d < dim; d++) sc.push(s);
        }
        p.scale = sc;
      }
      if (p.elastic || p.rotation || p.scale) {
        p.center = inSpatial.map((s, d) => (o.randomCrop ? rng.uniform(dist[d], s - dist[d]) : s / 2 - 0.5));
      } else if (o.randomCrop) {
        // random_crop_aug with margin = dist − patch // 2 (get_lbs_for_random_crop)
        p.cropLow = inSpatial.map((s, d) => {
          const margin = dist[d] - floorDiv(P[d], 2);
          const hi = s - P[d] - margin;
          return hi > margin ? rng.randint(margin, hi) : floorDiv(s - P[d], 2);
        });
      } else p.cropLow = inSpatial.map((s, d) => floorDiv(s - P[d], 2)); // center_crop_aug
      out.push(p);
    }
    return out;
  }

  /** The sampling grid of one sample: zero-centred mesh, elastic offsets, rotation, scaling, then the centre. */
  static grid(patch: readonly number[], p: SpatialParams): Float64Array[] {
    const dim = patch.length;
    const m = prod(patch);
    const coords = zeroCenteredMesh(patch);
    if (p.elastic) {
      for (let d = 0; d < dim; d++) {
        const off = gaussianFilter(p.elastic.noise[d], patch, p.elastic.sigma, 'constant');
        for (let k = 0; k < m; k++) coords[d][k] += off[k] * p.elastic.alpha;
      }
    }
    if (p.rotation) rotateCoords(coords, p.rotation);
    if (p.scale) {
      for (let d = 0; d < dim; d++) {
        const c = coords[d];
        for (let k = 0; k < m; k++) c[k] *= p.scale[d];
      }
    }
    if (!p.center) throw new Error('SpatialTransform.grid: params have no center (a plain crop has no grid)');
    for (let d = 0; d < dim; d++) {
      const c = coords[d];
      const ctr = p.center[d];
      for (let k = 0; k < m; k++) c[k] += ctr;
    }
    return coords;
  }

  applyParams(batch: AugBatch, params: SpatialParams[]): AugBatch {
    const o = this.o;
    const P = o.patchSize;
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const inSpatial = this.inputSpatial(batch);
    const m = prod(P);
    const dataOut = new Float32Array(B * C * m);
    const S = batch.segShape ? batch.segShape[1] : 0;
    const segOut = batch.seg ? new Float32Array(B * S * m) : null;
    for (let b = 0; b < B; b++) {
      const p = params[b];
      if (p.center) {
        const coords = SpatialTransform.grid(P, p);
        for (let c = 0; c < C; c++) {
          const img = channelView(batch.data, batch.dataShape, b, c);
          const pre = o.orderData === 3 ? splineFilter3(img, inSpatial, 'mirror') : undefined;
          mapCoordinates(img, inSpatial, coords, { order: o.orderData, cval: o.borderCvalData, prefiltered: pre }, dataOut.subarray((b * C + c) * m, (b * C + c + 1) * m));
        }
        if (batch.seg && segOut) {
          for (let c = 0; c < S; c++) {
            const img = channelView(batch.seg, batch.segShape!, b, c);
            interpolateSeg(img, inSpatial, coords, o.orderSeg, o.borderCvalSeg, segOut.subarray((b * S + c) * m, (b * S + c + 1) * m));
          }
        }
      } else {
        if (!p.cropLow) throw new Error('SpatialTransform: params need center or cropLow');
        const lo = p.cropLow;
        const n = prod(inSpatial);
        for (let c = 0; c < C; c++) cropPadInto(batch.data, (b * C + c) * n, inSpatial, lo, P, 0, dataOut, (b * C + c) * m);
        if (batch.seg && segOut)
          for (let c = 0; c < S; c++) cropPadInto(batch.seg, (b * S + c) * n, inSpatial, lo, P, 0, segOut, (b * S + c) * m);
      }
    }
    return {
      ...batch,
      data: dataOut,
      dataShape: [B, C, ...P],
      seg: segOut,
      segShape: segOut ? [B, S, ...P] : null,
    };
  }
}
