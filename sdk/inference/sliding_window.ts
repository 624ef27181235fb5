/**
 * Sliding-window prediction as nnU-Net v1 does it (S1 network_architecture/neural_network.py:
 * `_compute_steps_for_sliding_window`, `_internal_predict_3D_3Dconv_tiled`, `_internal_maybe_mirror_and_pred_3D`,
 * `_internal_predict_3D_2Dconv_tiled`, `_internal_predict_2D_2Dconv_tiled`; batchgenerators `pad_nd_image`).
 *
 * The network is a function (the network-call boundary, see `PatchPredictor`): channels-first Float32Array in,
 * channels-first Float32Array out. Everything else (padding, tiling, mirroring TTA, softmax, Gaussian weighting,
 * aggregation, cropping) happens here on typed arrays.
 */
import { getGaussian } from './gaussian';
import { roundHalfEven } from '../util/numeric';

/**
 * The network-call boundary. `batch` is C order over `shape` = [N, C_in, ...spatial] (spatial = [pz, py, px] for a
 * 3D network, [py, px] for a 2D network). Must resolve to C order over [N, numClasses, ...spatial]: logits
 * (`outputs: 'logits'`, the default: nnU-Net networks end without a nonlinearity and v1 applies softmax to every
 * prediction) or probabilities (`outputs: 'softmax'`). The tfjs networks are channels-last inside; the adapter that
 * transposes at this boundary belongs to the caller.
 */
export type PatchPredictor = (batch: Float32Array, shape: readonly number[]) => Promise<Float32Array>;

export interface SlidingWindowOptions {
  /** Network patch size: 3 numbers (3D network) or 2 numbers (2D network applied slice by slice along axis 0). */
  patchSize: readonly number[];
  numClasses: number;
  predictPatch: PatchPredictor;
  /** Fraction of the patch between tile starts (v1 default 0.5). */
  stepSize?: number;
  /** Gaussian importance weighting (v1 default true). */
  useGaussian?: boolean;
  /**
   * Mirror TTA axes in the network's spatial axes: 3D (0,1,2) = (z,y,x), 2D (0,1) = (y,x) of a slice. Empty = no
   * mirroring. v1 default: all spatial axes (nnUNetTrainerV2.setup_DA_params: 3D (0,1,2), 2D (0,1)).
   */
  mirrorAxes?: readonly number[];
  /** What the network returns (default 'logits'). */
  outputs?: 'logits' | 'softmax';
  /** Tiles per network call (each tile contributes all its mirror variants to the batch). Default 1, as v1. */
  tilesPerBatch?: number;
  /**
   * Network calls in flight at once (default 1). Above 1 the next calls are made before the earlier results are
   * aggregated, for a predictPatch that runs calls in parallel (Node's TileWorkers); results are still aggregated in
   * tile order. When a case has fewer calls than that (one tile with its mirrorings), each call's batch is split into
   * `concurrency` calls of its samples instead. The output does not depend on it (the networks compute each sample on
   * its own).
   */
  concurrency?: number;
  /** Called after each network call with (tiles done, tiles total); a returned promise is awaited (a page repaints). */
  onProgress?: (done: number, total: number) => void | Promise<void>;
  /** Checked before every network call: an aborted signal stops the prediction with a PredictionCancelled error. */
  signal?: AbortSignal;
}

/** Thrown when SlidingWindowOptions.signal is aborted (e.g. the web app's cancel button). */
export class PredictionCancelled extends Error {
  constructor() {
    super('prediction cancelled');
    this.name = 'PredictionCancelled';
  }
}

/** Class probabilities (C, Z, Y, X), float32, C order. */
export interface ClassProbabilities {
  data: Float32Array;
  /** [C, Z, Y, X] */
  shape: [number, number, number, number];
}

/**
 * v1 `_compute_steps_for_sliding_window`: per axis, num_steps = ceil((size - patch) / (patch * step)) + 1 and the
 * positions are round(i * (size - patch) / (num_steps - 1)) with numpy's half-to-even rounding.
 */
