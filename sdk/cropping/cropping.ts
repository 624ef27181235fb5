/**
 * Crop to the non-zero bounding box: nnU-Net v1 nnunet/preprocessing/cropping.py (create_nonzero_mask,
 * get_bbox_from_mask, crop_to_bbox, crop_to_nonzero, ImageCropper.crop). v2's crop_to_nonzero is the same.
 *
 *  - nonzero mask = OR over channels of (voxel != 0), then scipy `binary_fill_holes` (face connectivity: background
 *    components not touching the array border are filled);
 *  - bbox = per axis [min, max + 1) of the mask, (z, y, x);
 *  - every channel and the label are cropped; label voxels that are 0 and outside the (cropped) mask become -1
 *    (without a label, the label is 0 inside / -1 outside the mask);
 *  - v1 records `classes` = unique label values *before* values < -1 are reset to 0.
 * Arrays are float32 (v1 casts data and label with astype(np.float32)); axis order (z, y, x), C order.
 */
import type { Shape3, VoxelArray, Volume } from '../io/volume';
import { numVoxels } from '../io/volume';

/** [[z0, z1], [y0, y1], [x0, x1]], half-open. */
export type BBox3 = [[number, number], [number, number], [number, number]];

/**
 * scipy.ndimage.binary_fill_holes with the default structure (face connectivity): returns a new mask where every
 * background voxel not connected to the border through background is set.
 */
export function binaryFillHoles(mask: Uint8Array, shape: Shape3): Uint8Array {
  const [Z, Y, X] = shape;
  const n = Z * Y * X;
  if (mask.length !== n) throw new Error(`binaryFillHoles: mask has ${mask.length} voxels, shape ${shape.join('x')} needs ${n}`);
  // outside[i] = 1: background reachable from the border
  const outside = new Uint8Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  const seed = (i: number) => {
    if (mask[i] === 0 && outside[i] === 0) {
      outside[i] = 1;
      queue[tail++] = i;
    }
  };
  const YX = Y * X;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      const onFace = z === 0 || z === Z - 1 || y === 0 || y === Y - 1;
      const base = z * YX + y * X;
      if (onFace) for (let x = 0; x < X; x++) seed(base + x);
      else {
        seed(base);
        if (X > 1) seed(base + X - 1);
      }
    }
  }
  while (head < tail) {
    const i = queue[head++];
    const z = Math.floor(i / YX);
    const r = i - z * YX;
    const y = Math.floor(r / X);
    const x = r - y * X;
    if (x > 0) seed(i - 1);
    if (x < X - 1) seed(i + 1);
    if (y > 0) seed(i - X);
    if (y < Y - 1) seed(i + X);
    if (z > 0) seed(i - YX);
    if (z < Z - 1) seed(i + YX);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = outside[i] ? 0 : 1;
  return out;
}

/** create_nonzero_mask: OR over channels of != 0, then hole filling. */
export function createNonzeroMask(channels: readonly ArrayLike<number>[], shape: Shape3): Uint8Array {
  const n = numVoxels(shape);
  if (channels.length === 0) throw new Error('createNonzeroMask: no channels');
  const m = new Uint8Array(n);
  for (const c of channels) {
    if (c.length !== n) throw new Error(`createNonzeroMask: a channel has ${c.length} voxels, shape ${shape.join('x')} needs ${n}`);
    for (let i = 0; i < n; i++) if (c[i] !== 0) m[i] = 1;
  }
  return binaryFillHoles(m, shape);
}

/** get_bbox_from_mask: [[min, max + 1)] per axis of the voxels != 0. Throws on an empty mask (v1 fails there too). */
export function getBboxFromMask(mask: ArrayLike<number>, shape: Shape3): BBox3 {
  const [Z, Y, X] = shape;
  let z0 = Z, z1 = -1, y0 = Y, y1 = -1, x0 = X, x1 = -1;
  let i = 0;
  for (let z = 0; z < Z; z++) {
    for (let y = 0; y < Y; y++) {
      for (let x = 0; x < X; x++, i++) {
        if (mask[i] !== 0) {
          if (z < z0) z0 = z;
          if (z > z1) z1 = z;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
        }
      }
    }
  }
  if (z1 < 0) throw new Error(`getBboxFromMask: the mask is empty (all-zero image of shape ${shape.join('x')}), no bounding box`);
  return [
    [z0, z1 + 1],
    [y0, y1 + 1],
    [x0, x1 + 1],
  ];
}

export function bboxShape(b: BBox3): Shape3 {
  return [b[0][1] - b[0][0], b[1][1] - b[1][0], b[2][1] - b[2][0]];
}

