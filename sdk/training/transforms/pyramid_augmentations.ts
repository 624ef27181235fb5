/**
 * Cascade-only transforms (S1 training/data_augmentation/pyramid_augmentations.py; reference §10.2–10.3):
 * MoveSegAsOneHotToData, ApplyRandomBinaryOperatorTransform (skimage binary dilation/erosion/closing/opening with a
 * random ball) and RemoveRandomConnectedComponentFromOneHotEncodingTransform (skimage label, full connectivity).
 */
import { RandomState } from '../../util/random';
import { prod } from '../util';
import { AugBatch, PerSample, RandomTransform, Transform, channelView, checkOptions, checkPerSample, dataCopyIfAny, requireSeg } from './base';

export interface MoveSegAsOneHotToDataOptions {
  /** Seg channel to move. nnU-Net v1 cascade: 1 (the previous stage's segmentation). */
  channelId: number;
  /** Labels one-hot encoded, one data channel each. nnU-Net v1 cascade: the foreground labels 1..K. */
  allSegLabels: number[];
  /** Drop the moved channel from seg. Default true (nnU-Net v1 too). */
  removeFromOrigin?: boolean;
}

/**
 * One-hot of seg channel `channelId` for `allSegLabels`, appended to the data channels; the seg channel is removed.
 * Always applied (probability 1, nothing drawn). nnU-Net v1 cascade — moreDA.py:120
 * `MoveSegAsOneHotToData(1, params.get("all_segmentation_labels"), 'seg', 'data')`.
 */
export class MoveSegAsOneHotToData implements Transform {
  readonly name = 'MoveSegAsOneHotToData';
  readonly channelId: number;
  readonly allSegLabels: number[];
  readonly removeFromOrigin: boolean;
  constructor(o: MoveSegAsOneHotToDataOptions) {
    checkOptions('MoveSegAsOneHotToData', o);
    this.channelId = o.channelId;
    this.allSegLabels = o.allSegLabels;
    this.removeFromOrigin = o.removeFromOrigin ?? true;
  }
  apply(batch: AugBatch): AugBatch {
    const { seg, segShape } = requireSeg(batch, this.name);
    const [B, S] = segShape;
    const [, C] = batch.dataShape;
    const n = prod(segShape.slice(2));
    const K = this.allSegLabels.length;
    const data = new Float32Array(B * (C + K) * n);
    for (let b = 0; b < B; b++) {
      data.set(batch.data.subarray(b * C * n, (b + 1) * C * n), b * (C + K) * n);
      const s = seg.subarray((b * S + this.channelId) * n, (b * S + this.channelId + 1) * n);
      this.allSegLabels.forEach((l, i) => {
        const off = (b * (C + K) + C + i) * n;
        for (let k = 0; k < n; k++) if (s[k] === l) data[off + k] = 1;
      });
    }
    const out: AugBatch = { ...batch, data, dataShape: [B, C + K, ...batch.dataShape.slice(2)] };
    if (this.removeFromOrigin) {
      const keep = Array.from({ length: S }, (_, i) => i).filter((i) => i !== this.channelId);
      const ns = new Float32Array(B * keep.length * n);
      for (let b = 0; b < B; b++)
        keep.forEach((c, i) => ns.set(seg.subarray((b * S + c) * n, (b * S + c + 1) * n), (b * keep.length + i) * n));
      out.seg = ns;
      out.segShape = [B, keep.length, ...segShape.slice(2)];
    }
    return out;
  }
}

/**
 * skimage.morphology.ball(radius) for a real radius: n = int(2r + 1) grid points from −r to r per axis
 * (np.mgrid with a complex step), True where x² + y² + z² ≤ r². Returned as its size and flat mask.
 */
export function ball(radius: number): { size: number; mask: Uint8Array } {
  const n = Math.trunc(2 * radius + 1);
  const pts = Array.from({ length: n }, (_, i) => (n === 1 ? -radius : -radius + (i * 2 * radius) / (n - 1)));
  const mask = new Uint8Array(n * n * n);
  for (let z = 0; z < n; z++)
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) mask[(z * n + y) * n + x] = pts[z] ** 2 + pts[y] ** 2 + pts[x] ** 2 <= radius * radius ? 1 : 0;
  return { size: n, mask };
}

