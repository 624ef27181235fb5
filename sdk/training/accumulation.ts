/**
 * Micro-batching with exact gradient accumulation, so the official batch sizes train where one batch does not fit in
 * memory (tfjs-wasm has a 4 GB heap: hippocampus 3d_fullres batch 7 at 40x56x40 or 2d batch 281 at 56x40 overflow
 * it). The network is separable over samples (instance norm, no batch norm, no dropout), so only the loss couples
 * samples:
 *   - CE is a mean over all voxels: a chunk contributes its mean times n_chunk / N.
 *   - SoftDice without batch_dice is a mean over (sample, class): same weighting.
 *   - SoftDice with batch_dice sums tp/fp/fn over the whole batch. A first forward pass (no gradients) collects the
 *     global tp/fp/fn per output and class; each chunk then back-propagates the linear surrogate
 *     Σ_c (∂L/∂tp_c)·tp_c + (∂L/∂fp_c)·fp_c + (∂L/∂fn_c)·fn_c with the partial derivatives evaluated at the global
 *     sums. Because tp/fp/fn are sums over samples, the accumulated gradient equals the full-batch gradient.
 * The loss value reported is the full-batch DC+CE (same formula as dice_ce_loss.ts) computed from the sums.
 * Cost with batch_dice: one extra (no-tape) forward pass per chunk. Values are read with `await t.data()`, never
 * synchronously (WebGPU in Node cannot read tensors synchronously), so nothing is read inside a taped function: the
 * last chunk's sums come from its own no-tape forward too, as every shard's do in accumulateGradientsShard.
 */
import * as tf from '@tensorflow/tfjs';
import { GenericUNet } from '../network/generic_unet';
import { readScalar } from '../network/read';
import { dcAndCeLoss, multipleOutputLoss } from './dice_ce_loss';

const SMOOTH = 1e-5; // SoftDiceLoss smooth (nnUNetTrainer: {'smooth': 1e-5, 'do_bg': False})

/** Chunk boundaries [start, end) covering 0..n in pieces of at most `size`. */
export function chunkRanges(n: number, size: number): [number, number][] {
  const s = Math.max(1, Math.floor(size));
  const out: [number, number][] = [];
  for (let a = 0; a < n; a += s) out.push([a, Math.min(n, a + s)]);
  return out;
}

/** Samples [a, b) of a batch tensor (axis 0). */
export function sliceBatch(t: tf.Tensor, a: number, b: number): tf.Tensor {
  const begin = t.shape.map(() => 0);
  begin[0] = a;
  const size = t.shape.map((x) => x);
  size[0] = b - a;
  return tf.slice(t, begin, size);
}

function oneHotOf(target: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  const C = logits.shape[logits.rank - 1];
  return tf.oneHot(tf.reshape(target.toInt(), [-1]) as tf.Tensor1D, C).toFloat().reshape(logits.shape);
}

/** tp, fp, fn per class summed over batch and space (tensors of shape [C]). */
function tpFpFn(logits: tf.Tensor, target: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const p = tf.softmax(logits, -1);
  const y = oneHotOf(target, logits);
  const axes = Array.from({ length: logits.rank - 1 }, (_, i) => i);
  return [tf.sum(tf.mul(p, y), axes), tf.sum(tf.mul(p, tf.sub(1, y)), axes), tf.sum(tf.mul(tf.sub(1, p), y), axes)];
}

export interface GlobalSums {
  tp: Float64Array[];
  fp: Float64Array[];
  fn: Float64Array[];
}

/** Batch-dice derivative constants per output: a (tp), b (fp and fn) over classes 1..C−1, background 0. */
function diceCoefficients(g: GlobalSums, k: number): { a: Float32Array; b: Float32Array; dice: number } {
  const C = g.tp[k].length;
  const Kf = C - 1;
  const a = new Float32Array(C);
  const b = new Float32Array(C);
  let dcSum = 0;
  for (let c = 1; c < C; c++) {
    const tp = g.tp[k][c], fp = g.fp[k][c], fn = g.fn[k][c];
    const nom = 2 * tp + SMOOTH;
    const den = 2 * tp + fp + fn + SMOOTH + 1e-8;
    dcSum += nom / den;
    // L = −(1/Kf) Σ_c dc_c;  ∂dc/∂tp = 2(den − nom)/den²,  ∂dc/∂fp = ∂dc/∂fn = −nom/den²
    a[c] = (-(1 / Kf) * 2 * (den - nom)) / (den * den);
    b[c] = ((1 / Kf) * nom) / (den * den);
  }
  return { a, b, dice: -dcSum / Kf };
}

