/**
 * Sliding-window prediction as nnU-Net v2 does it (MIC-DKFZ/nnUNet master, nnunetv2/inference/predict_from_raw_data.py
 * at commit 00f73256: `nnUNetPredictor.predict_sliding_window_return_logits`,
 * `_internal_predict_sliding_window_return_logits`, `_internal_maybe_mirror_and_predict`,
 * `_internal_get_sliding_window_slicers`; sliding_window_prediction.py `compute_gaussian`,
 * `compute_steps_for_sliding_window`). What differs from v1 (sliding_window.ts) and changes outputs:
 *
 *  - logits, not probabilities, are averaged: per tile the network output and its mirrored versions are summed in
 *    float32 (all non-empty combinations of `inference_allowed_mirroring_axes`, itertools.combinations order) and
 *    divided by their count + 1; softmax is applied once, to the final averaged logits (LabelManager
 *    .apply_inference_nonlin), where v1 averages softmax maps.
 *  - the Gaussian is `compute_gaussian(sigma 1/8, value_scaling_factor 10)` cast to float16;
 *  - the aggregation buffers are float16: predicted_logits[sl] += prediction * gaussian (float32 product, float32
 *    sum, rounded to float16), n_predictions[sl] += gaussian (float16), predicted_logits /= n_predictions (float16).
 *    We emulate each rounding, so the returned logits hold float16 values, as PyTorch's;
 *  - 2D networks on 3D data: slices along axis 0 outermost, then the 2D steps (same as v1).
 *  - padding (pad_nd_image, constant 0, below = diff // 2) and the step positions are v1's.
 */
import { getGaussianV2, roundToFloat16 } from './gaussian';
import { computeSlidingWindowSteps, PredictionCancelled, type SlidingWindowOptions } from './sliding_window';

/** v1's options that v2 shares (mirrorAxes: the checkpoint's inference_allowed_mirroring_axes; [] = no mirroring). */
export type SlidingWindowV2Options = Pick<
  SlidingWindowOptions,
  'patchSize' | 'numClasses' | 'predictPatch' | 'stepSize' | 'useGaussian' | 'mirrorAxes' | 'onProgress' | 'signal'
>;

/** itertools.combinations of the axes, sizes 1..n, in Python's order. */
export function mirrorCombinationsV2(axes: readonly number[]): number[][] {
  const out: number[][] = [];
  const rec = (start: number, size: number, cur: number[]) => {
    if (cur.length === size) {
      out.push([...cur]);
      return;
    }
    for (let i = start; i < axes.length; i++) rec(i + 1, size, [...cur, axes[i]]);
  };
  for (let k = 1; k <= axes.length; k++) rec(0, k, []);
  return out;
}

/**
 * v2 averaged logits of a preprocessed case: `image` C order over [C, Z, Y, X]; returns [numClasses, Z, Y, X]
 * logits (float16 values in a Float32Array).
 */