/** crop_to_bbox into a new array of the given constructor (default: same type as the input). */
export function cropToBbox<T extends VoxelArray>(data: T, shape: Shape3, bbox: BBox3): T;
export function cropToBbox<T extends VoxelArray>(data: ArrayLike<number>, shape: Shape3, bbox: BBox3, ctor: { new (n: number): T }): T;
export function cropToBbox(data: ArrayLike<number>, shape: Shape3, bbox: BBox3, ctor?: { new (n: number): VoxelArray }): VoxelArray {
  const [, Y, X] = shape;
  const [cz, cy, cx] = bboxShape(bbox);
  for (let a = 0; a < 3; a++) {
    if (bbox[a][0] < 0 || bbox[a][1] > shape[a] || bbox[a][0] >= bbox[a][1]) {
      throw new Error(`cropToBbox: bbox ${JSON.stringify(bbox)} does not fit shape ${shape.join('x')}`);
    }
  }
  const C = ctor ?? ((data as VoxelArray).constructor as { new (n: number): VoxelArray });
  const out = new C(cz * cy * cx);
  const src = data as VoxelArray;
  let o = 0;
  for (let z = 0; z < cz; z++) {
    for (let y = 0; y < cy; y++) {
      const start = (z + bbox[0][0]) * Y * X + (y + bbox[1][0]) * X + bbox[2][0];
      if (ArrayBuffer.isView(src) && src.constructor === out.constructor) {
        out.set(src.subarray(start, start + cx) as never, o);
        o += cx;
      } else {
        for (let x = 0; x < cx; x++) out[o++] = src[start + x];
      }
    }
  }
  return out;
}

export interface CropResult {
  /** cropped channels, float32 */
  data: Float32Array[];
  /** cropped label (float32) with -1 outside the nonzero mask where it was 0 */
  seg: Float32Array;
  bbox: BBox3;
  /** shape after cropping (z, y, x) */
  shape: Shape3;
  /** the cropped nonzero mask (1 inside) */
  nonzeroMask: Uint8Array;
}

/** v1 crop_to_nonzero(data, seg, nonzero_label=-1) on float32 channels and an optional float32 label. */
export function cropToNonzero(
  channels: readonly ArrayLike<number>[],
  shape: Shape3,
  seg: ArrayLike<number> | null = null,
  nonzeroLabel = -1,
): CropResult {
  const mask = createNonzeroMask(channels, shape);
  const bbox = getBboxFromMask(mask, shape);
  const data = channels.map((c) => cropToBbox(c, shape, bbox, Float32Array));
  const m = cropToBbox(mask, shape, bbox);
  let s: Float32Array;
  if (seg) {
    if (seg.length !== numVoxels(shape)) throw new Error(`cropToNonzero: label has ${seg.length} voxels, image shape ${shape.join('x')}`);
    s = cropToBbox(seg, shape, bbox, Float32Array);
    for (let i = 0; i < s.length; i++) if (s[i] === 0 && m[i] === 0) s[i] = nonzeroLabel;
  } else {
    s = new Float32Array(m.length);
    for (let i = 0; i < s.length; i++) s[i] = m[i] ? 0 : nonzeroLabel;
  }
  return { data, seg: s, bbox, shape: bboxShape(bbox), nonzeroMask: m };
}

/** What v1 ImageCropper stores per case (the .pkl), in (z, y, x) except the itk_* fields. */
export interface CroppedCaseProperties {
  original_size_of_raw_data: Shape3;
  original_spacing: [number, number, number];
  itk_origin: number[];
  itk_spacing: number[];
  itk_direction: number[];
  crop_bbox: BBox3;
  /** unique label values after cropping, before values < -1 are reset */
  classes: number[];
  size_after_cropping: Shape3;
}

export interface CroppedCase {
  data: Float32Array[];
  seg: Float32Array;
  properties: CroppedCaseProperties;
}

/**
 * ImageCropper.crop on loaded volumes: float32 cast, crop to nonzero, classes, labels < -1 reset to 0. All channels
 * (and the label) must share the first channel's shape; geometry is taken from the first channel as in v1.
 */
export function cropCase(images: readonly Volume[], label?: Volume | null, name = 'case'): CroppedCase {
  if (images.length === 0) throw new Error(`${name}: no image channels`);
  const shape = images[0].shape;
  images.forEach((v, i) => {
    if (v.shape.join() !== shape.join()) throw new Error(`${name}: channel ${i} has shape ${v.shape.join('x')}, channel 0 has ${shape.join('x')}`);
  });
  if (label && label.shape.join() !== shape.join()) {
    throw new Error(`${name}: label shape ${label.shape.join('x')} differs from image shape ${shape.join('x')}`);
  }
  // the typed-array constructor copies natively; Float32Array.from iterates and is ~10x slower on a Lung-size volume
  const f32 = (a: VoxelArray) => (a instanceof Float32Array ? a : new Float32Array(a as ArrayLike<number>));
  const r = cropToNonzero(images.map((v) => f32(v.data)), shape, label ? f32(label.data) : null, -1);
  const uniq = new Set<number>();
  for (let i = 0; i < r.seg.length; i++) uniq.add(r.seg[i]);
  const classes = [...uniq].sort((a, b) => a - b);
  for (let i = 0; i < r.seg.length; i++) if (r.seg[i] < -1) r.seg[i] = 0;
  const g = images[0];
  return {
    data: r.data,
    seg: r.seg,
    properties: {
      original_size_of_raw_data: [...shape] as Shape3,
      original_spacing: [...g.spacing] as [number, number, number],
      itk_origin: [...g.origin],
      itk_spacing: [g.spacing[2], g.spacing[1], g.spacing[0]],
      itk_direction: [...g.direction],
      crop_bbox: r.bbox,
      classes,
      size_after_cropping: r.shape,
    },
  };
}