function crossEntropyMean(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const y = oneHotOf(target, logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits, -1)), -1))) as tf.Scalar;
}

export interface AccumulatedStep {
  /** Full-batch loss value. */
  loss: number;
  /** Gradients summed over chunks, keyed by tf variable name (caller disposes). */
  grads: tf.NamedTensorMap;
}

function addInto(acc: tf.NamedTensorMap, g: tf.NamedTensorMap): void {
  for (const [n, t] of Object.entries(g)) {
    const prev = acc[n];
    if (prev) {
      acc[n] = tf.add(prev, t);
      prev.dispose();
      t.dispose();
    } else acc[n] = t;
  }
}

type Coef = { a: Float32Array; b: Float32Array; dice: number } | null;

function usedOutputs(nOut: number, weights: readonly number[]): boolean[] {
  return Array.from({ length: nOut }, (_, k) => k === 0 || weights[k] !== 0);
}

function emptySums(): GlobalSums {
  return { tp: [], fp: [], fn: [] };
}

/** Adds output k's stacked [tp; fp; fn] values (3 x C) into `sums`. */
function addSumsOf(sums: GlobalSums, k: number, v: ArrayLike<number>): void {
  const C = v.length / 3;
  if (!sums.tp[k]) (sums.tp[k] = new Float64Array(C)), (sums.fp[k] = new Float64Array(C)), (sums.fn[k] = new Float64Array(C));
  for (let c = 0; c < C; c++) {
    sums.tp[k][c] += v[c];
    sums.fp[k][c] += v[C + c];
    sums.fn[k][c] += v[2 * C + c];
  }
}

/** Adds stacked [tp; fp; fn] per used output (one tensor each, in output order) into `sums`. */
async function addSums(sums: GlobalSums, parts: tf.Tensor[], used: boolean[]): Promise<void> {
  let j = 0;
  for (let k = 0; k < used.length; k++) if (used[k]) addSumsOf(sums, k, await parts[j++].data());
}

/** Element-wise sum of batch-Dice sums (shards of one batch). */
export function combineSums(parts: readonly GlobalSums[]): GlobalSums {
  const out = emptySums();
  for (const p of parts) {
    for (const key of ['tp', 'fp', 'fn'] as const) {
      p[key].forEach((v, k) => {
        if (!v) return;
        if (!out[key][k]) out[key][k] = new Float64Array(v.length);
        for (let c = 0; c < v.length; c++) out[key][k][c] += v[c];
      });
    }
  }
  return out;
}

/** No-tape forward of one chunk: its batch-Dice sums added into `sums`. */
async function chunkSums(net: GenericUNet, data: tf.Tensor, targets: readonly tf.Tensor[], a: number, b: number, used: boolean[], sums: GlobalSums): Promise<void> {
  const parts = tf.tidy(() => {
    const outs = net.forward(sliceBatch(data, a, b), { training: true });
    const r: tf.Tensor[] = [];
    for (let k = 0; k < used.length; k++) if (used[k]) r.push(tf.stack(tpFpFn(outs[k], sliceBatch(targets[k], a, b))));
    return r;
  });
  try {
    await addSums(sums, parts, used);
  } finally {
    tf.dispose(parts);
  }
}

/** Gradients of one chunk's share of the plain (per-sample) DC+CE loss; returns the share's value. */
async function plainChunk(net: GenericUNet, data: tf.Tensor, targets: readonly tf.Tensor[], weights: readonly number[], a: number, b: number, scale: number, grads: tf.NamedTensorMap): Promise<number> {
  const xs = sliceBatch(data, a, b);
  const ts = targets.map((t) => sliceBatch(t, a, b));
  const { value, grads: g } = tf.variableGrads(() => {
    const outs = net.forward(xs, { training: true });
    const l = multipleOutputLoss(outs, ts, weights, (lo, t) => dcAndCeLoss(lo, t, { batchDice: false, smooth: SMOOTH, doBg: false }));
    return tf.mul(l, scale) as tf.Scalar;
  }, net.trainableVariables());
  let loss: number;
  try {
    loss = await readScalar(value, g);
  } finally {
    xs.dispose();
    tf.dispose(ts);
  }
  addInto(grads, g);
  return loss;
}

/**
 * Gradients of one chunk's CE share plus the linear batch-Dice surrogate at the global sums; returns the chunk's
 * weighted CE share.
 */