export function computeSlidingWindowSteps(
  patchSize: readonly number[],
  imageSize: readonly number[],
  stepSize = 0.5,
): number[][] {
  if (patchSize.length !== imageSize.length) {
    throw new Error(`computeSlidingWindowSteps: patch [${patchSize}] and image [${imageSize}] differ in dimensionality`);
  }
  if (!(stepSize > 0 && stepSize <= 1)) {
    throw new Error(`computeSlidingWindowSteps: step_size must be in (0, 1], got ${stepSize}`);
  }
  return patchSize.map((p, d) => {
    const size = imageSize[d];
    if (size < p) {
      throw new Error(`computeSlidingWindowSteps: image size ${size} < patch size ${p} on axis ${d} (pad first)`);
    }
    const target = p * stepSize;
    const numSteps = Math.ceil((size - p) / target) + 1;
    const maxStep = size - p;
    const actual = numSteps > 1 ? maxStep / (numSteps - 1) : 99999999999; // v1: irrelevant, one step at 0
    const steps: number[] = [];
    for (let i = 0; i < numSteps; i++) steps.push(roundHalfEven(actual * i));
    return steps;
  });
}

/**
 * Mirror combinations in v1's order (`_internal_maybe_mirror_and_pred_3D`: none, x, y, yx, z, zx, zy, zyx; the 2D
 * version: none, x, y, yx), restricted to combinations whose axes are all in `mirrorAxes`.
 */
export function mirrorCombinations(ndim: 2 | 3, mirrorAxes: readonly number[]): number[][] {
  for (const a of mirrorAxes) {
    if (!Number.isInteger(a) || a < 0 || a >= ndim) {
      throw new Error(`mirror axes [${mirrorAxes}] invalid for a ${ndim}D network (v1: "mirror axes. duh")`);
    }
  }
  const order3: number[][] = [[], [2], [1], [2, 1], [0], [2, 0], [1, 0], [1, 0, 2]];
  const order2: number[][] = [[], [1], [0], [1, 0]];
  const order = ndim === 3 ? order3 : order2;
  return order.filter((combo) => combo.every((a) => mirrorAxes.includes(a)));
}

/**
 * Predict class probabilities of a preprocessed case. `image` is C order over `shape` = [C, Z, Y, X]. A 3-number
 * patch runs a 3D network over 3D tiles; a 2-number patch runs a 2D network over every axis-0 slice (v1
 * `predict_3D` with a 2D network). Returns (numClasses, Z, Y, X) probabilities.
 *
 * Memory: two float32 buffers over the padded volume (numClasses sums + one weight map; v1 keeps one weight map per
 * class with identical values) plus one batch of tiles.
 */
