/**
 * BrightnessMultiplicativeTransform, ContrastAugmentationTransform and GammaTransform (batchgenerators
 * transforms/color_transforms.py, augmentations/color_augmentations.py; reference §7.2 steps 7, 9, 11, 12).
 */
import { RandomState } from '../../util/random';
import { meanOf, minMaxOf, stdOf } from '../util';
import { AugBatch, Transform, channelView } from './base';

/** x ← x·f per channel, f ~ U(multiplierRange) (nnU-Net: (0.75, 1.25), p_per_sample 0.15). */
export class BrightnessMultiplicativeTransform implements Transform {
  readonly name = 'BrightnessMultiplicativeTransform';
  constructor(
    readonly multiplierRange: [number, number] = [0.5, 2],
    readonly perChannel = true,
    readonly pPerSample = 1,
  ) {}
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    const [lo, hi] = this.multiplierRange;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      const first = rng.uniform(lo, hi); // drawn even when per channel (as batchgenerators does)
      for (let c = 0; c < C; c++) {
        const f = this.perChannel ? rng.uniform(lo, hi) : first;
        const x = channelView(batch.data, batch.dataShape, b, c);
        for (let i = 0; i < x.length; i++) x[i] *= f;
      }
    }
    return batch;
  }
}

/** Draw from (lo, 1) with prob 0.5 when lo < 1, else from (max(lo, 1), hi) — contrast and gamma both use this. */
function drawAroundOne(rng: RandomState, range: [number, number]): number {
  if (rng.random() < 0.5 && range[0] < 1) return rng.uniform(range[0], 1);
  return rng.uniform(Math.max(range[0], 1), range[1]);
}

/** x ← (x − mean)·f + mean per channel, clipped to the channel's prior [min, max] when preserveRange. */
export class ContrastAugmentationTransform implements Transform {
  readonly name = 'ContrastAugmentationTransform';
  constructor(
    readonly contrastRange: [number, number] = [0.75, 1.25],
    readonly preserveRange = true,
    readonly perChannel = true,
    readonly pPerSample = 1,
    readonly pPerChannel = 1,
  ) {}
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      if (!this.perChannel) {
        // augment_contrast(per_channel=False): one factor, mean/min/max over the whole sample
        const f = drawAroundOne(rng, this.contrastRange);
        const n = batch.data.length / B;
        const x = batch.data.subarray(b * n, (b + 1) * n);
        const mn = meanOf(x);
        const [lo, hi] = minMaxOf(x);
        for (let i = 0; i < x.length; i++) {
          let v = (x[i] - mn) * f + mn;
          if (this.preserveRange) v = Math.min(hi, Math.max(lo, v));
          x[i] = v;
        }
        continue;
      }
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() < this.pPerChannel)) continue;
        const f = drawAroundOne(rng, this.contrastRange);
        const x = channelView(batch.data, batch.dataShape, b, c);
        const mn = meanOf(x);
        const [lo, hi] = minMaxOf(x);
        for (let i = 0; i < x.length; i++) {
          let v = (x[i] - mn) * f + mn;
          if (this.preserveRange) v = Math.min(hi, Math.max(lo, v));
          x[i] = v;
        }
      }
    }
    return batch;
  }
}

/**
 * augment_gamma: optional inversion (x ← −x before and after), per channel: remember mean/std (retainStats),
 * γ ~ around-one draw from gammaRange, x ← ((x − min)/(range + 1e-7))^γ·(range + 1e-7) + min, then restore mean/std.
 */
export class GammaTransform implements Transform {
  readonly name: string;
  constructor(
    readonly gammaRange: [number, number] = [0.5, 2],
    readonly invertImage = false,
    readonly perChannel = false,
    readonly retainStats = false,
    readonly pPerSample = 1,
  ) {
    this.name = invertImage ? 'GammaTransform(inverted)' : 'GammaTransform';
  }
  private gammaOne(x: Float32Array, gamma: number, retain: boolean): void {
    let mu = 0;
    let sd = 0;
    if (retain) {
      mu = meanOf(x);
      sd = stdOf(x, 0, x.length, mu);
    }
    const [mn, mx] = minMaxOf(x);
    const r = mx - mn + 1e-7; // epsilon 1e-7
    for (let i = 0; i < x.length; i++) x[i] = Math.pow((x[i] - mn) / r, gamma) * r + mn;
    if (retain) {
      const m2 = meanOf(x);
      const s2 = stdOf(x, 0, x.length, m2);
      for (let i = 0; i < x.length; i++) x[i] = ((x[i] - m2) / (s2 + 1e-8)) * sd + mu;
    }
  }
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    const n = batch.data.length / B;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      const sample = batch.data.subarray(b * n, (b + 1) * n);
      if (this.invertImage) for (let i = 0; i < sample.length; i++) sample[i] = -sample[i];
      if (!this.perChannel) {
        this.gammaOne(sample, drawAroundOne(rng, this.gammaRange), this.retainStats);
      } else {
        for (let c = 0; c < C; c++) {
          const x = channelView(batch.data, batch.dataShape, b, c);
          // per channel the statistics are taken before γ is drawn; order of draws does not change distributions
          this.gammaOne(x, drawAroundOne(rng, this.gammaRange), this.retainStats);
        }
      }
      if (this.invertImage) for (let i = 0; i < sample.length; i++) sample[i] = -sample[i];
    }
    return batch;
  }
}