/** Runs of a cubic footprint along x: for each (dz, dy) offset, the contiguous [dxLo, dxHi] offset ranges. */
function footprintRuns(size: number, mask: Uint8Array): { dz: number; dy: number; lo: number; hi: number }[] {
  const c = Math.floor(size / 2); // scipy centres a structure of size n at n // 2
  const runs: { dz: number; dy: number; lo: number; hi: number }[] = [];
  for (let z = 0; z < size; z++)
    for (let y = 0; y < size; y++) {
      let x = 0;
      while (x < size) {
        if (!mask[(z * size + y) * size + x]) {
          x++;
          continue;
        }
        const start = x;
        while (x < size && mask[(z * size + y) * size + x]) x++;
        runs.push({ dz: z - c, dy: y - c, lo: start - c, hi: x - 1 - c });
      }
    }
  return runs;
}

/**
 * Binary dilation (outside = 0) or erosion (outside = 1, skimage's border_value=True) of a 3D mask with a footprint:
 * dilation out[p] = any in[p − o], erosion out[p] = all in[p + o] over footprint offsets o (centre size // 2).
 * Row-wise prefix counts make the cost N × (footprint rows) instead of N × (footprint voxels).
 */
export function binaryMorph3d(
  input: Uint8Array,
  shape: readonly number[],
  fp: { size: number; mask: Uint8Array },
  op: 'dilation' | 'erosion',
): Uint8Array {
  const [Z, Y, X] = shape;
  const runs = footprintRuns(fp.size, fp.mask);
  const pre = new Int32Array(Z * Y * (X + 1)); // prefix count of ones per row
  for (let r = 0; r < Z * Y; r++) {
    let s = 0;
    for (let x = 0; x < X; x++) {
      pre[r * (X + 1) + x] = s;
      s += input[r * X + x];
    }
    pre[r * (X + 1) + X] = s;
  }
  const out = new Uint8Array(Z * Y * X);
  if (op === 'erosion') out.fill(1);
  if (runs.length === 0) return op === 'dilation' ? out : out; // empty footprint: scipy gives all-false / all-true
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++) {
      const orow = (z * Y + y) * X;
      for (const run of runs) {
        if (op === 'dilation') {
          const sz = z - run.dz, sy = y - run.dy;
          if (sz < 0 || sz >= Z || sy < 0 || sy >= Y) continue; // outside counts as 0
          const pr = (sz * Y + sy) * (X + 1);
          for (let x = 0; x < X; x++) {
            if (out[orow + x]) continue;
            const a = Math.max(0, x - run.hi), b = Math.min(X - 1, x - run.lo);
            if (a <= b && pre[pr + b + 1] - pre[pr + a] > 0) out[orow + x] = 1;
          }
        } else {
          const sz = z + run.dz, sy = y + run.dy;
          if (sz < 0 || sz >= Z || sy < 0 || sy >= Y) continue; // outside counts as 1
          const pr = (sz * Y + sy) * (X + 1);
          for (let x = 0; x < X; x++) {
            if (!out[orow + x]) continue;
            const a = Math.max(0, x + run.lo), b = Math.min(X - 1, x + run.hi);
            if (a <= b && pre[pr + b + 1] - pre[pr + a] < b - a + 1) out[orow + x] = 0;
          }
        }
      }
    }
  return out;
}

export type BinaryOperator = 'dilation' | 'erosion' | 'closing' | 'opening';

export function applyBinaryOperator(input: Uint8Array, shape: readonly number[], fp: { size: number; mask: Uint8Array }, op: BinaryOperator): Uint8Array {
  switch (op) {
    case 'dilation':
    case 'erosion':
      return binaryMorph3d(input, shape, fp, op);
    case 'closing':
      return binaryMorph3d(binaryMorph3d(input, shape, fp, 'dilation'), shape, fp, 'erosion');
    case 'opening':
      return binaryMorph3d(binaryMorph3d(input, shape, fp, 'erosion'), shape, fp, 'dilation');
  }
}

/** Python list index semantics for negative channel indices (channel_idx = range(−K, 0)). */
function resolveChannel(c: number, C: number): number {
  const r = c < 0 ? C + c : c;
  if (r < 0 || r >= C) throw new Error(`channel index ${c} out of range for ${C} data channels`);
  return r;
}

