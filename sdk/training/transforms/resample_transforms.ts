/**
 * SimulateLowResolutionTransform (batchgenerators transforms/resample_transforms.py →
 * augment_linear_downsampling_scipy; reference §7.2 step 10).
 */
import { RandomState } from '../../util/random';
import { resizeEdge } from '../map_coordinates';
import { roundHalfEven } from '../util';
import { AugBatch, PerSample, RandomTransform, channelView, checkOptions, checkPerSample, dataCopyIfAny, definedOptions } from './base';

export interface SimulateLowResolutionOptions {
  /** Zoom range. Default (0.5, 1) (nnU-Net v1 too). */
  zoomRange?: [number, number];
  /** One zoom per channel instead of per sample. Default false; nnU-Net v1 true. */
  perChannel?: boolean;
  /** Probability per channel. Default 1; nnU-Net v1 0.5. */
  pPerChannel?: number;
  /** Spline order down. Default 1; nnU-Net v1 0. */
  orderDownsample?: 0 | 1 | 3;
  /** Spline order back up. Default 0; nnU-Net v1 3. */
  orderUpsample?: 0 | 1 | 3;
  /** Probability that a sample is considered. Default 1; nnU-Net v1 0.25. */
  pPerSample?: number;
  /** Spatial axes kept at full resolution. Default none; nnU-Net v1 [0] in dummy-2D mode. */
  ignoreAxes?: number[] | null;
}

/** Drawn for one sample: per channel the zoom (null = channel skipped); the low-res shape is targetShape(zoom). */
export interface SimulateLowResolutionParams {
  zooms: (number | null)[];
}

/**
 * Per channel a zoom z ~ U(zoomRange), target shape round(shape·z) (half-even; ignored axes keep their size), skimage
 * resize down with orderDownsample and back with orderUpsample, mode 'edge', no anti-aliasing.
 * Probabilities: each sample with pPerSample, then each channel with pPerChannel. nnU-Net v1: p_per_sample 0.25,
 * p_per_channel 0.5 (so 0.125 per channel) — moreDA.py:97–100 `SimulateLowResolutionTransform(zoom_range=(0.5, 1),
 * per_channel=True, p_per_channel=0.5, order_downsample=0, order_upsample=3, p_per_sample=0.25, ignore_axes=...)`.
 */
export class SimulateLowResolutionTransform extends RandomTransform<PerSample<SimulateLowResolutionParams>> {
  readonly name = 'SimulateLowResolutionTransform';
  readonly o: Required<SimulateLowResolutionOptions>;
  constructor(o: SimulateLowResolutionOptions = {}) {
    super();
    checkOptions('SimulateLowResolutionTransform', o);
    this.o = { zoomRange: [0.5, 1], perChannel: false, pPerChannel: 1, orderDownsample: 1, orderUpsample: 0, pPerSample: 1, ignoreAxes: null, ...definedOptions(o) };
  }
  targetShape(shape: readonly number[], zoom: number): number[] {
    const t = shape.map((s) => roundHalfEven(s * zoom));
    for (const a of this.o.ignoreAxes ?? []) t[a] = shape[a];
    return t;
  }
  draw(batch: AugBatch, rng: RandomState): PerSample<SimulateLowResolutionParams> {
    const [B, C] = batch.dataShape;
    const [zl, zh] = this.o.zoomRange;
    const out: PerSample<SimulateLowResolutionParams> = [];
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.o.pPerSample)) {
        out.push(null);
        continue;
      }
      let zoom = this.o.perChannel ? 0 : rng.uniform(zl, zh);
      const zooms: (number | null)[] = [];
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() < this.o.pPerChannel)) {
          zooms.push(null);
          continue;
        }
        if (this.o.perChannel) zoom = rng.uniform(zl, zh);
        zooms.push(zoom);
      }
      out.push({ zooms });
    }
    return out;
  }
  applyParams(batch: AugBatch, params: PerSample<SimulateLowResolutionParams>): AugBatch {
    const [B, C] = batch.dataShape;
    checkPerSample(this.name, params, B);
    const shp = batch.dataShape.slice(2);
    const data = dataCopyIfAny(batch, params);
    params.forEach((p, b) => {
      if (!p) return;
      for (let c = 0; c < C; c++) {
        const z = p.zooms[c];
        if (z === null) continue;
        const target = this.targetShape(shp, z);
        const x = channelView(data, batch.dataShape, b, c);
        const down = resizeEdge(x, shp, target, this.o.orderDownsample);
        x.set(resizeEdge(down, target, shp, this.o.orderUpsample));
      }
    });
    return { ...batch, data };
  }
}
