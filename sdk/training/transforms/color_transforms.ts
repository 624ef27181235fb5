/**
 * BrightnessMultiplicativeTransform, ContrastAugmentationTransform and GammaTransform (batchgenerators
 * transforms/color_transforms.py, augmentations/color_augmentations.py; reference §7.2 steps 7, 9, 11, 12).
 * Defaults are batchgenerators' constructor defaults; nnU-Net v1's values are in pipeline.ts (NNUNET_V1_AUGMENTATION).
 */
import { RandomState } from '../../util/random';
import { meanOf, minMaxOf, stdOf } from '../util';
import { AugBatch, PerSample, RandomTransform, channelView, checkPerSample, checkOptions, dataCopyIfAny } from './base';

export interface BrightnessMultiplicativeOptions {
  /** Factor range. Default (0.5, 2); nnU-Net v1 (0.75, 1.25). */
  multiplierRange?: [number, number];
  /** One factor per channel instead of one per sample. Default true (nnU-Net v1 too). */
  perChannel?: boolean;
  /** Probability that a sample is changed. Default 1; nnU-Net v1 0.15. */
  pPerSample?: number;
}

/** Drawn for one sample: the factor applied to each channel. */
export interface BrightnessParams {
  multipliers: number[];
}

/**
 * x ← x·f per channel, f ~ U(multiplierRange).
 * Probabilities: each sample with pPerSample, then every channel (no per-channel probability). nnU-Net v1:
 * p_per_sample 0.15 — moreDA.py:88 `BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15)`.
 */
export class BrightnessMultiplicativeTransform extends RandomTransform<PerSample<BrightnessParams>> {
  readonly name = 'BrightnessMultiplicativeTransform';
  readonly multiplierRange: [number, number];
  readonly perChannel: boolean;
  readonly pPerSample: number;
  constructor(o: BrightnessMultiplicativeOptions = {}) {
    super();
    checkOptions('BrightnessMultiplicativeTransform', o);
    this.multiplierRange = o.multiplierRange ?? [0.5, 2];
    this.perChannel = o.perChannel ?? true;
    this.pPerSample = o.pPerSample ?? 1;
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<BrightnessParams> {
    const [B, C] = batch.dataShape;
    const [lo, hi] = this.multiplierRange;
    const out: PerSample<BrightnessParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) {
        out.push(null);
        continue;
      }
      const first = rng.uniform(lo, hi); // drawn even when per channel (as batchgenerators does)
      const multipliers: number[] = [];
      for (let c = 0; c < C; c++) multipliers.push(this.perChannel ? rng.uniform(lo, hi) : first);
      out.push({ multipliers });
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<BrightnessParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (!p) return;
      for (let c = 0; c < C; c++) {
        const f = p.multipliers[c];
        const x = channelView(data, batch.dataShape, b, c);
        for (let i = 0; i < x.length; i++) x[i] *= f;
      }
    });
    return { ...batch, data };
  }
}

/** Draw from (lo, 1) with prob 0.5 when lo < 1, else from (max(lo, 1), hi) — contrast and gamma both use this. */
function drawAroundOne(rng: RandomState, range: [number, number]): number {
  if (rng.random() < 0.5 && range[0] < 1) return rng.uniform(range[0], 1);
  return rng.uniform(Math.max(range[0], 1), range[1]);
}

export interface ContrastAugmentationOptions {
  /** Factor range, drawn around one (below 1 with prob 0.5 when range[0] < 1). Default (0.75, 1.25), as nnU-Net v1. */
  contrastRange?: [number, number];
  /** Clip to the channel's (or sample's) prior [min, max]. Default true (nnU-Net v1 too). */
  preserveRange?: boolean;
  /** One factor and mean per channel instead of per sample. Default true (nnU-Net v1 too). */
  perChannel?: boolean;
  /** Probability that a sample is changed. Default 1; nnU-Net v1 0.15. */
  pPerSample?: number;
  /** Probability per channel (per-channel mode only). Default 1 (nnU-Net v1 too). */
  pPerChannel?: number;
}

/** Drawn for one sample: per channel its factor (null = channel skipped), or one factor for the whole sample. */
export type ContrastParams = { scope: 'channel'; factors: (number | null)[] } | { scope: 'sample'; factor: number };

/**
 * x ← (x − mean)·f + mean, clipped to the prior [min, max] when preserveRange.
 * Probabilities: each sample with pPerSample, then (per-channel mode) each channel with pPerChannel. nnU-Net v1:
 * p_per_sample 0.15, p_per_channel 1 (batchgenerators default) — moreDA.py:96
 * `ContrastAugmentationTransform(p_per_sample=0.15)`.
 */
