/**
 * SimulateLowResolutionTransform (batchgenerators transforms/resample_transforms.py →
 * augment_linear_downsampling_scipy; reference §7.2 step 10): per channel (prob pPerChannel) a zoom z ~ U(zoomRange),
 * target shape round(shape·z) (half-even; ignored axes keep their size), skimage resize down with orderDownsample and
 * back with orderUpsample, mode 'edge', no anti-aliasing.
 */
import { RandomState } from '../../util/random';
import { resizeEdge } from '../map_coordinates';
import { roundHalfEven } from '../util';
import { AugBatch, Transform, channelView } from './base';

export interface SimulateLowResolutionOptions {
  zoomRange?: [number, number];
  perChannel?: boolean;
  pPerChannel?: number;
  orderDownsample?: 0 | 1 | 3;
  orderUpsample?: 0 | 1 | 3;
  pPerSample?: number;
  ignoreAxes?: number[] | null;
}

export class SimulateLowResolutionTransform implements Transform {
  readonly name = 'SimulateLowResolutionTransform';
  readonly o: Required<SimulateLowResolutionOptions>;
  constructor(o: SimulateLowResolutionOptions = {}) {
    this.o = { zoomRange: [0.5, 1], perChannel: false, pPerChannel: 1, orderDownsample: 1, orderUpsample: 0, pPerSample: 1, ignoreAxes: null, ...o };
  }
  targetShape(shape: readonly number[], zoom: number): number[] {
    const t = shape.map((s) => roundHalfEven(s * zoom));
    for (const a of this.o.ignoreAxes ?? []) t[a] = shape[a];
    return t;
  }
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    const [B, C] = batch.dataShape;
    const shp = batch.dataShape.slice(2);
    const [zl, zh] = this.o.zoomRange;
    for (let b = 0; b < B; b++) {
      if (!(rng.uniform() < this.o.pPerSample)) continue;
      let target = this.o.perChannel ? null : this.targetShape(shp, rng.uniform(zl, zh));
      for (let c = 0; c < C; c++) {
        if (!(rng.uniform() < this.o.pPerChannel)) continue;
        if (this.o.perChannel) target = this.targetShape(shp, rng.uniform(zl, zh));
        const x = channelView(batch.data, batch.dataShape, b, c);
        const down = resizeEdge(x, shp, target!, this.o.orderDownsample);
        x.set(resizeEdge(down, target!, shp, this.o.orderUpsample));
      }
    }
    return batch;
  }
}
