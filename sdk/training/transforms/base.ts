/**
 * The batch dict batchgenerators transforms operate on, and the Compose that chains them. Every transform is
 * applied per sample inside the batch loop, drawing from the RandomState it is given, as in batchgenerators.
 */
import { RandomState } from '../../util/random';
import { prod } from '../util';

export interface AugBatch {
  /** Image channels, (B, C, ...spatial), float32 C-order. */
  data: Float32Array;
  dataShape: number[];
  /** Label channels, (B, S, ...spatial); null once renamed to `target`. */
  seg: Float32Array | null;
  segShape: number[] | null;
  /** Deep-supervision targets (one per network output), filled by DownsampleSegForDSTransform2. */
  target?: Float32Array[];
  targetShapes?: number[][];
  keys?: string[];
  /** Set by Convert3DTo2DTransform (dummy-2D) and consumed by Convert2DTo3DTransform. */
  origShapeData?: number[];
  origShapeSeg?: number[];
}

export interface Transform {
  readonly name: string;
  apply(batch: AugBatch, rng: RandomState): AugBatch;
}

/** batchgenerators Compose: transforms in order. */
export class Compose implements Transform {
  readonly name = 'Compose';
  constructor(readonly transforms: Transform[]) {}
  apply(batch: AugBatch, rng: RandomState): AugBatch {
    let b = batch;
    for (const t of this.transforms) b = t.apply(b, rng);
    return b;
  }
  /** Transform names in order (for logs and tests). */
  describe(): string[] {
    return this.transforms.map((t) => t.name);
  }
}

/** Number of voxels per channel of a (B, C, ...spatial) shape. */
export function voxelsPerChannel(shape: readonly number[]): number {
  return prod(shape.slice(2));
}

/** Sub-array of one (sample, channel). */
export function channelView(arr: Float32Array, shape: readonly number[], b: number, c: number): Float32Array {
  const n = voxelsPerChannel(shape);
  const off = (b * shape[1] + c) * n;
  return arr.subarray(off, off + n);
}

export function requireSeg(batch: AugBatch, who: string): { seg: Float32Array; segShape: number[] } {
  if (!batch.seg || !batch.segShape) throw new Error(`${who}: the batch has no 'seg' (already renamed to target?)`);
  return { seg: batch.seg, segShape: batch.segShape };
}