export class ContrastAugmentationTransform extends RandomTransform<PerSample<ContrastParams>> {
  readonly name = 'ContrastAugmentationTransform';
  readonly contrastRange: [number, number];
  readonly preserveRange: boolean;
  readonly perChannel: boolean;
  readonly pPerSample: number;
  readonly pPerChannel: number;
  constructor(o: ContrastAugmentationOptions = {}) {
    super();
    checkOptions('ContrastAugmentationTransform', o);
    this.contrastRange = o.contrastRange ?? [0.75, 1.25];
    this.preserveRange = o.preserveRange ?? true;
    this.perChannel = o.perChannel ?? true;
    this.pPerSample = o.pPerSample ?? 1;
    this.pPerChannel = o.pPerChannel ?? 1;
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<ContrastParams> {
    const [B, C] = batch.dataShape;
    const out: PerSample<ContrastParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) out.push(null);
      else if (!this.perChannel) out.push({ scope: 'sample', factor: drawAroundOne(rng, this.contrastRange) });
      else {
        const factors: (number | null)[] = [];
        for (let c = 0; c < C; c++) factors.push(rng.uniform() < this.pPerChannel ? drawAroundOne(rng, this.contrastRange) : null);
        out.push({ scope: 'channel', factors });
      }
    }
    return out;
  }
  private contrastOne(x: Float32Array, f: number): void {
    const mn = meanOf(x);
    const [lo, hi] = minMaxOf(x);
    for (let i = 0; i < x.length; i++) {
      let v = (x[i] - mn) * f + mn;
      if (this.preserveRange) v = Math.min(hi, Math.max(lo, v));
      x[i] = v;
    }
  }
  applyParams(batch: AugBatch, params: PerSample<ContrastParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const data = dataCopyIfAny(batch, params);
    const n = data.length / B;
    params.forEach((p, b) => {
      if (!p) return;
      // augment_contrast(per_channel=False): one factor, mean/min/max over the whole sample
      if (p.scope === 'sample') this.contrastOne(data.subarray(b * n, (b + 1) * n), p.factor);
      else
        for (let c = 0; c < C; c++) {
          const f = p.factors[c];
          if (f !== null) this.contrastOne(channelView(data, batch.dataShape, b, c), f);
        }
    });
    return { ...batch, data };
  }
}

export interface GammaOptions {
  /** γ range, drawn around one. Default (0.5, 2); nnU-Net v1 (0.7, 1.5). */
  gammaRange?: [number, number];
  /** x ← −x before and after (nnU-Net v1 runs one inverted and one plain GammaTransform). Default false. */
  invertImage?: boolean;
  /** One γ per channel instead of per sample. Default false; nnU-Net v1 true. */
  perChannel?: boolean;
  /** Restore each channel's mean and std afterwards. Default false; nnU-Net v1 true. */
  retainStats?: boolean;
  /** Probability that a sample is changed. Default 1; nnU-Net v1 0.1 (inverted), p_gamma 0.3 (plain). */
  pPerSample?: number;
}

/** Drawn for one sample: one γ for the whole sample, or one per channel. */
export type GammaParams = { scope: 'sample'; gamma: number } | { scope: 'channel'; gammas: number[] };

/**
 * augment_gamma: optional inversion (x ← −x before and after), per channel: remember mean/std (retainStats),
 * x ← ((x − min)/(range + 1e-7))^γ·(range + 1e-7) + min, then restore mean/std.
 * Probabilities: each sample with pPerSample, then every channel (no per-channel probability). nnU-Net v1 runs two:
 * inverted p_per_sample 0.1 — moreDA.py:102–103 `GammaTransform(params.get("gamma_range"), True, True, ...,
 * p_per_sample=0.1)`; plain (when do_gamma) p_per_sample p_gamma 0.3 — moreDA.py:106–108
 * `GammaTransform(params.get("gamma_range"), False, True, ..., p_per_sample=params["p_gamma"])`.
 */
export class GammaTransform extends RandomTransform<PerSample<GammaParams>> {
  readonly name: string;
  readonly gammaRange: [number, number];
  readonly invertImage: boolean;
  readonly perChannel: boolean;
  readonly retainStats: boolean;
  readonly pPerSample: number;
  constructor(o: GammaOptions = {}) {
    super();
    checkOptions('GammaTransform', o);
    this.gammaRange = o.gammaRange ?? [0.5, 2];
    this.invertImage = o.invertImage ?? false;
    this.perChannel = o.perChannel ?? false;
    this.retainStats = o.retainStats ?? false;
    this.pPerSample = o.pPerSample ?? 1;
    this.name = this.invertImage ? 'GammaTransform(inverted)' : 'GammaTransform';
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<GammaParams> {
    const [B, C] = batch.dataShape;
    const out: PerSample<GammaParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.pPerSample)) out.push(null);
      else if (!this.perChannel) out.push({ scope: 'sample', gamma: drawAroundOne(rng, this.gammaRange) });
      else {
        const gammas: number[] = [];
        for (let c = 0; c < C; c++) gammas.push(drawAroundOne(rng, this.gammaRange));
        out.push({ scope: 'channel', gammas });
      }
    }
    return out;
  }
  private gammaOne(x: Float32Array, gamma: number): void {
    let mu = 0;
    let sd = 0;
    if (this.retainStats) {
      mu = meanOf(x);
      sd = stdOf(x, 0, x.length, mu);
    }
    const [mn, mx] = minMaxOf(x);
    const r = mx - mn + 1e-7; // epsilon 1e-7
    for (let i = 0; i < x.length; i++) x[i] = Math.pow((x[i] - mn) / r, gamma) * r + mn;
    if (this.retainStats) {
      const m2 = meanOf(x);
      const s2 = stdOf(x, 0, x.length, m2);
      for (let i = 0; i < x.length; i++) x[i] = ((x[i] - m2) / (s2 + 1e-8)) * sd + mu;
    }
  }
  applyParams(batch: AugBatch, params: PerSample<GammaParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const data = dataCopyIfAny(batch, params);
    const n = data.length / B;
    params.forEach((p, b) => {
      if (!p) return;
      const sample = data.subarray(b * n, (b + 1) * n);
      if (this.invertImage) for (let i = 0; i < sample.length; i++) sample[i] = -sample[i];
      if (p.scope === 'sample') this.gammaOne(sample, p.gamma);
      else for (let c = 0; c < C; c++) this.gammaOne(channelView(data, batch.dataShape, b, c), p.gammas[c]);
      if (this.invertImage) for (let i = 0; i < sample.length; i++) sample[i] = -sample[i];
    });
    return { ...batch, data };
  }
}
