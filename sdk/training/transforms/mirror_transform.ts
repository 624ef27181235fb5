/**
 * MirrorTransform (batchgenerators augment_mirroring; reference §7.2 step 13): for each listed spatial axis, flip image
 * and labels together with probability 0.5.
 */
import { RandomState } from '../../util/random';
import { prod, stridesOf } from '../util';
import { AugBatch, Transform } from './base';

/** Reverse one spatial axis (0-based among the spatial axes) of every channel of sample b, in place. */
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

export class MirrorTransform implements Transform {
  readonly name = 'MirrorTransform';
  constructor(readonly axes: number[] = [0, 1, 2], readonly pPerSample = 1) {}
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const B = batch.dataShape[0];
    const dim = batch.dataShape.length - 2;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      for (let a = 0; a < 3; a++) {
        if (!this.axes.includes(a)) continue;
        if (a === 2 && dim < 3) continue; // augment_mirroring only mirrors axis 2 of 3D samples
        if (rng.uniform() < 0.5) {
          flipAxis(batch.data, batch.dataShape, b, a);
          if (batch.seg && batch.segShape) flipAxis(batch.seg, batch.segShape, b, a);
        }
      }
    }
    return batch;
  }
}