export async function predictSlidingWindow(
  image: Float32Array,
  shape: readonly number[],
  opts: SlidingWindowOptions,
): Promise<ClassProbabilities> {
  if (shape.length !== 4) throw new Error(`predictSlidingWindow: shape must be [C, Z, Y, X], got [${shape}]`);
  const [cin, Z, Y, X] = shape;
  if (image.length !== cin * Z * Y * X) {
    throw new Error(`predictSlidingWindow: image has ${image.length} values, shape [${shape}] needs ${cin * Z * Y * X}`);
  }
  const nd = opts.patchSize.length;
  if (nd !== 2 && nd !== 3) throw new Error(`predictSlidingWindow: patch size must have 2 or 3 axes, got [${opts.patchSize}]`);
  const numClasses = opts.numClasses;
  if (!(Number.isInteger(numClasses) && numClasses >= 1)) throw new Error(`predictSlidingWindow: bad numClasses ${numClasses}`);
  const stepSize = opts.stepSize ?? 0.5;
  const useGaussian = opts.useGaussian ?? true;
  const mirrorAxes = opts.mirrorAxes ?? (nd === 3 ? [0, 1, 2] : [0, 1]);
  const combos = mirrorCombinations(nd, mirrorAxes);
  const outputs = opts.outputs ?? 'logits';
  const tilesPerBatch = Math.max(1, Math.floor(opts.tilesPerBatch ?? 1));

  // Work in 3D terms: a 2D network sees tiles of depth 1 and never mirrors or pads axis 0.
  const patch3 = nd === 3 ? [...opts.patchSize] : [1, ...opts.patchSize];
  const netSpatial = [...opts.patchSize];
  const mirror3 = combos.map((c) => (nd === 3 ? c : c.map((a) => a + 1)));

  // pad_nd_image(x, patch_size, 'constant', {constant_values: 0}): below = diff // 2, above = diff - below.
  const inSize = [Z, Y, X];
  const padded = inSize.map((s, d) => Math.max(s, patch3[d]));
  const below = padded.map((p, d) => Math.floor((p - inSize[d]) / 2));
  const [PZ, PY, PX] = padded;
  const pvox = PZ * PY * PX;
  const needsPad = padded.some((p, d) => p !== inSize[d]);
  let data = image;
  if (needsPad) {
    data = new Float32Array(cin * pvox);
    for (let c = 0; c < cin; c++) {
      for (let z = 0; z < Z; z++) {
        for (let y = 0; y < Y; y++) {
          const src = ((c * Z + z) * Y + y) * X;
          const dst = ((c * PZ + z + below[0]) * PY + y + below[1]) * PX + below[2];
          data.set(image.subarray(src, src + X), dst);
        }
      }
    }
  }

  // Tiles. 3D: steps over the padded volume. 2D: every slice, 2D steps over the padded slice.
  const steps3 =
    nd === 3
      ? computeSlidingWindowSteps(patch3, padded, stepSize)
      : [Array.from({ length: PZ }, (_, i) => i), ...computeSlidingWindowSteps(netSpatial, [PY, PX], stepSize)];
  const tiles: [number, number, number][] = [];
  for (const z of steps3[0]) for (const y of steps3[1]) for (const x of steps3[2]) tiles.push([z, y, x]);

  const [pz, py, px] = patch3;
  const tvox = pz * py * px;
  // v1 computes the Gaussian whenever use_gaussian is set (a single tile then divides it out again).
  const weight = useGaussian ? getGaussian(netSpatial, 1 / 8) : null; // broadcast over depth 1 for 2D
  const sums = new Float32Array(numClasses * pvox);
  const weights = new Float32Array(pvox);

  const nMir = mirror3.length;
  const invNum = 1 / 2 ** mirrorAxes.length; // v1: 1 / num_results with num_results = 2 ** len(mirror_axes)
  const tileAcc = new Float32Array(numClasses * tvox);
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const groups: [number, number, number][][] = [];
  for (let t0 = 0; t0 < tiles.length; t0 += tilesPerBatch) groups.push(tiles.slice(t0, t0 + tilesPerBatch));
  // with fewer calls than can be in flight, each call's batch is split instead (see launch)
  const split = groups.length < concurrency ? concurrency : 1;
  const launch = (group: [number, number, number][]): Promise<Float32Array> => {
    const n = group.length * nMir;
    const batch = new Float32Array(n * cin * tvox);
    group.forEach(([z0, y0, x0], g) => {
      for (let m = 0; m < nMir; m++) {
        const off = (g * nMir + m) * cin * tvox;
        extractTile(data, cin, [PZ, PY, PX], [z0, y0, x0], patch3, mirror3[m], batch, off);
      }
    });
    if (opts.signal?.aborted) throw new PredictionCancelled();
    if (split <= 1 || n < 2) return opts.predictPatch(batch, [n, cin, ...netSpatial]);
    // fewer calls than instances (a one-tile case with its mirrorings): the batch's samples in `split` calls, so every
    // instance computes a share; the outputs are put back together in sample order
    const per = cin * tvox;
    const outPer = numClasses * tvox;
    const parts: Promise<Float32Array>[] = [];
    const ranges: [number, number][] = [];
    for (let i = 0, a = 0; i < split; i++) {
      const len = Math.floor(n / split) + (i < n % split ? 1 : 0);
      if (len > 0) ranges.push([a, a + len]);
      a += len;
    }
    for (const [a, b] of ranges) parts.push(opts.predictPatch(batch.subarray(a * per, b * per), [b - a, cin, ...netSpatial]));
    return Promise.all(parts).then((outs) => {
      const res = new Float32Array(n * outPer);
      outs.forEach((o, i) => {
        const [a, b] = ranges[i];
        if (!(o instanceof Float32Array) || o.length !== (b - a) * outPer) {
          throw new Error(`predictSlidingWindow: network returned ${o?.length} values for batch [${b - a}, ${numClasses}, ${netSpatial}] (expected a Float32Array of ${(b - a) * outPer})`);
        }
        res.set(o, a * outPer);
      });
      return res;
    });
  };
  // calls in flight, oldest first; on an error the later ones are left to settle unobserved
  const inFlight: Promise<Float32Array>[] = [];
  const abandon = () => inFlight.forEach((p) => p.catch(() => undefined));
  let launched = 0;
  let done = 0;
  try {
    for (let gi = 0; gi < groups.length; gi++) {
      while (launched < groups.length && launched < gi + concurrency) inFlight.push(launch(groups[launched++]));
      const group = groups[gi];
      const n = group.length * nMir;
      const out = await (inFlight.shift() as Promise<Float32Array>);
      if (!(out instanceof Float32Array) || out.length !== n * numClasses * tvox) {
        throw new Error(
          `predictSlidingWindow: network returned ${out?.length} values for batch [${n}, ${numClasses}, ${netSpatial}]` +
            ` (expected a Float32Array of ${n * numClasses * tvox})`,
        );
      }
      for (let g = 0; g < group.length; g++) {
        tileAcc.fill(0);
        for (let m = 0; m < nMir; m++) {
          const off = (g * nMir + m) * numClasses * tvox;
          const pred = out.subarray(off, off + numClasses * tvox);
          accumulateFlipped(pred, numClasses, patch3, mirror3[m], invNum, tileAcc, outputs === 'logits');
        }
        const [z0, y0, x0] = group[g];
        for (let c = 0; c < numClasses; c++) {
          for (let z = 0; z < pz; z++) {
            for (let y = 0; y < py; y++) {
              const tOff = ((c * pz + z) * py + y) * px;
              const gOff = (z * py + y) * px;
              const dOff = ((c * PZ + z0 + z) * PY + y0 + y) * PX + x0;
              for (let x = 0; x < px; x++) {
                // v1: result *= gaussian (float32), then aggregated += result
                const v = weight ? Math.fround(tileAcc[tOff + x] * weight[gOff + x]) : tileAcc[tOff + x];
                sums[dOff + x] += v;
              }
            }
          }
        }
        for (let z = 0; z < pz; z++) {
          for (let y = 0; y < py; y++) {
            const gOff = (z * py + y) * px;
            const dOff = ((z0 + z) * PY + y0 + y) * PX + x0;
            for (let x = 0; x < px; x++) weights[dOff + x] += weight ? weight[gOff + x] : 1;
          }
        }
      }
      done += group.length;
      await opts.onProgress?.(done, tiles.length);
    }
  } catch (e) {
    abandon();
    throw e;
  }

  // Crop the padding away and divide (v1: aggregated_results / aggregated_nb_of_predictions, float32).
  const res = new Float32Array(numClasses * Z * Y * X);
  for (let c = 0; c < numClasses; c++) {
    for (let z = 0; z < Z; z++) {
      for (let y = 0; y < Y; y++) {
        const sOff = ((c * PZ + z + below[0]) * PY + y + below[1]) * PX + below[2];
        const wOff = ((z + below[0]) * PY + y + below[1]) * PX + below[2];
        const rOff = ((c * Z + z) * Y + y) * X;
        for (let x = 0; x < X; x++) res[rOff + x] = sums[sOff + x] / weights[wOff + x];
      }
    }
  }
  return { data: res, shape: [numClasses, Z, Y, X] };
}

