/**
 * Largest-connected-component postprocessing, as nnU-Net v1 (S1 nnunet/postprocessing/connected_components.py,
 * last v1 version: `remove_all_but_the_largest_connected_component`, `determine_postprocessing`,
 * `load_postprocessing`).
 *
 * Connectivity: v1 calls `scipy.ndimage.label(mask)` without a structure, i.e. the default cross-shaped structure =
 * face connectivity (6-neighbourhood in 3D, 4 in 2D), not 26.
 * Ties: every component whose size equals the maximum is kept (v1 compares each object with `maximum_size`).
 * Object sizes are in mm^3 (voxel count * product of the spacing), which only matters for min_valid_object_sizes.
 * Node-free (the browser build applies postprocessing.json with it); the decision on validation cases and the
 * postprocessing.json files are determine.ts.
 */

/** An entry of for_which_classes: one class, or several classes treated as one region. */
export type ClassOrRegion = number | readonly number[];

export interface ComponentLabels {
  /** 0 = background, 1..count = component ids in order of their first voxel in C order (as scipy). */
  labels: Int32Array;
  count: number;
  /** sizes[id] = voxel count of component id (sizes[0] unused). */
  sizes: number[];
}

/** scipy.ndimage.label with the default (face) structure, for 1-3 dimensional masks. */
export function labelComponents(mask: ArrayLike<number | boolean>, shape: readonly number[]): ComponentLabels {
  const n = shape.reduce((a, b) => a * b, 1);
  if (mask.length !== n) throw new Error(`labelComponents: mask has ${mask.length} voxels, shape [${shape}] needs ${n}`);
  const nd = shape.length;
  const strides = new Array<number>(nd);
  let s = 1;
  for (let d = nd - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  const labels = new Int32Array(n);
  const sizes = [0];
  const stack = new Int32Array(n);
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (!mask[start] || labels[start] !== 0) continue;
    count++;
    let size = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = count;
    while (top > 0) {
      const v = stack[--top];
      size++;
      for (let d = 0; d < nd; d++) {
        const coord = Math.floor(v / strides[d]) % shape[d];
        if (coord > 0) {
          const u = v - strides[d];
          if (mask[u] && labels[u] === 0) {
            labels[u] = count;
            stack[top++] = u;
          }
        }
        if (coord < shape[d] - 1) {
          const u = v + strides[d];
          if (mask[u] && labels[u] === 0) {
            labels[u] = count;
            stack[top++] = u;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, count, sizes };
}

/** Python's str() of a for_which_classes entry, used as dict key in min_valid_object_sizes: 1 or (1, 2). */
export function classKey(c: ClassOrRegion): string {
  if (typeof c === 'number') return String(c);
  return c.length === 1 ? `(${c[0]},)` : `(${c.join(', ')})`;
}

export interface RemoveResult {
  /** Per class key: size (mm^3) of the largest removed object, null if nothing was removed. */
  largestRemoved: Record<string, number | null>;
  /** Per class key: size (mm^3) of the largest (kept) object, null if the class is absent. */
  keptSize: Record<string, number | null>;
}

/**
 * v1 `remove_all_but_the_largest_connected_component`, in place on `seg`: for each entry of `forWhichClasses`
 * (a class, or a region of several classes), remove (set to 0) every component that is not of maximal size and, if
 * `minValidObjectSize` is given, smaller than minValidObjectSize[classKey(entry)].
 */
export function removeAllButLargestComponent(
  seg: Uint8Array | Int16Array | Int32Array | Uint16Array,
  shape: readonly number[],
  forWhichClasses: readonly ClassOrRegion[],
  volumePerVoxel = 1,
  minValidObjectSize: Record<string, number> | null = null,
): RemoveResult {
  const largestRemoved: Record<string, number | null> = {};
  const keptSize: Record<string, number | null> = {};
  for (const c of forWhichClasses) {
    const members = typeof c === 'number' ? [c] : [...c];
    if (members.includes(0)) throw new Error('removeAllButLargestComponent: cannot remove background (class 0)');
    const key = classKey(c);
    const mask = new Uint8Array(seg.length);
    for (let i = 0; i < seg.length; i++) if (members.includes(seg[i])) mask[i] = 1;
    const { labels, count, sizes } = labelComponents(mask, shape);
    largestRemoved[key] = null;
    keptSize[key] = null;
    if (count === 0) continue;
    const objSize = sizes.map((v) => v * volumePerVoxel);
    let maxSize = -Infinity;
    for (let o = 1; o <= count; o++) maxSize = Math.max(maxSize, objSize[o]);
    keptSize[key] = maxSize;
    const remove = new Uint8Array(count + 1);
    for (let o = 1; o <= count; o++) {
      if (objSize[o] === maxSize) continue;
      let rm = true;
      if (minValidObjectSize) {
        const lim = minValidObjectSize[key];
        if (lim === undefined) throw new Error(`removeAllButLargestComponent: min_valid_object_sizes has no entry for ${key}`);
        rm = objSize[o] < lim;
      }
      if (rm) {
        remove[o] = 1;
        const prev = largestRemoved[key];
        largestRemoved[key] = prev === null ? objSize[o] : Math.max(prev, objSize[o]);
      }
    }
    for (let i = 0; i < seg.length; i++) if (labels[i] && remove[labels[i]]) seg[i] = 0;
  }
  return { largestRemoved, keptSize };
}

/** The content of postprocessing.json (v1 key names). */
export interface PostprocessingJson {
  dc_per_class_raw: Record<string, number>;
  dc_per_class_pp_all: Record<string, number>;
  dc_per_class_pp_per_class: Record<string, number>;
  /** e.g. [[1, 2], 1]: a list = region treated jointly, a number = one class. */
  for_which_classes: (number | number[])[];
  /** Python literal: "None" (default, advanced_postprocessing off) or str(dict), e.g. "{(1, 2): 120.0, 1: 35.5}". */
  min_valid_object_sizes: string;
  num_samples: number;
  validation_raw?: string;
  validation_final?: string;
}

/** Parse min_valid_object_sizes ("None" or a Python dict literal with int / tuple keys) into classKey -> size. */
export function parseMinValidObjectSizes(s: string | null | undefined): Record<string, number> | null {
  if (s === undefined || s === null || s === 'None') return null;
  const t = s.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) throw new Error(`min_valid_object_sizes: cannot parse ${JSON.stringify(s)}`);
  const out: Record<string, number> = {};
  const re = /(\([^)]*\)|-?\d+)\s*:\s*([-+0-9.eE]+|inf|nan)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    let key = m[1];
    if (key.startsWith('(')) {
      const ids = key
        .slice(1, -1)
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0)
        .map(Number);
      key = classKey(ids);
    }
    out[key] = Number(m[2]);
  }
  return out;
}