export async function predictLogitsSlidingWindowV2(image: Float32Array, shape: readonly number[], opts: SlidingWindowV2Options): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  if (shape.length !== 4) throw new Error(`predictLogitsSlidingWindowV2: shape must be [C, Z, Y, X], got [${shape}]`);
  const [cin, Z, Y, X] = shape;
  if (image.length !== cin * Z * Y * X) throw new Error(`predictLogitsSlidingWindowV2: image has ${image.length} values, shape [${shape}] needs ${cin * Z * Y * X}`);
  const nd = opts.patchSize.length;
  if (nd !== 2 && nd !== 3) throw new Error(`predictLogitsSlidingWindowV2: patch size must have 2 or 3 axes, got [${opts.patchSize}]`);
  const C = opts.numClasses;
  const mirrorAxes = opts.mirrorAxes ?? [];
  for (const a of mirrorAxes) if (!Number.isInteger(a) || a < 0 || a >= nd) throw new Error(`mirror axes [${mirrorAxes}] invalid for a ${nd}D network`);
  const combos = mirrorCombinationsV2(mirrorAxes).map((c) => (nd === 3 ? c : c.map((a) => a + 1)));
  const variants: number[][] = [[], ...combos];
  const patch3 = nd === 3 ? [...opts.patchSize] : [1, ...opts.patchSize];
  const inSize = [Z, Y, X];
  const padded = inSize.map((s, d) => Math.max(s, patch3[d]));
  const below = padded.map((p, d) => Math.floor((p - inSize[d]) / 2));
  const [PZ, PY, PX] = padded;
  const pvox = PZ * PY * PX;
  let data = image;
  if (padded.some((p, d) => p !== inSize[d])) {
    data = new Float32Array(cin * pvox);
    for (let c = 0; c < cin; c++)
      for (let z = 0; z < Z; z++)
        for (let y = 0; y < Y; y++) {
          const src = ((c * Z + z) * Y + y) * X;
          data.set(image.subarray(src, src + X), ((c * PZ + z + below[0]) * PY + y + below[1]) * PX + below[2]);
        }
  }
  const stepSize = opts.stepSize ?? 0.5;
  const steps3 =
    nd === 3
      ? computeSlidingWindowSteps(patch3, padded, stepSize)
      : [Array.from({ length: PZ }, (_, i) => i), ...computeSlidingWindowSteps(opts.patchSize, [PY, PX], stepSize)];
  const tiles: number[][] = [];
  for (const z of steps3[0]) for (const y of steps3[1]) for (const x of steps3[2]) tiles.push([z, y, x]);
  const [pz, py, px] = patch3;
  const tvox = pz * py * px;
  const gauss = opts.useGaussian === false ? null : getGaussianV2(opts.patchSize);
  const logits = new Float32Array(C * pvox); // float16 values
  const nPred = new Float32Array(pvox); // float16 values
  const nv = variants.length;
  const invCount = nv; // prediction /= (len(axes_combinations) + 1)
  const tile = new Float32Array(nv * cin * tvox);
  const acc = new Float32Array(C * tvox);
  let done = 0;
  for (const [z0, y0, x0] of tiles) {
    for (let m = 0; m < nv; m++) extract(data, cin, padded, [z0, y0, x0], patch3, variants[m], tile, m * cin * tvox);
    if (opts.signal?.aborted) throw new PredictionCancelled();
    const out = await opts.predictPatch(tile, [nv, cin, ...opts.patchSize]);
    if (!(out instanceof Float32Array) || out.length !== nv * C * tvox) {
      throw new Error(`predictLogitsSlidingWindowV2: network returned ${out?.length} values, expected ${nv * C * tvox}`);
    }
    // float32: pred = net(x); pred += flip(net(flip(x))) for each combination; pred /= count
    acc.set(out.subarray(0, C * tvox));
    for (let m = 1; m < nv; m++) addFlipped(out.subarray(m * C * tvox, (m + 1) * C * tvox), C, patch3, variants[m], acc);
    for (let c = 0; c < C; c++)
      for (let z = 0; z < pz; z++)
        for (let y = 0; y < py; y++) {
          const t = ((c * pz + z) * py + y) * px;
          const g = (z * py + y) * px;
          const dst = ((c * PZ + z0 + z) * PY + y0 + y) * PX + x0;
          for (let x = 0; x < px; x++) {
            let p = Math.fround(acc[t + x] / invCount);
            if (gauss) p = Math.fround(p * gauss[g + x]);
            logits[dst + x] = roundToFloat16(Math.fround(logits[dst + x] + p));
          }
        }
    for (let z = 0; z < pz; z++)
      for (let y = 0; y < py; y++) {
        const g = (z * py + y) * px;
        const dst = ((z0 + z) * PY + y0 + y) * PX + x0;
        for (let x = 0; x < px; x++) nPred[dst + x] = roundToFloat16(Math.fround(nPred[dst + x] + (gauss ? gauss[g + x] : 1)));
      }
    await opts.onProgress?.(++done, tiles.length);
  }
  const res = new Float32Array(C * Z * Y * X);
  for (let c = 0; c < C; c++)
    for (let z = 0; z < Z; z++)
      for (let y = 0; y < Y; y++) {
        const s = ((c * PZ + z + below[0]) * PY + y + below[1]) * PX + below[2];
        const w = ((z + below[0]) * PY + y + below[1]) * PX + below[2];
        const r = ((c * Z + z) * Y + y) * X;
        for (let x = 0; x < X; x++) res[r + x] = roundToFloat16(Math.fround(logits[s + x] / nPred[w + x]));
      }
  return { data: res, shape: [C, Z, Y, X] };
}

/** softmax over axis 0 of [C, ...] logits, float32 (LabelManager.apply_inference_nonlin: torch.softmax(logits.float(), 0)). */
export function softmaxChannelsFirst(logits: Float32Array, numClasses: number): Float32Array {
  const n = logits.length / numClasses;
  const out = new Float32Array(logits.length);
  for (let i = 0; i < n; i++) {
    let m = -Infinity;
    for (let c = 0; c < numClasses; c++) m = Math.max(m, logits[c * n + i]);
    let s = 0;
    for (let c = 0; c < numClasses; c++) s += Math.exp(logits[c * n + i] - m);
    for (let c = 0; c < numClasses; c++) out[c * n + i] = Math.exp(logits[c * n + i] - m) / s;
  }
  return out;
}

/** argmax over axis 0 (first maximum wins, as torch.argmax on CPU). */
export function argmaxChannelsFirst(probs: Float32Array, numClasses: number): Uint8Array {
  const n = probs.length / numClasses;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (probs[c * n + i] > probs[best * n + i]) best = c;
    out[i] = best;
  }
  return out;
}

function extract(src: Float32Array, cin: number, size: number[], start: number[], patch: number[], flip: number[], dst: Float32Array, off: number): void {
  const [PZ, PY, PX] = size;
  const [pz, py, px] = patch;
  const fz = flip.includes(0);
  const fy = flip.includes(1);
  const fx = flip.includes(2);
  for (let c = 0; c < cin; c++)
    for (let z = 0; z < pz; z++) {
      const sz = start[0] + (fz ? pz - 1 - z : z);
      for (let y = 0; y < py; y++) {
        const sy = start[1] + (fy ? py - 1 - y : y);
        const s = ((c * PZ + sz) * PY + sy) * PX + start[2];
        const d = off + ((c * pz + z) * py + y) * px;
        if (fx) for (let x = 0; x < px; x++) dst[d + x] = src[s + px - 1 - x];
        else dst.set(src.subarray(s, s + px), d);
      }
    }
}

/** acc += flip(pred) (float32). */
function addFlipped(pred: Float32Array, C: number, patch: number[], flip: number[], acc: Float32Array): void {
  const [pz, py, px] = patch;
  const tvox = pz * py * px;
  const fz = flip.includes(0);
  const fy = flip.includes(1);
  const fx = flip.includes(2);
  for (let c = 0; c < C; c++)
    for (let z = 0; z < pz; z++) {
      const sz = fz ? pz - 1 - z : z;
      for (let y = 0; y < py; y++) {
        const sy = fy ? py - 1 - y : y;
        const s = c * tvox + (sz * py + sy) * px;
        const d = c * tvox + (z * py + y) * px;
        for (let x = 0; x < px; x++) acc[d + x] = Math.fround(acc[d + x] + pred[s + (fx ? px - 1 - x : x)]);
      }
    }
}
