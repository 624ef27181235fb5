/**
 * Patch-based training data loaders: DataLoader3D / DataLoader2D of S1 training/dataloading/dataset_loading.py
 * (reference §6.5). Cases are drawn uniformly with replacement; the last samples of every batch are forced to contain
 * foreground from the case's class locations; crops outside the case are padded with 0 (data; the trainer passes
 * pad_mode="constant") and −1 (seg; previous-stage seg with 0). All randomness comes from one RandomState.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync } from '../io/atomic';
import { readNpy } from '../io/npy';
import { RandomState } from '../util/random';
import { cropPadInto, floorDiv, prod, pyMod, roundHalfEven } from './util';

/** One preprocessed case: image channels and its label map at the preprocessed geometry. */
export interface PreprocessedCase {
  /** Image channels, C-order over `shape` = [C, Z, Y, X]. */
  data: Float32Array;
  /** Label map (one channel) over [Z, Y, X]; −1 marks outside the nonzero mask. */
  seg: Int8Array | Float32Array | Int16Array | Uint8Array;
  shape: [number, number, number, number];
  /** Sampled foreground voxel locations per class, each [z, y, x] (preprocessing §4.4). Keys are class labels. */
  classLocations: Record<string, ArrayLike<number>[]>;
  /** Cascade: previous-stage segmentation over [Z, Y, X]. */
  segFromPrevStage?: Int8Array | Float32Array | Int16Array | Uint8Array;
}

/** Where the loaders get cases from (in memory, or the preprocessed folder on disk). */
export interface CaseProvider {
  readonly caseIds: readonly string[];
  load(id: string): PreprocessedCase | Promise<PreprocessedCase>;
}

/** A batch in the layout of batchgenerators: data (B, C, ...patch), seg (B, S, ...patch), float32, C-order. */
export interface LoaderBatch {
  data: Float32Array;
  dataShape: number[];
  seg: Float32Array;
  segShape: number[];
  keys: string[];
}

export class InMemoryCaseProvider implements CaseProvider {
  readonly caseIds: string[];
  constructor(private readonly cases: Record<string, PreprocessedCase>) {
    this.caseIds = Object.keys(cases);
  }
  load(id: string): PreprocessedCase {
    const c = this.cases[id];
    if (!c) throw new Error(`InMemoryCaseProvider: unknown case '${id}'`);
    return c;
  }
}

/**
 * Reads a preprocessed folder (the one boundary to sdk/preprocessing's files). Accepted layouts per case id:
 *  - `<id>.npy` (C, Z, Y, X) float32 plus `<id>_seg.npy` (1, Z, Y, X) int8 (sdk/preprocessing/preprocessed_dataset.ts),
 *  - `<id>_data.npy` plus `<id>_seg.npy` (the official fixture dumps), or
 *  - `<id>.npy` alone with shape (C+1, Z, Y, X), image channels then the seg channel (v1 unpacked .npz layout);
 * and properties `<id>.json` (or `<id>_properties.json`) holding `class_locations` (or `classLocations`):
 * { "<label>": [[z, y, x], ...] }. Optionally `<id>_segFromPrevStage.npy` for the cascade.
 * Loaded cases are cached (the training set of one fold fits in memory for the datasets we target).
 */
