/**
 * MirrorTransform (batchgenerators augment_mirroring; reference §7.2 step 13).
 */
import { RandomState } from '../../util/random';
import { prod, stridesOf } from '../util';
import { AugBatch, PerSample, RandomTransform, checkOptions, checkPerSample } from './base';

/** Reverse one spatial axis (0-based among the spatial axes) of every channel of sample b, in place (on your copy). */
export function flipAxis(arr: Float32Array, shape: readonly number[], b: number, axis: number): void {
  const spatial = shape.slice(2);
  const C = shape[1];
  const n = prod(spatial);
  const st = stridesOf(spatial);
  const len = spatial[axis];
  const s = st[axis];
  const outer = n / (len * s);
  for (let c = 0; c < C; c++) {
    const base = (b * C + c) * n;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < Math.floor(len / 2); i++) {
        const p = base + o * len * s + i * s;
        const q = base + o * len * s + (len - 1 - i) * s;
        for (let k = 0; k < s; k++) {
          const t = arr[p + k];
          arr[p + k] = arr[q + k];
          arr[q + k] = t;
        }
      }
    }
  }
}

export interface MirrorOptions {
  /** Spatial axes that may be flipped, (z, y, x) = (0, 1, 2). Default [0, 1, 2]; nnU-Net v1 (0, 1, 2), 2D (0, 1). */
  axes?: number[];
  /** Probability that a sample is considered. Default 1 (nnU-Net v1 too). */
  pPerSample?: number;
}

/** Drawn for one sample: the spatial axes flipped (possibly none). */
export interface MirrorParams {
  flipAxes: number[];
}

/**
 * Flips image and labels together along each listed spatial axis. Axis 2 is only considered for 3D samples.
 * Probabilities: each sample with pPerSample, then each axis with 0.5 (fixed in batchgenerators augment_mirroring).
 * nnU-Net v1: p_per_sample 1 (batchgenerators default), axes mirror_axes (0, 1, 2) / 2D (0, 1) — moreDA.py:111
 * `MirrorTransform(params.get("mirror_axes"))`.
 */
export class MirrorTransform extends RandomTransform<PerSample<MirrorParams>> {
  readonly name = 'MirrorTransform';
  readonly axes: number[];
  readonly pPerSample: number;
  constructor(o: MirrorOptions = {}) {
    super();
    checkOptions('MirrorTransform', o);
    this.axes = o.axes ?? [0, 1, 2];
    this.pPerSample = o.pPerSample ?? 1;
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<MirrorParams> {
    const B = batch.dataShape[0];
    const dim = batch.dataShape.length - 2;
    const out: PerSample<MirrorParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) {
        out.push(null);
        continue;
      }
      const flipAxes: number[] = [];
      for (let a = 0; a < 3; a++) {
        if (!this.axes.includes(a)) continue;
        if (a === 2 && dim < 3) continue; // augment_mirroring only mirrors axis 2 of 3D samples
        if (rng.uniform() < 0.5) flipAxes.push(a);
      }
      out.push({ flipAxes });
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<MirrorParams>): AugBatch {
    checkPerSample(this.name, params, batch.dataShape[0]);
    if (!params.some((p) => p && p.flipAxes.length > 0)) return { ...batch };
    const data = batch.data.slice();
    const seg = batch.seg && batch.segShape ? batch.seg.slice() : batch.seg;
    params.forEach((p, b) => {
      for (const a of p?.flipAxes ?? []) {
        flipAxis(data, batch.dataShape, b, a);
        if (seg && batch.segShape) flipAxis(seg, batch.segShape, b, a);
      }
    });
    return { ...batch, data, seg };
  }
}