/** Copy tile [start, start+patch) of every channel into `dst` at `off`, flipped along `flipAxes` (3D axes). */
function extractTile(
  src: Float32Array,
  cin: number,
  size: number[],
  start: number[],
  patch: number[],
  flipAxes: number[],
  dst: Float32Array,
  off: number,
): void {
  const [PZ, PY, PX] = size;
  const [pz, py, px] = patch;
  const fz = flipAxes.includes(0);
  const fy = flipAxes.includes(1);
  const fx = flipAxes.includes(2);
  for (let c = 0; c < cin; c++) {
    for (let z = 0; z < pz; z++) {
      const sz = start[0] + (fz ? pz - 1 - z : z);
      for (let y = 0; y < py; y++) {
        const sy = start[1] + (fy ? py - 1 - y : y);
        const sOff = ((c * PZ + sz) * PY + sy) * PX + start[2];
        const dOff = off + ((c * pz + z) * py + y) * px;
        if (fx) for (let x = 0; x < px; x++) dst[dOff + x] = src[sOff + px - 1 - x];
        else dst.set(src.subarray(sOff, sOff + px), dOff);
      }
    }
  }
}

/**
 * acc += w * softmax(flip(pred)) (flip the mirrored prediction back; softmax over classes when the network
 * returns logits), float32 arithmetic as v1's result_torch. One pass over the tile, classes innermost.
 */