export class NpyFolderCaseProvider implements CaseProvider {
  readonly caseIds: string[];
  private cache = new Map<string, PreprocessedCase>();
  constructor(readonly folder: string, caseIds?: readonly string[], readonly cacheCases = true) {
    if (caseIds) this.caseIds = caseIds.slice();
    else {
      const names = fs.readdirSync(folder);
      const ids = new Set<string>();
      for (const n of names) {
        if (!n.endsWith('.npy')) continue;
        if (n.endsWith('_data.npy')) ids.add(n.slice(0, -9));
        else if (!n.endsWith('_seg.npy') && !n.endsWith('_segFromPrevStage.npy')) ids.add(n.slice(0, -4));
      }
      this.caseIds = Array.from(ids).sort();
    }
  }
  load(id: string): PreprocessedCase {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const f = (s: string) => path.join(this.folder, id + s);
    let data: Float32Array;
    let seg: Float32Array | Int8Array;
    let shape: [number, number, number, number];
    if (fs.existsSync(f('_seg.npy'))) {
      // sdk/preprocessing layout: <id>.npy (or <id>_data.npy) image channels, <id>_seg.npy (1, Z, Y, X) int8
      const dataFile = fs.existsSync(f('.npy')) ? f('.npy') : f('_data.npy');
      if (!fs.existsSync(dataFile)) throw new Error(`NpyFolderCaseProvider: ${f('_seg.npy')} exists but ${f('.npy')} does not`);
      const d = readNpy(dataFile);
      const s = readNpy(f('_seg.npy'));
      if (d.shape.length !== 4) throw new Error(`${dataFile}: expected (C, Z, Y, X), got shape [${d.shape}]`);
      const sShape = s.shape.length === 4 ? s.shape.slice(1) : s.shape;
      if ((s.shape.length === 4 && s.shape[0] !== 1) || sShape.join() !== d.shape.slice(1).join())
        throw new Error(`${f('_seg.npy')}: shape [${s.shape}] does not match data [${d.shape}] (expected (1, Z, Y, X))`);
      shape = d.shape as [number, number, number, number];
      data = d.data instanceof Float32Array ? d.data : Float32Array.from(d.data as ArrayLike<number>);
      seg = s.data instanceof Int8Array || s.data instanceof Float32Array ? s.data : Float32Array.from(s.data as ArrayLike<number>);
    } else if (fs.existsSync(f('.npy'))) {
      // v1 unpacked .npz layout: one array, image channels then the seg channel
      const a = readNpy(f('.npy'));
      if (a.shape.length !== 4 || a.shape[0] < 2)
        throw new Error(`${f('.npy')}: expected (C+1, Z, Y, X) with image channels then seg, got shape [${a.shape}]`);
      const all = Float32Array.from(a.data as ArrayLike<number>);
      const n = a.shape[1] * a.shape[2] * a.shape[3];
      shape = [a.shape[0] - 1, a.shape[1], a.shape[2], a.shape[3]];
      data = all.subarray(0, shape[0] * n);
      seg = all.subarray(shape[0] * n);
    } else {
      throw new Error(`NpyFolderCaseProvider: no ${id}.npy or ${id}_data.npy in ${this.folder}`);
    }
    const propsFile = fs.existsSync(f('.json')) ? f('.json') : f('_properties.json');
    if (!fs.existsSync(propsFile)) throw new Error(`NpyFolderCaseProvider: missing properties ${f('.json')} (class locations)`);
    const props = readJsonSync(propsFile) as Record<string, unknown>;
    const cl = (props['class_locations'] ?? props['classLocations']) as Record<string, number[][]> | undefined;
    if (!cl || typeof cl !== 'object') throw new Error(`${propsFile}: no class_locations (rerun preprocessing)`);
    const c: PreprocessedCase = { data, seg, shape, classLocations: cl };
    if (fs.existsSync(f('_segFromPrevStage.npy')))
      c.segFromPrevStage = Float32Array.from(readNpy(f('_segFromPrevStage.npy')).data as ArrayLike<number>);
    if (this.cacheCases) this.cache.set(id, c);
    return c;
  }
}

/**
 * `get_do_oversample`: sample j is forced to contain foreground iff not j < round(bs·(1 − p)), Python half-even round
 * of the float product (reference A.5).
 */
export function isForcedForeground(sampleIndex: number, batchSize: number, oversampleForegroundPercent: number): boolean {
  return !(sampleIndex < roundHalfEven(batchSize * (1 - oversampleForegroundPercent)));
}

export function forcedForegroundIndices(batchSize: number, oversampleForegroundPercent = 0.33): number[] {
  const out: number[] = [];
  for (let j = 0; j < batchSize; j++) if (isForcedForeground(j, batchSize, oversampleForegroundPercent)) out.push(j);
  return out;
}

export interface DataLoaderOptions {
  /** Patch the loader crops (basic_generator_patch_size for training, the final patch for validation). */
  patchSize: readonly number[];
  /** Network patch size (the crop after augmentation). */
  finalPatchSize: readonly number[];
  batchSize: number;
  /** nnUNetTrainer.oversample_foreground_percent = 0.33. */
  oversampleForegroundPercent?: number;
  /** Cascade: load the previous-stage seg as a second seg channel (padded with 0). */
  hasPrevStage?: boolean;
  /** Extra padding per axis (pad_all_sides, None in V2). */
  padSides?: readonly number[] | null;
  /**
   * Older v1 code (before `need_to_pad = self.need_to_pad.copy()`) aliased the loader's array, so the enlargement for
   * a case smaller than the patch persisted for all later cases and batches. The last v1 commit (db16c6ce, the
   * official CPU baseline) copies it per case: false (default) reproduces that; true emulates the older code.
   */
  persistentNeedToPad?: boolean;
}

/** Foreground classes with at least one stored location, label > 0, in the dict's key order. */
function foregroundClasses(cl: Record<string, ArrayLike<number>[]>): string[] {
  return Object.keys(cl).filter((k) => Number(k) > 0 && cl[k] && cl[k].length > 0);
}