export interface ApplyRandomBinaryOperatorOptions {
  /** One-hot data channels (negative = from the end). nnU-Net v1 cascade: range(−K, 0). */
  channelIdx: number[];
  /** Probability that a sample is changed. Default 0.3; nnU-Net v1 cascade_random_binary_transform_p 0.4. */
  pPerSample?: number;
  /** Ball radius range. Default (1, 10); nnU-Net v1 cascade_random_binary_transform_size (1, 8). */
  strelSize?: [number, number];
  /** Probability per channel. Default 1 (nnU-Net v1 cascade_random_binary_transform_p_per_label 1). */
  pPerLabel?: number;
}

/** Drawn for one sample: the channels in their shuffled order, and the operation applied to each channel that fired. */
export interface BinaryOperatorParams {
  order: number[];
  steps: { channel: number; operator: BinaryOperator; radius: number }[];
}

/**
 * Cascade augmentation: per one-hot channel (in shuffled order) a random morphological operator (dilation, erosion,
 * closing, opening, equally likely) with a ball of radius U(strelSize); voxels it adds are cleared in the other
 * channels. Probabilities: each sample with pPerSample, then each channel with pPerLabel. nnU-Net v1 (cascade):
 * p_per_sample cascade_random_binary_transform_p 0.4, p_per_label cascade_random_binary_transform_p_per_label 1 —
 * moreDA.py:124–129 (`p_per_sample=params.get("cascade_random_binary_transform_p")` l. 126,
 * `p_per_label=params.get("cascade_random_binary_transform_p_per_label")` l. 129).
 */
export class ApplyRandomBinaryOperatorTransform extends RandomTransform<PerSample<BinaryOperatorParams>> {
  readonly name = 'ApplyRandomBinaryOperatorTransform';
  static readonly OPERATORS: BinaryOperator[] = ['dilation', 'erosion', 'closing', 'opening']; // any_of_these order
  readonly channelIdx: number[];
  readonly pPerSample: number;
  readonly strelSize: [number, number];
  readonly pPerLabel: number;
  constructor(o: ApplyRandomBinaryOperatorOptions) {
    super();
    checkOptions('ApplyRandomBinaryOperatorTransform', o);
    this.channelIdx = o.channelIdx;
    this.pPerSample = o.pPerSample ?? 0.3;
    this.strelSize = o.strelSize ?? [1, 10];
    this.pPerLabel = o.pPerLabel ?? 1;
  }
  private spatial(batch: AugBatch): number[] {
    const spatial = batch.dataShape.slice(2);
    if (spatial.length !== 3) throw new Error(`ApplyRandomBinaryOperatorTransform: needs 3D data (ball footprint), got [${batch.dataShape}]`);
    return spatial;
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<BinaryOperatorParams> {
    const B = batch.dataShape[0];
    this.spatial(batch);
    const out: PerSample<BinaryOperatorParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) {
        out.push(null);
        continue;
      }
      const order = this.channelIdx.slice();
      rng.shuffle(order);
      const steps: BinaryOperatorParams['steps'] = [];
      for (const c of order) {
        if (!(rng.uniform() < this.pPerLabel)) continue;
        const operator = ApplyRandomBinaryOperatorTransform.OPERATORS[rng.randint(0, 4)];
        steps.push({ channel: c, operator, radius: rng.uniform(this.strelSize[0], this.strelSize[1]) });
      }
      out.push({ order, steps });
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<BinaryOperatorParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const spatial = this.spatial(batch);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (!p) return;
      for (const { channel: c, operator, radius } of p.steps) {
        const x = channelView(data, batch.dataShape, b, resolveChannel(c, C));
        const work = new Uint8Array(x.length);
        for (let i = 0; i < x.length; i++) work[i] = Math.trunc(x[i]) !== 0 ? 1 : 0; // astype(int), nonzero = True
        const res = applyBinaryOperator(work, spatial, ball(radius), operator);
        for (let i = 0; i < x.length; i++) x[i] = res[i];
        for (const oc of p.order) {
          if (oc === c) continue;
          const y = channelView(data, batch.dataShape, b, resolveChannel(oc, C));
          for (let i = 0; i < y.length; i++) if (res[i] - work[i] > 0) y[i] = 0; // voxels newly added to c
        }
      }
    });
    return { ...batch, data };
  }
}

