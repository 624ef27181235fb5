/**
 * Deterministic bookkeeping transforms of the nnU-Net pipeline: SegChannelSelectionTransform, RemoveLabelTransform
 * (batchgenerators utility_transforms.py), MaskTransform, Convert3DTo2DTransform / Convert2DTo3DTransform
 * (S1 training/data_augmentation/custom_transforms.py). None draws random numbers; none modifies its input.
 */
import { prod } from '../util';
import { AugBatch, Transform, checkOptions, requireSeg } from './base';

export interface SegChannelSelectionOptions {
  /** Seg channels kept, in this order. nnU-Net v1: [0]; cascade [0, 1]. */
  channels: number[];
}

/**
 * Keep the listed seg channels. Always applied (probability 1, nothing drawn). nnU-Net v1: selected_seg_channels [0]
 * (cascade [0, 1]) — moreDA.py:55 `SegChannelSelectionTransform(params.get("selected_seg_channels"))`.
 */
export class SegChannelSelectionTransform implements Transform {
  readonly name = 'SegChannelSelectionTransform';
  readonly channels: number[];
  constructor(o: SegChannelSelectionOptions) {
    checkOptions('SegChannelSelectionTransform', o);
    this.channels = o.channels;
  }
  apply(batch: AugBatch): AugBatch {
    const { seg, segShape } = requireSeg(batch, this.name);
    const [B, S] = segShape;
    for (const c of this.channels)
      if (c < 0 || c >= S) throw new Error(`SegChannelSelectionTransform: channel ${c} not in a seg with ${S} channels`);
    const n = prod(segShape.slice(2));
    const out = new Float32Array(B * this.channels.length * n);
    for (let b = 0; b < B; b++)
      this.channels.forEach((c, i) => out.set(seg.subarray((b * S + c) * n, (b * S + c + 1) * n), (b * this.channels.length + i) * n));
    return { ...batch, seg: out, segShape: [B, this.channels.length, ...segShape.slice(2)] };
  }
}

export interface RemoveLabelOptions {
  /** Label replaced. Default −1 (nnU-Net v1: −1, the "outside the nonzero region" label). */
  removeLabel?: number;
  /** Replacement. Default 0 (nnU-Net v1 too). */
  replaceWith?: number;
}

/**
 * seg[seg == removeLabel] = replaceWith on all seg channels. Always applied (probability 1, nothing drawn). nnU-Net v1
 * — moreDA.py:117 `RemoveLabelTransform(-1, 0)`.
 */
export class RemoveLabelTransform implements Transform {
  readonly name = 'RemoveLabelTransform';
  readonly removeLabel: number;
  readonly replaceWith: number;
  constructor(o: RemoveLabelOptions = {}) {
    checkOptions('RemoveLabelTransform', o);
    this.removeLabel = o.removeLabel ?? -1;
    this.replaceWith = o.replaceWith ?? 0;
  }
  apply(batch: AugBatch): AugBatch {
    const { seg } = requireSeg(batch, this.name);
    const out = seg.slice();
    for (let i = 0; i < out.length; i++) if (out[i] === this.removeLabel) out[i] = this.replaceWith;
    return { ...batch, seg: out };
  }
}

export interface MaskOptions {
  /** Per data channel: was it normalised within the nonzero mask (plans use_mask_for_norm). Required. */
  maskWasUsedForNormalization: boolean[];
  /** Seg channel holding the mask (< 0 outside). Default 1; nnU-Net v1 0. */
  maskIdxInSeg?: number;
  /** Value written outside the mask. Default 0 (nnU-Net v1 too). */
  setOutsideTo?: number;
}

/**
 * For channels normalised within the nonzero mask: image = setOutsideTo where seg[maskIdxInSeg] < 0. Always applied
 * (probability 1, nothing drawn). nnU-Net v1 — moreDA.py:115
 * `MaskTransform(mask_was_used_for_normalization, mask_idx_in_seg=0, set_outside_to=0)`.
 */
export class MaskTransform implements Transform {
  readonly name = 'MaskTransform';
  readonly maskWasUsedForNormalization: boolean[];
  readonly maskIdxInSeg: number;
  readonly setOutsideTo: number;
  constructor(o: MaskOptions) {
    checkOptions('MaskTransform', o);
    this.maskWasUsedForNormalization = o.maskWasUsedForNormalization;
    this.maskIdxInSeg = o.maskIdxInSeg ?? 1;
    this.setOutsideTo = o.setOutsideTo ?? 0;
  }
  apply(batch: AugBatch): AugBatch {
    const { seg, segShape } = requireSeg(batch, this.name);
    const [B, C] = batch.dataShape;
    const S = segShape[1];
    if (segShape[1] < this.maskIdxInSeg) throw new Error('MaskTransform: mask_idx_in_seg is not a seg channel');
    const n = prod(batch.dataShape.slice(2));
    if (!this.maskWasUsedForNormalization.some((v, c) => v && c < C)) return { ...batch };
    const data = batch.data.slice();
    for (let b = 0; b < B; b++) {
      const mOff = (b * S + this.maskIdxInSeg) * n;
      for (let c = 0; c < C; c++) {
        if (!this.maskWasUsedForNormalization[c]) continue;
        const off = (b * C + c) * n;
        for (let i = 0; i < n; i++) if (seg[mOff + i] < 0) data[off + i] = this.setOutsideTo;
      }
    }
    return { ...batch, data };
  }
}

/**
 * Dummy-2D: (B, C, Z, Y, X) → (B, C·Z, Y, X) for data and seg (a reshape: arrays are shared, shapes change). Always
 * applied when present (probability 1, nothing drawn); nnU-Net v1 adds it only in dummy-2D mode — moreDA.py:60.
 */
export class Convert3DTo2DTransform implements Transform {
  readonly name = 'Convert3DTo2DTransform';
  apply(batch: AugBatch): AugBatch {
    const d = batch.dataShape;
    if (d.length !== 5) throw new Error(`Convert3DTo2DTransform: expected 3D data (B, C, Z, Y, X), got [${d}]`);
    const out: AugBatch = { ...batch, origShapeData: d.slice(), dataShape: [d[0], d[1] * d[2], d[3], d[4]] };
    if (batch.segShape) {
      const s = batch.segShape;
      out.origShapeSeg = s.slice();
      out.segShape = [s[0], s[1] * s[2], s[3], s[4]];
    }
    return out;
  }
}

/**
 * Undo Convert3DTo2DTransform with the (possibly new) in-plane size. Always applied when present (probability 1,
 * nothing drawn); nnU-Net v1 dummy-2D only — moreDA.py:81.
 */
export class Convert2DTo3DTransform implements Transform {
  readonly name = 'Convert2DTo3DTransform';
  apply(batch: AugBatch): AugBatch {
    if (!batch.origShapeData) throw new Error('Convert2DTo3DTransform: batch was not converted to 2D');
    const o = batch.origShapeData;
    const cur = batch.dataShape;
    const out: AugBatch = { ...batch, dataShape: [o[0], o[1], o[2], cur[cur.length - 2], cur[cur.length - 1]] };
    delete out.origShapeData;
    if (batch.segShape && batch.origShapeSeg) {
      const s = batch.origShapeSeg;
      const cs = batch.segShape;
      out.segShape = [s[0], s[1], s[2], cs[cs.length - 2], cs[cs.length - 1]];
    }
    delete out.origShapeSeg;
    return out;
  }
}
