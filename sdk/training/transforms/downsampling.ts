/**
 * DownsampleSegForDSTransform2 (S1 training/data_augmentation/downsampling.py::downsample_seg_for_ds_transform2;
 * reference §6.2): the label map is renamed to `target` and resized once per network output with
 * resize_segmentation order 0 (skimage resize, nearest with pixel centres, edge mode) to round(shape·scale).
 */
import { resizeEdge } from '../map_coordinates';
import { prod, roundHalfEven } from '../util';
import { AugBatch, Transform, checkOptions, requireSeg } from './base';

export function downsampleSegForDS(
  seg: Float32Array,
  segShape: readonly number[],
  scales: readonly (readonly number[])[],
  order: 0 | 1 | 3 = 0,
): { data: Float32Array; shape: number[] }[] {
  const [B, S] = segShape;
  const spatial = segShape.slice(2);
  const n = prod(spatial);
  return scales.map((s) => {
    if (s.length !== spatial.length) throw new Error(`DownsampleSegForDS: scale [${s}] does not match seg [${segShape}]`);
    if (s.every((v) => v === 1)) return { data: seg, shape: segShape.slice() };
    const ns = spatial.map((d, i) => roundHalfEven(d * s[i]));
    const m = prod(ns);
    const out = new Float32Array(B * S * m);
    for (let k = 0; k < B * S; k++) out.set(resizeEdge(seg.subarray(k * n, (k + 1) * n), spatial, ns, order), k * m);
    return { data: out, shape: [B, S, ...ns] };
  });
}

export interface DownsampleSegForDSOptions {
  /** Per network output, the scale per spatial axis (nnU-Net v1: deep_supervision_scales from the pooling). */
  dsScales: number[][];
  /** Resize order. Default 0 (nnU-Net v1 too). */
  order?: 0 | 1 | 3;
}

/**
 * seg → target, one resized label map per network output; scale-1 targets share the seg array. Always applied
 * (probability 1, nothing drawn). nnU-Net v1 (deep supervision) — moreDA.py:150
 * `DownsampleSegForDSTransform2(deep_supervision_scales, 0, input_key='target', output_key='target')`.
 */
export class DownsampleSegForDSTransform2 implements Transform {
  readonly name = 'DownsampleSegForDSTransform2';
  readonly dsScales: number[][];
  readonly order: 0 | 1 | 3;
  constructor(o: DownsampleSegForDSOptions) {
    checkOptions('DownsampleSegForDSTransform2', o);
    this.dsScales = o.dsScales;
    this.order = o.order ?? 0;
  }
  apply(batch: AugBatch): AugBatch {
    const { seg, segShape } = requireSeg(batch, this.name);
    const t = downsampleSegForDS(seg, segShape, this.dsScales, this.order);
    return { ...batch, seg: null, segShape: null, target: t.map((x) => x.data), targetShapes: t.map((x) => x.shape) };
  }
}

/**
 * RenameTransform('seg', 'target') without deep supervision: a single target. Always applied (probability 1, nothing
 * drawn). nnU-Net v1 — moreDA.py:140 `RenameTransform('seg', 'target', True)`.
 */
export class RenameSegToTargetTransform implements Transform {
  readonly name = 'RenameTransform';
  apply(batch: AugBatch): AugBatch {
    const { seg, segShape } = requireSeg(batch, this.name);
    return { ...batch, seg: null, segShape: null, target: [seg], targetShapes: [segShape] };
  }
}