/** skimage.measure.label with full connectivity (26 in 3D, 8 in 2D), background 0; returns labels and count. */
export function labelFullConnectivity(mask: ArrayLike<number>, shape: readonly number[]): { labels: Int32Array; count: number } {
  const nd = shape.length;
  const n = prod(shape);
  const labels = new Int32Array(n);
  const sh3 = nd === 3 ? shape : nd === 2 ? [1, shape[0], shape[1]] : null;
  if (!sh3) throw new Error(`labelFullConnectivity: 2D or 3D only, got [${shape}]`);
  const [Z, Y, X] = sh3;
  const offs: [number, number, number][] = [];
  for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dz || dy || dx) offs.push([dz, dy, dx]);
  const queue = new Int32Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (!mask[i] || labels[i]) continue;
    count++;
    let head = 0, tail = 0;
    queue[tail++] = i;
    labels[i] = count;
    while (head < tail) {
      const p = queue[head++];
      const z = Math.floor(p / (Y * X)), y = Math.floor(p / X) % Y, x = p % X;
      for (const [dz, dy, dx] of offs) {
        const zz = z + dz, yy = y + dy, xx = x + dx;
        if (zz < 0 || zz >= Z || yy < 0 || yy >= Y || xx < 0 || xx >= X) continue;
        const q = (zz * Y + yy) * X + xx;
        if (mask[q] && !labels[q]) {
          labels[q] = count;
          queue[tail++] = q;
        }
      }
    }
  }
  return { labels, count };
}

export interface RemoveRandomConnectedComponentOptions {
  /** One-hot data channels (negative = from the end). nnU-Net v1 cascade: range(−K, 0). */
  channelIdx: number[];
  /** Probability that a sample is considered. Default 0.2; nnU-Net v1 cascade_remove_conn_comp_p 0.2. */
  pPerSample?: number;
  /** Probability that the removed component is given to another channel. Default 0.25. */
  fillWithOtherClassP?: number;
  /** Only components smaller than this fraction of the patch are candidates. Default 0.25. */
  dontDoIfCoversMoreThanXPercent?: number;
  /** Probability per channel. Default 1 (nnU-Net v1 too). */
  pPerLabel?: number;
}

/**
 * Drawn for one sample, per channel that fired (in channelIdx order): the index of the removed component among the
 * candidates (components below the size threshold, in label order; null when there was none, so nothing was drawn)
 * and the channel that received it (null: not filled).
 */
export interface RemoveConnectedComponentParams {
  steps: { channel: number; candidateIndex: number | null; fillChannel: number | null }[];
}

/**
 * Removes one random connected component (smaller than dontDoIfCoversMoreThanXPercent of the patch) from a one-hot
 * channel, optionally filling it with another channel. With nnU-Net v1's swapped arguments the size threshold is 0
 * and nothing is ever removed (quirk B.6) — reproduced by passing v1's values through unchanged.
 * Probabilities: each sample with pPerSample, each channel with pPerLabel, the fill with fillWithOtherClassP. nnU-Net
 * v1 (cascade): p_per_sample cascade_remove_conn_comp_p 0.2 (moreDA.py:135), fill_with_other_class_p 0.15 (l. 136:
 * cascade_remove_conn_comp_max_size_percent_threshold, swapped), dont_do_if_covers_more_than_X_percent 0 (l. 137–138:
 * cascade_remove_conn_comp_fill_with_other_class_p, swapped), p_per_label 1 (the constructor default) — so no
 * component is a candidate and only the per-sample and per-label draws happen.
 *
 * The candidates depend on the data (and on earlier channels' fills), so draw() runs the transform on a scratch copy
 * to know how many numbers to draw; apply() does it once and keeps the result.
 */
export class RemoveRandomConnectedComponentFromOneHotEncodingTransform extends RandomTransform<PerSample<RemoveConnectedComponentParams>> {
  readonly name = 'RemoveRandomConnectedComponentFromOneHotEncodingTransform';
  readonly channelIdx: number[];
  readonly pPerSample: number;
  readonly fillWithOtherClassP: number;
  readonly dontDoIfCoversMoreThanXPercent: number;
  readonly pPerLabel: number;
  constructor(o: RemoveRandomConnectedComponentOptions) {
    super();
    checkOptions('RemoveRandomConnectedComponentFromOneHotEncodingTransform', o);
    this.channelIdx = o.channelIdx;
    this.pPerSample = o.pPerSample ?? 0.2;
    this.fillWithOtherClassP = o.fillWithOtherClassP ?? 0.25;
    this.dontDoIfCoversMoreThanXPercent = o.dontDoIfCoversMoreThanXPercent ?? 0.25;
    this.pPerLabel = o.pPerLabel ?? 1;
  }