/** Python repr of a float (enough for sizes: integral values get ".0"). */
function pyFloat(v: number): string {
  if (Number.isInteger(v)) return `${v}.0`;
  return String(v);
}

export function formatMinValidObjectSizes(sizes: Record<string, number> | null): string {
  if (sizes === null) return 'None';
  // v1 inserts the joint-region entry first, then the classes in order; JS objects list integer keys first
  const keys = Object.keys(sizes);
  const ordered = [...keys.filter((k) => k.startsWith('(')), ...keys.filter((k) => !k.startsWith('('))];
  const parts = ordered.map((k) => `${k}: ${pyFloat(sizes[k])}`);
  return `{${parts.join(', ')}}`;
}

export interface Postprocessing {
  forWhichClasses: ClassOrRegion[];
  minValidObjectSizes: Record<string, number> | null;
}

export function postprocessingFromJson(pp: PostprocessingJson): Postprocessing {
  return {
    forWhichClasses: pp.for_which_classes.map((c) => (Array.isArray(c) ? [...c] : c)),
    minValidObjectSizes: parseMinValidObjectSizes(pp.min_valid_object_sizes),
  };
}

/**
 * Apply a postprocessing decision to one segmentation (v1 `load_remove_save` with the saved for_which_classes and
 * min_valid_object_sizes). Returns a new array; `spacing` gives the voxel volume (only used with size limits).
 */
export function applyPostprocessing<T extends Uint8Array | Int16Array | Int32Array | Uint16Array>(
  seg: T,
  shape: readonly number[],
  pp: PostprocessingJson | Postprocessing,
  spacing: readonly number[] = [1, 1, 1],
): T {
  const p = 'for_which_classes' in pp ? postprocessingFromJson(pp) : pp;
  const out = seg.slice() as T;
  const vpv = spacing.reduce((a, b) => a * b, 1);
  removeAllButLargestComponent(out, shape, p.forWhichClasses, vpv, p.minValidObjectSizes);
  return out;
}
