/**
 * Volume: the one in-memory image type of nnunet-ts.
 *
 * Axis convention (as in nnU-Net, which works on SimpleITK's numpy view):
 *  - `data` is stored in C order over `shape = [z, y, x]` (x varies fastest). A NIfTI file stores voxels
 *    x-fastest too, so the bytes map 1:1; only the *names* of the axes are reversed.
 *  - `spacing` is (z, y, x) in millimetres, i.e. the NIfTI pixdim[1..3] reversed.
 *  - `origin` and `direction` are kept exactly as SimpleITK's `GetOrigin()` / `GetDirection()` report them:
 *    ITK order (x, y, z), LPS physical space, `direction` row-major 3x3 with columns = axis directions.
 *    Writing them back reproduces the geometry ITK-SNAP and 3D Slicer display.
 *  - Multi-channel images are a list of Volumes (one per channel, nnU-Net's `_0000`, `_0001`, ...).
 */
export type VoxelArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** Shape of a 3D volume in (z, y, x) order. */
export type Shape3 = [number, number, number];
/** Spacing in mm, (z, y, x) order. */
export type Spacing3 = [number, number, number];
/** A point or vector in ITK (x, y, z) LPS order. */
export type ItkVec3 = [number, number, number];
/** Row-major 3x3 direction matrix in ITK convention (9 numbers). */
export type ItkDirection = [number, number, number, number, number, number, number, number, number];

export interface Volume<T extends VoxelArray = VoxelArray> {
  data: T;
  /** (z, y, x) */
  shape: Shape3;
  /** (z, y, x), mm */
  spacing: Spacing3;
  /** ITK (x, y, z), LPS, mm */
  origin: ItkVec3;
  /** ITK row-major 3x3, LPS */
  direction: ItkDirection;
}

export const IDENTITY_DIRECTION: ItkDirection = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function numVoxels(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Geometry of a volume without its voxels (what export needs to write a prediction back). */
export interface Geometry {
  shape: Shape3;
  spacing: Spacing3;
  origin: ItkVec3;
  direction: ItkDirection;
}

export function geometryOf(v: Geometry): Geometry {
  return {
    shape: [...v.shape] as Shape3,
    spacing: [...v.spacing] as Spacing3,
    origin: [...v.origin] as ItkVec3,
    direction: [...v.direction] as ItkDirection,
  };
}

/** Make a volume with default geometry (1 mm, origin 0, identity direction). */
export function makeVolume<T extends VoxelArray>(data: T, shape: Shape3, geometry: Partial<Geometry> = {}): Volume<T> {
  if (data.length !== numVoxels(shape)) {
    throw new Error(`makeVolume: data has ${data.length} voxels but shape ${shape.join('x')} needs ${numVoxels(shape)}`);
  }
  return {
    data,
    shape: [...shape] as Shape3,
    spacing: (geometry.spacing ? [...geometry.spacing] : [1, 1, 1]) as Spacing3,
    origin: (geometry.origin ? [...geometry.origin] : [0, 0, 0]) as ItkVec3,
    direction: (geometry.direction ? [...geometry.direction] : [...IDENTITY_DIRECTION]) as ItkDirection,
  };
}