  /** Components of a channel below the size threshold, in label order, with the label map. */
  private candidates(x: Float32Array, spatial: number[]): { labels: Int32Array; ids: number[] } {
    const { labels, count } = labelFullConnectivity(x, spatial);
    const sizes = new Float64Array(count + 1);
    for (let i = 0; i < labels.length; i++) sizes[labels[i]]++;
    const ids: number[] = [];
    for (let i = 1; i <= count; i++) if (sizes[i] < x.length * this.dontDoIfCoversMoreThanXPercent) ids.push(i);
    return { labels, ids };
  }

  /**
   * One sample on `data` (modified): with `rng`, draw and record the steps; with `given`, replay them. The two share
   * this code so a replay removes exactly what the draw removed.
   */
  private runSample(data: Float32Array, shape: number[], b: number, rng: RandomState | null, given: RemoveConnectedComponentParams | null): RemoveConnectedComponentParams {
    const C = shape[1];
    const spatial = shape.slice(2);
    const steps: RemoveConnectedComponentParams['steps'] = [];
    const todo = rng ? this.channelIdx.filter(() => true) : given!.steps.map((s) => s.channel);
    let gi = 0;
    for (const c of todo) {
      const g = given ? given.steps[gi++] : null;
      if (rng && !(rng.uniform() < this.pPerLabel)) continue;
      const x = channelView(data, shape, b, resolveChannel(c, C));
      const { labels, ids } = this.candidates(x, spatial);
      if (ids.length === 0) {
        steps.push({ channel: c, candidateIndex: null, fillChannel: null });
        continue;
      }
      const candidateIndex = rng ? rng.randint(0, ids.length) : g!.candidateIndex;
      if (candidateIndex === null || candidateIndex >= ids.length) throw new Error(`${this.name}: params do not match the data (candidate ${candidateIndex} of ${ids.length})`);
      const comp = ids[candidateIndex];
      for (let i = 0; i < x.length; i++) if (labels[i] === comp) x[i] = 0;
      let fillChannel: number | null = null;
      if (rng) {
        if (rng.uniform() < this.fillWithOtherClassP) {
          const others = this.channelIdx.filter((o) => o !== c);
          if (others.length > 0) fillChannel = others[rng.randint(0, others.length)];
        }
      } else fillChannel = g!.fillChannel;
      if (fillChannel !== null) {
        const y = channelView(data, shape, b, resolveChannel(fillChannel, C));
        for (let i = 0; i < y.length; i++) if (labels[i] === comp) y[i] = 1;
      }
      steps.push({ channel: c, candidateIndex, fillChannel });
    }
    return { steps };
  }

  private run(batch: AugBatch, rng: RandomState): { batch: AugBatch; params: PerSample<RemoveConnectedComponentParams> } {
    const B = batch.dataShape[0];
    const data = batch.data.slice();
    const params: PerSample<RemoveConnectedComponentParams> = [];
    for (let b = 0; b < B; b++) params.push(rng.uniform() < this.pPerSample ? this.runSample(data, batch.dataShape, b, rng, null) : null);
    return { batch: { ...batch, data: params.some((p) => p !== null) ? data : batch.data }, params };
  }

  override draw(batch: AugBatch, rng: RandomState): PerSample<RemoveConnectedComponentParams> {
    return this.run(batch, rng).params;
  }
  override apply(batch: AugBatch, rng: RandomState): AugBatch {
    return this.run(batch, rng).batch;
  }
  override applyRecorded(batch: AugBatch, rng: RandomState): { batch: AugBatch; params: PerSample<RemoveConnectedComponentParams> } {
    return this.run(batch, rng);
  }
  applyParams(batch: AugBatch, params: PerSample<RemoveConnectedComponentParams>): AugBatch {
    checkPerSample(this.name, params, batch.dataShape[0]);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (p) this.runSample(data, batch.dataShape, b, null, p);
    });
    return { ...batch, data };
  }
}