async function surrogateChunk(
  net: GenericUNet,
  data: tf.Tensor,
  targets: readonly tf.Tensor[],
  weights: readonly number[],
  used: boolean[],
  a: number,
  b: number,
  scale: number,
  coefOrComplete: Coef[] | ((own: tf.Tensor[]) => Coef[]),
  grads: tf.NamedTensorMap,
): Promise<number> {
  const xs = sliceBatch(data, a, b);
  const ts = targets.map((t) => sliceBatch(t, a, b));
  let ceChunk: tf.Scalar | null = null;
  const { value, grads: g } = tf.variableGrads(() => {
    const outs = net.forward(xs, { training: true });
    const stats = outs.map((o, k) => (used[k] ? tpFpFn(o, ts[k]) : null));
    let coef: Coef[];
    if (typeof coefOrComplete === 'function') {
      const own = tf.tidy(() => stats.filter((e): e is [tf.Tensor, tf.Tensor, tf.Tensor] => e !== null).map((e) => tf.stack(e)));
      coef = coefOrComplete(own);
      tf.dispose(own);
    } else coef = coefOrComplete;
    let total: tf.Tensor = tf.scalar(0);
    let ce: tf.Tensor = tf.scalar(0);
    for (let k = 0; k < used.length; k++) {
      if (!used[k]) continue;
      const w = weights[k];
      const cek = crossEntropyMean(outs[k], ts[k]);
      const [tp, fp, fn] = stats[k]!;
      const c = coef[k]!;
      const sur = tf.sum(tf.add(tf.mul(tp, tf.tensor1d(c.a)), tf.mul(tf.add(fp, fn), tf.tensor1d(c.b))));
      total = tf.add(total, tf.mul(w, tf.add(tf.mul(cek, scale), sur)));
      ce = tf.add(ce, tf.mul(w, cek));
    }
    ceChunk = tf.keep(ce.clone()) as tf.Scalar;
    return total as tf.Scalar;
  }, net.trainableVariables());
  value.dispose();
  const ceT = ceChunk as unknown as tf.Scalar;
  let ceShare: number;
  try {
    ceShare = (await readScalar(ceT, g)) * scale;
  } finally {
    xs.dispose();
    tf.dispose(ts);
  }
  addInto(grads, g);
  return ceShare;
}

function coefficients(sums: GlobalSums, used: boolean[]): Coef[] {
  return used.map((u, k) => (u ? diceCoefficients(sums, k) : null));
}

function diceLoss(coef: Coef[], weights: readonly number[]): number {
  let d = 0;
  coef.forEach((c, k) => {
    if (c) d += weights[k] * c.dice;
  });
  return d;
}

/**
 * Gradients and loss of multipleOutputLoss(DC+CE) over the whole batch, computed in chunks of `chunkSize` samples.
 * `data` is [N, ..., C_in], `targets` one integer label map per deep-supervision output.
 */
export async function accumulateGradients(
  net: GenericUNet,
  data: tf.Tensor,
  targets: readonly tf.Tensor[],
  weights: readonly number[],
  batchDice: boolean,
  chunkSize: number,
): Promise<AccumulatedStep> {
  const N = data.shape[0];
  const ranges = chunkRanges(N, chunkSize);
  const used = usedOutputs(targets.length, weights);
  const grads: tf.NamedTensorMap = {};
  if (!batchDice) {
    let loss = 0;
    for (const [a, b] of ranges) loss += await plainChunk(net, data, targets, weights, a, b, (b - a) / N, grads);
    return { loss, grads };
  }
  // pass 1: global tp/fp/fn per output and class, without a tape. Where tensors can be read synchronously (wasm,
  // cpu, tensorflow) every chunk but the last: the last chunk's taped forward of pass 2 completes the sums itself, so
  // a k-chunk step costs k-1 extra forwards. WebGPU in Node cannot read synchronously inside the taped function, so
  // there pass 1 covers every chunk (k extra forwards); the sums, their order and the result are the same.
  const sums = emptySums();
  const syncReads = tf.getBackend() !== 'webgpu';
  for (const [a, b] of syncReads ? ranges.slice(0, -1) : ranges) await chunkSums(net, data, targets, a, b, used, sums);
  // pass 2, last chunk first, then the others (the order gradients and CE shares were always summed in): per chunk,
  // CE (weighted by its share) + the linear Dice surrogate at the global sums
  let coef: Coef[] = syncReads ? [] : coefficients(sums, used);
  const [la, lb] = ranges[ranges.length - 1];
  const complete = (own: tf.Tensor[]) => {
    let j = 0;
    for (let k = 0; k < used.length; k++) if (used[k]) addSumsOf(sums, k, own[j++].dataSync()); // sync: not on webgpu
    return (coef = coefficients(sums, used));
  };
  let ceTotal = await surrogateChunk(net, data, targets, weights, used, la, lb, (lb - la) / N, syncReads ? complete : coef, grads);
  for (const [a, b] of ranges.slice(0, -1)) ceTotal += await surrogateChunk(net, data, targets, weights, used, a, b, (b - a) / N, coef, grads);
  return { loss: ceTotal + diceLoss(coef, weights), grads };
}

