/**
 * GaussianNoiseTransform and GaussianBlurTransform (batchgenerators transforms/noise_transforms.py,
 * augmentations/noise_augmentations.py; reference §7.2 steps 5–6).
 */
import { RandomState } from '../../util/random';
import { gaussianFilter } from '../gaussian_filter';
import { AugBatch, Transform, channelView } from './base';

export interface GaussianNoiseOptions {
  /** Named "variance" in batchgenerators but used as the standard deviation (quirk B.5). */
  noiseVariance?: [number, number];
  pPerSample?: number;
  pPerChannel?: number;
  perChannel?: boolean;
}

/** Adds N(0, σ) noise, σ ~ U(noiseVariance) once per sample (nnU-Net: (0, 0.1), p_per_sample 0.1). */
export class GaussianNoiseTransform implements Transform {
  readonly name = 'GaussianNoiseTransform';
  readonly noiseVariance: [number, number];
  readonly pPerSample: number;
  readonly pPerChannel: number;
  readonly perChannel: boolean;
  constructor(o: GaussianNoiseOptions = {}) {
    this.noiseVariance = o.noiseVariance ?? [0, 0.1];
    this.pPerSample = o.pPerSample ?? 1;
    this.pPerChannel = o.pPerChannel ?? 1;
    this.perChannel = o.perChannel ?? false;
  }
  private drawSigma(rng: RandomState): number {
    const [a, b] = this.noiseVariance;
    return a === b ? a : rng.uniform(a, b);
  }
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      const sigma = this.perChannel ? null : this.drawSigma(rng);
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() < this.pPerChannel)) continue;
        const s = sigma ?? this.drawSigma(rng);
        const x = channelView(batch.data, batch.dataShape, b, c);
        for (let i = 0; i < x.length; i++) x[i] += rng.normal(0, s);
      }
    }
    return batch;
  }
}

export interface GaussianBlurOptions {
  blurSigma?: [number, number];
  differentSigmaPerChannel?: boolean;
  pPerChannel?: number;
  pPerSample?: number;
}

/** Per channel (prob pPerChannel) scipy gaussian_filter with σ ~ U(blurSigma), mode reflect, truncate 4. */
export class GaussianBlurTransform implements Transform {
  readonly name = 'GaussianBlurTransform';
  readonly blurSigma: [number, number];
  readonly differentSigmaPerChannel: boolean;
  readonly pPerChannel: number;
  readonly pPerSample: number;
  constructor(o: GaussianBlurOptions = {}) {
    this.blurSigma = o.blurSigma ?? [1, 5];
    this.differentSigmaPerChannel = o.differentSigmaPerChannel ?? true;
    this.pPerChannel = o.pPerChannel ?? 1;
    this.pPerSample = o.pPerSample ?? 1;
  }
  private drawSigma(rng: RandomState): number {
    const [a, b] = this.blurSigma;
    return a === b ? a : rng.uniform(a, b);
  }
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    const spatial = batch.dataShape.slice(2);
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) continue;
      let sigma = this.differentSigmaPerChannel ? 0 : this.drawSigma(rng);
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() <= this.pPerChannel)) continue;
        if (this.differentSigmaPerChannel) sigma = this.drawSigma(rng);
        const x = channelView(batch.data, batch.dataShape, b, c);
        x.set(gaussianFilter(x, spatial, sigma, 'reflect'));
      }
    }
    return batch;
  }
}