function lowerUpperBounds(needToPad: readonly number[], shape: readonly number[], patch: readonly number[], d: number) {
  const n = needToPad[d];
  // lb = -n // 2 (Python: unary minus first, then floor division); ub = shape + n // 2 + n % 2 - patch
  const lb = floorDiv(-n, 2);
  const ub = shape[d] + floorDiv(n, 2) + pyMod(n, 2) - patch[d];
  return [lb, ub] as const;
}

abstract class DataLoaderBase {
  readonly patchSize: number[];
  readonly finalPatchSize: number[];
  readonly batchSize: number;
  readonly oversampleForegroundPercent: number;
  readonly hasPrevStage: boolean;
  readonly persistentNeedToPad: boolean;
  protected needToPad: number[];
  protected readonly baseNeedToPad: number[];
  constructor(readonly provider: CaseProvider, o: DataLoaderOptions, readonly rng: RandomState, dim: number) {
    if (o.patchSize.length !== dim || o.finalPatchSize.length !== dim)
      throw new Error(`DataLoader${dim}D: patch sizes must have ${dim} entries, got [${o.patchSize}] / [${o.finalPatchSize}]`);
    if (!(o.batchSize >= 1)) throw new Error(`DataLoader${dim}D: batch size must be >= 1, got ${o.batchSize}`);
    if (provider.caseIds.length === 0) throw new Error(`DataLoader${dim}D: the case provider has no cases`);
    this.patchSize = o.patchSize.slice();
    this.finalPatchSize = o.finalPatchSize.slice();
    this.batchSize = o.batchSize;
    this.oversampleForegroundPercent = o.oversampleForegroundPercent ?? 0.33;
    this.hasPrevStage = !!o.hasPrevStage;
    this.persistentNeedToPad = o.persistentNeedToPad ?? false;
    this.baseNeedToPad = this.patchSize.map((p, i) => p - this.finalPatchSize[i] + (o.padSides ? o.padSides[i] : 0));
    this.needToPad = this.baseNeedToPad.slice();
  }
  getDoOversample(j: number): boolean {
    return isForcedForeground(j, this.batchSize, this.oversampleForegroundPercent);
  }
  /** np.random.choice(list_of_keys, batch_size, True): randint per draw. */
  protected selectKeys(): string[] {
    const ids = this.provider.caseIds;
    const idx = this.rng.choiceWithReplacement(ids.length, this.batchSize);
    return Array.from(idx, (i) => ids[i]);
  }
  protected currentNeedToPad(spatial: readonly number[]): number[] {
    const ntp = this.persistentNeedToPad ? this.needToPad : this.baseNeedToPad.slice();
    for (let d = 0; d < spatial.length; d++)
      if (ntp[d] + spatial[d] < this.patchSize[d]) ntp[d] = this.patchSize[d] - spatial[d];
    return ntp;
  }
  abstract generateTrainBatch(): Promise<LoaderBatch>;
}

/** DataLoader3D.generate_train_batch. */
export class DataLoader3D extends DataLoaderBase {
  constructor(provider: CaseProvider, o: DataLoaderOptions, rng: RandomState) {
    super(provider, o, rng, 3);
  }

  async generateTrainBatch(): Promise<LoaderBatch> {
    const keys = this.selectKeys();
    const P = this.patchSize;
    const nVox = prod(P);
    let dataC = -1;
    let data = new Float32Array(0);
    const segC = this.hasPrevStage ? 2 : 1;
    const seg = new Float32Array(this.batchSize * segC * nVox);
    for (let j = 0; j < keys.length; j++) {
      const forceFg = this.getDoOversample(j);
      const c = await this.provider.load(keys[j]);
      const [C, Z, Y, X] = c.shape;
      if (dataC < 0) {
        dataC = C;
        data = new Float32Array(this.batchSize * C * nVox);
      } else if (C !== dataC) throw new Error(`DataLoader3D: case ${keys[j]} has ${C} channels, expected ${dataC}`);
      checkCase(keys[j], c);
      const shape = [Z, Y, X];
      const ntp = this.currentNeedToPad(shape);
      const b = [0, 1, 2].map((d) => lowerUpperBounds(ntp, shape, P, d));
      let lb: number[];
      if (!forceFg) {
        lb = b.map(([l, u]) => this.rng.randint(l, u + 1));
      } else {
        const fg = foregroundClasses(c.classLocations);
        if (fg.length === 0) {
          // "case does not contain any foreground classes": fall back to a random crop
          lb = b.map(([l, u]) => this.rng.randint(l, u + 1));
        } else {
          const cls = fg[this.rng.randint(0, fg.length)]; // np.random.choice(foreground_classes)
          const vox = c.classLocations[cls];
          const v = vox[this.rng.randint(0, vox.length)]; // np.random.choice(len(voxels))
          // lower corner = max(lb, voxel - patch // 2); no clamp at the upper bound (quirk B.4)
          lb = [0, 1, 2].map((d) => Math.max(b[d][0], v[d] - floorDiv(P[d], 2)));
        }
      }
      for (let ch = 0; ch < C; ch++)
        cropPadInto(c.data, ch * Z * Y * X, shape, lb, P, 0, data, (j * C + ch) * nVox);
      cropPadInto(c.seg, 0, shape, lb, P, -1, seg, j * segC * nVox);
      if (this.hasPrevStage) {
        if (!c.segFromPrevStage) throw new Error(`DataLoader3D: case ${keys[j]} has no segFromPrevStage (cascade)`);
        cropPadInto(c.segFromPrevStage, 0, shape, lb, P, 0, seg, (j * segC + 1) * nVox);
      }
    }
    return { data, dataShape: [this.batchSize, dataC, ...P], seg, segShape: [this.batchSize, segC, ...P], keys };
  }
}