/** One shard's part of a batch whose gradients are computed by several processes (data_parallel.ts). */
export interface ShardStep {
  /** This shard's gradients of the whole-batch loss (sum the shards' gradients), keyed by tf variable name. */
  grads: tf.NamedTensorMap;
  /** This shard's additive part of the whole-batch loss (sum the shards' parts, then add `diceLoss` once). */
  lossPart: number;
  /** Batch Dice: the Dice term of the whole-batch loss from the global sums (the same on every shard); else 0. */
  diceLoss: number;
}

/**
 * accumulateGradients for a shard of a batch of `totalN` samples: chunk shares are n_chunk / totalN, and with batch
 * Dice the shard's sums go through `exchange`, which returns the sums over all shards (every shard must call it
 * once per step). Summing the shards' gradients gives the full-batch gradient, as with one process.
 */
export async function accumulateGradientsShard(
  net: GenericUNet,
  data: tf.Tensor,
  targets: readonly tf.Tensor[],
  weights: readonly number[],
  batchDice: boolean,
  chunkSize: number,
  totalN: number,
  exchange: (local: GlobalSums) => Promise<GlobalSums>,
): Promise<ShardStep> {
  const ranges = chunkRanges(data.shape[0], chunkSize);
  const used = usedOutputs(targets.length, weights);
  const grads: tf.NamedTensorMap = {};
  if (!batchDice) {
    let lossPart = 0;
    for (const [a, b] of ranges) lossPart += await plainChunk(net, data, targets, weights, a, b, (b - a) / totalN, grads);
    return { grads, lossPart, diceLoss: 0 };
  }
  const local = emptySums();
  for (const [a, b] of ranges) await chunkSums(net, data, targets, a, b, used, local);
  const coef = coefficients(await exchange(local), used);
  let lossPart = 0;
  for (const [a, b] of ranges) lossPart += await surrogateChunk(net, data, targets, weights, used, a, b, (b - a) / totalN, coef, grads);
  return { grads, lossPart, diceLoss: diceLoss(coef, weights) };
}

/**
 * Full-batch loss value and forward outputs' first-level logits in chunks (validation iterations); `onChunk` is
 * awaited before the chunk's outputs are disposed.
 */
export async function chunkedValidationLoss(
  net: GenericUNet,
  data: tf.Tensor,
  targets: readonly tf.Tensor[],
  weights: readonly number[],
  batchDice: boolean,
  chunkSize: number,
  onChunk: (logits0: tf.Tensor, target0: tf.Tensor) => Promise<void> | void,
): Promise<number> {
  const N = data.shape[0];
  const nOut = targets.length;
  const used = usedOutputs(nOut, weights);
  const sums = emptySums();
  let ce = 0;
  let perSample = 0;
  for (const [a, b] of chunkRanges(N, chunkSize)) {
    const scale = (b - a) / N;
    const xs = sliceBatch(data, a, b);
    const ts = targets.map((t) => sliceBatch(t, a, b));
    let outs: tf.Tensor[] = [];
    try {
      outs = net.forward(xs, { training: false });
      await onChunk(outs[0], ts[0]);
      const vals = tf.tidy(() => {
        const r: tf.Tensor[] = [];
        for (let k = 0; k < nOut; k++) {
          if (!used[k]) continue;
          r.push(tf.mul(crossEntropyMean(outs[k], ts[k]), weights[k] * scale));
          if (batchDice) r.push(tf.stack(tpFpFn(outs[k], ts[k])));
          else r.push(tf.mul(dcAndCeLoss(outs[k], ts[k], { batchDice: false, smooth: SMOOTH, doBg: false, weightCe: 0 }), weights[k] * scale));
        }
        return r;
      });
      try {
        let j = 0;
        for (let k = 0; k < nOut; k++) {
          if (!used[k]) continue;
          ce += (await vals[j++].data())[0];
          const v = await vals[j++].data();
          if (!batchDice) perSample += v[0];
          else addSumsOf(sums, k, v);
        }
      } finally {
        tf.dispose(vals);
      }
    } finally {
      tf.dispose(outs);
      xs.dispose();
      tf.dispose(ts);
    }
  }
  if (!batchDice) return ce + perSample;
  return ce + diceLoss(coefficients(sums, used), weights);
}
