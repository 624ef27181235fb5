/**
 * GaussianNoiseTransform and GaussianBlurTransform (batchgenerators transforms/noise_transforms.py,
 * augmentations/noise_augmentations.py; reference §7.2 steps 5–6). Defaults are batchgenerators' constructor
 * defaults; nnU-Net v1's values are in pipeline.ts (NNUNET_V1_AUGMENTATION).
 */
import { RandomState } from '../../util/random';
import { gaussianFilter } from '../gaussian_filter';
import { AugBatch, PerSample, RandomTransform, channelView, checkOptions, checkPerSample, dataCopyIfAny } from './base';

export interface GaussianNoiseOptions {
  /** σ range. Named "variance" in batchgenerators but used as the standard deviation (quirk B.5). Default (0, 0.1). */
  noiseVariance?: [number, number];
  /** Probability that a sample is changed. Default 1; nnU-Net v1 0.1. */
  pPerSample?: number;
  /** Probability per channel. Default 1 (nnU-Net v1 too). */
  pPerChannel?: number;
  /** One σ per channel instead of per sample. Default false (nnU-Net v1 too). */
  perChannel?: boolean;
}

/**
 * Drawn for one sample, per channel (null = channel skipped): σ and the noise itself (N(0, σ) per voxel, float64 as
 * numpy draws it; it is added to the float32 image, so it has to be kept at full precision).
 */
export interface GaussianNoiseParams {
  sigmas: (number | null)[];
  noise: (Float64Array | null)[];
}

/**
 * Adds N(0, σ) noise, σ ~ U(noiseVariance).
 * Probabilities: each sample with pPerSample, then each channel with pPerChannel. nnU-Net v1: p_per_sample 0.1,
 * p_per_channel 1 (batchgenerators default) — moreDA.py:85 `GaussianNoiseTransform(p_per_sample=0.1)`.
 */
export class GaussianNoiseTransform extends RandomTransform<PerSample<GaussianNoiseParams>> {
  readonly name = 'GaussianNoiseTransform';
  readonly noiseVariance: [number, number];
  readonly pPerSample: number;
  readonly pPerChannel: number;
  readonly perChannel: boolean;
  constructor(o: GaussianNoiseOptions = {}) {
    super();
    checkOptions('GaussianNoiseTransform', o);
    this.noiseVariance = o.noiseVariance ?? [0, 0.1];
    this.pPerSample = o.pPerSample ?? 1;
    this.pPerChannel = o.pPerChannel ?? 1;
    this.perChannel = o.perChannel ?? false;
  }
  private drawSigma(rng: RandomState): number {
    const [a, b] = this.noiseVariance;
    return a === b ? a : rng.uniform(a, b);
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<GaussianNoiseParams> {
    const [B, C] = batch.dataShape;
    const n = batch.dataShape.slice(2).reduce((a, v) => a * v, 1);
    const out: PerSample<GaussianNoiseParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) {
        out.push(null);
        continue;
      }
      const sigma = this.perChannel ? null : this.drawSigma(rng);
      const p: GaussianNoiseParams = { sigmas: [], noise: [] };
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() < this.pPerChannel)) {
          p.sigmas.push(null);
          p.noise.push(null);
          continue;
        }
        const s = sigma ?? this.drawSigma(rng);
        const z = new Float64Array(n);
        for (let i = 0; i < n; i++) z[i] = rng.normal(0, s);
        p.sigmas.push(s);
        p.noise.push(z);
      }
      out.push(p);
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<GaussianNoiseParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (!p) return;
      for (let c = 0; c < C; c++) {
        const z = p.noise[c];
        if (!z) continue;
        const x = channelView(data, batch.dataShape, b, c);
        for (let i = 0; i < x.length; i++) x[i] += z[i];
      }
    });
    return { ...batch, data };
  }
}

export interface GaussianBlurOptions {
  /** σ range (voxels). Default (1, 5); nnU-Net v1 (0.5, 1). */
  blurSigma?: [number, number];
  /** A new σ for every channel instead of one per sample. Default true (nnU-Net v1 too). */
  differentSigmaPerChannel?: boolean;
  /** Probability per channel. Default 1; nnU-Net v1 0.5. */
  pPerChannel?: number;
  /** Probability that a sample is considered. Default 1; nnU-Net v1 0.2. */
  pPerSample?: number;
}

/** Drawn for one sample: per channel the blur σ (null = channel skipped). */
export interface GaussianBlurParams {
  sigmas: (number | null)[];
}

/**
 * Per channel scipy gaussian_filter with σ ~ U(blurSigma), mode reflect, truncate 4.
 * Probabilities: each sample with pPerSample, then each channel with pPerChannel (tested with <=, as batchgenerators).
 * nnU-Net v1: p_per_sample 0.2, p_per_channel 0.5 (so 0.1 per channel) — moreDA.py:86–87
 * `GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=0.2, p_per_channel=0.5)`.
 */
export class GaussianBlurTransform extends RandomTransform<PerSample<GaussianBlurParams>> {
  readonly name = 'GaussianBlurTransform';
  readonly blurSigma: [number, number];
  readonly differentSigmaPerChannel: boolean;
  readonly pPerChannel: number;
  readonly pPerSample: number;
  constructor(o: GaussianBlurOptions = {}) {
    super();
    checkOptions('GaussianBlurTransform', o);
    this.blurSigma = o.blurSigma ?? [1, 5];
    this.differentSigmaPerChannel = o.differentSigmaPerChannel ?? true;
    this.pPerChannel = o.pPerChannel ?? 1;
    this.pPerSample = o.pPerSample ?? 1;
  }
  private drawSigma(rng: RandomState): number {
    const [a, b] = this.blurSigma;
    return a === b ? a : rng.uniform(a, b);
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<GaussianBlurParams> {
    const [B, C] = batch.dataShape;
    const out: PerSample<GaussianBlurParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) {
        out.push(null);
        continue;
      }
      let sigma = this.differentSigmaPerChannel ? 0 : this.drawSigma(rng);
      const sigmas: (number | null)[] = [];
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() <= this.pPerChannel)) {
          sigmas.push(null);
          continue;
        }
        if (this.differentSigmaPerChannel) sigma = this.drawSigma(rng);
        sigmas.push(sigma);
      }
      out.push({ sigmas });
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<GaussianBlurParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const spatial = batch.dataShape.slice(2);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (!p) return;
      for (let c = 0; c < C; c++) {
        const s = p.sigmas[c];
        if (s === null) continue;
        const x = channelView(data, batch.dataShape, b, c);
        x.set(gaussianFilter(x, spatial, s, 'reflect'));
      }
    });
    return { ...batch, data };
  }
}