function accumulateFlipped(
  pred: Float32Array,
  numClasses: number,
  patch: number[],
  flipAxes: number[],
  w: number,
  acc: Float32Array,
  applySoftmax: boolean,
): void {
  const [pz, py, px] = patch;
  const tvox = pz * py * px;
  const fz = flipAxes.includes(0);
  const fy = flipAxes.includes(1);
  const fx = flipAxes.includes(2);
  const wf = Math.fround(w);
  const e = new Float64Array(numClasses);
  for (let z = 0; z < pz; z++) {
    const sz = fz ? pz - 1 - z : z;
    for (let y = 0; y < py; y++) {
      const sy = fy ? py - 1 - y : y;
      const sRow = (sz * py + sy) * px + (fx ? px - 1 : 0);
      const sStep = fx ? -1 : 1;
      const dRow = (z * py + y) * px;
      if (applySoftmax && numClasses === 2) {
        // the general softmax below, unrolled: e = exp(low - high), p_high = 1 / (1 + e), p_low = e / (1 + e)
        for (let x = 0; x < px; x++) {
          const si = sRow + x * sStep;
          const di = dRow + x;
          const l0 = pred[si];
          const l1 = pred[tvox + si];
          let p0: number;
          let p1: number;
          if (l0 >= l1) {
            const ex = l1 === l0 ? 1 : Math.exp(l1 - l0);
            const sum = 1 + ex;
            p0 = 1 / sum;
            p1 = ex / sum;
          } else {
            const ex = Math.exp(l0 - l1);
            const sum = ex + 1;
            p0 = ex / sum;
            p1 = 1 / sum;
          }
          acc[di] += Math.fround(wf * Math.fround(p0));
          acc[tvox + di] += Math.fround(wf * Math.fround(p1));
        }
        continue;
      }
      for (let x = 0; x < px; x++) {
        const si = sRow + x * sStep;
        const di = dRow + x;
        if (applySoftmax) {
          let m = -Infinity;
          for (let c = 0; c < numClasses; c++) if (pred[c * tvox + si] > m) m = pred[c * tvox + si];
          let sum = 0;
          for (let c = 0; c < numClasses; c++) {
            const l = pred[c * tvox + si];
            const ex = l === m ? 1 : Math.exp(l - m);
            e[c] = ex;
            sum += ex;
          }
          for (let c = 0; c < numClasses; c++) acc[c * tvox + di] += Math.fround(wf * Math.fround(e[c] / sum));
        } else {
          for (let c = 0; c < numClasses; c++) acc[c * tvox + di] += Math.fround(wf * pred[c * tvox + si]);
        }
      }
    }
  }
}

/** Softmax over the class axis of one (C, V) block, in place (max-subtracted, float64 math, float32 result). */
export function softmaxInPlace(a: Float32Array, numClasses: number, nvox: number): void {
  for (let v = 0; v < nvox; v++) {
    let mx = -Infinity;
    for (let c = 0; c < numClasses; c++) if (a[c * nvox + v] > mx) mx = a[c * nvox + v];
    let s = 0;
    for (let c = 0; c < numClasses; c++) s += Math.exp(a[c * nvox + v] - mx);
    for (let c = 0; c < numClasses; c++) a[c * nvox + v] = Math.exp(a[c * nvox + v] - mx) / s;
  }
}

/**
 * Fold ensembling (v1 `predict.py::predict_cases`): predict with every model (each with its own TTA) and average
 * the softmax maps (sum in float32, then divide by the number of models). Holds one extra buffer, not all maps.
 */
export async function predictEnsemble(
  image: Float32Array,
  shape: readonly number[],
  opts: Omit<SlidingWindowOptions, 'predictPatch'>,
  predictors: readonly PatchPredictor[],
): Promise<ClassProbabilities> {
  if (predictors.length === 0) throw new Error('predictEnsemble: no models given');
  let sum: ClassProbabilities | null = null;
  for (const [k, p] of predictors.entries()) {
    // progress over all models: model k's tiles come after the k models before it
    const onProgress = opts.onProgress && ((done: number, total: number) => opts.onProgress!(k * total + done, predictors.length * total));
    const r = await predictSlidingWindow(image, shape, { ...opts, predictPatch: p, onProgress });
    if (sum === null) sum = r;
    else for (let i = 0; i < sum.data.length; i++) sum.data[i] += r.data[i];
  }
  const s = sum as ClassProbabilities;
  const n = predictors.length;
  for (let i = 0; i < s.data.length; i++) s.data[i] /= n;
  return s;
}

/** argmax over the class axis of (C, Z, Y, X) probabilities; ties go to the lowest class, as numpy. */
export function argmaxClasses(probs: ClassProbabilities): Uint8Array {
  const [C, Z, Y, X] = probs.shape;
  const n = Z * Y * X;
  if (C > 256) throw new Error(`argmaxClasses: ${C} classes do not fit uint8`);
  const out = new Uint8Array(n);
  const d = probs.data;
  for (let v = 0; v < n; v++) {
    let best = 0;
    let bv = d[v];
    for (let c = 1; c < C; c++) {
      const x = d[c * n + v];
      if (x > bv) {
        bv = x;
        best = c;
      }
    }
    out[v] = best;
  }
  return out;
}