/**
 * DataLoader2D.generate_train_batch (pseudo_3d_slices = 1): a slice along axis 0 is chosen first (random, or a random
 * slice among those holding the chosen class), then the 2D crop; a forced sample centres its crop on a stored voxel of
 * that slice, (y, x). (Older v1 code forgot `voxels_of_that_class[:, 1:]` and centred on (slice index, y); the last v1
 * commit, db16c6ce, which the official CPU baseline ran, strips the slice index.)
 */
export class DataLoader2D extends DataLoaderBase {
  constructor(provider: CaseProvider, o: DataLoaderOptions, rng: RandomState) {
    super(provider, o, rng, 2);
  }

  async generateTrainBatch(): Promise<LoaderBatch> {
    const keys = this.selectKeys();
    const P = this.patchSize;
    const nVox = prod(P);
    let dataC = -1;
    let data = new Float32Array(0);
    const seg = new Float32Array(this.batchSize * nVox);
    for (let j = 0; j < keys.length; j++) {
      const c = await this.provider.load(keys[j]);
      const forceFg = this.getDoOversample(j);
      const [C, Z, Y, X] = c.shape;
      if (dataC < 0) {
        dataC = C;
        data = new Float32Array(this.batchSize * C * nVox);
      } else if (C !== dataC) throw new Error(`DataLoader2D: case ${keys[j]} has ${C} channels, expected ${dataC}`);
      checkCase(keys[j], c);
      let slice: number;
      let voxels: ArrayLike<number>[] | null = null;
      if (!forceFg) {
        slice = this.rng.randint(0, Z); // np.random.choice(shape[1])
      } else {
        const fg = foregroundClasses(c.classLocations);
        if (fg.length === 0) {
          slice = this.rng.randint(0, Z);
        } else {
          const cls = fg[this.rng.randint(0, fg.length)];
          const all = c.classLocations[cls];
          const valid = Array.from(new Set(all.map((v) => v[0]))).sort((a, b) => a - b); // np.unique(voxels[:, 0])
          slice = valid[this.rng.randint(0, valid.length)];
          voxels = all.filter((v) => v[0] === slice).map((v) => [v[1], v[2]]); // voxels_of_that_class[:, 1:]
        }
      }
      const shape = [Y, X];
      const ntp = this.currentNeedToPad(shape);
      const b = [0, 1].map((d) => lowerUpperBounds(ntp, shape, P, d));
      let lb: number[];
      if (voxels === null) {
        lb = b.map(([l, u]) => this.rng.randint(l, u + 1));
      } else {
        const v = voxels[this.rng.randint(0, voxels.length)];
        lb = [0, 1].map((d) => Math.max(b[d][0], v[d] - floorDiv(P[d], 2))); // v = (y, x) of the chosen voxel
      }
      const sliceN = Y * X;
      for (let ch = 0; ch < C; ch++)
        cropPadInto(c.data, (ch * Z + slice) * sliceN, shape, lb, P, 0, data, (j * C + ch) * nVox);
      cropPadInto(c.seg, slice * sliceN, shape, lb, P, -1, seg, j * nVox);
    }
    return { data, dataShape: [this.batchSize, dataC, ...P], seg, segShape: [this.batchSize, 1, ...P], keys };
  }
}

function checkCase(id: string, c: PreprocessedCase): void {
  const n = c.shape[1] * c.shape[2] * c.shape[3];
  if (c.data.length !== c.shape[0] * n)
    throw new Error(`case ${id}: data has ${c.data.length} values, shape [${c.shape}] needs ${c.shape[0] * n}`);
  if (c.seg.length !== n) throw new Error(`case ${id}: seg has ${c.seg.length} values, expected ${n} for [${c.shape.slice(1)}]`);
}
