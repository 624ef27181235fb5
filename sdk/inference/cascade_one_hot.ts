/**
 * The cascade's extra input channels (nnU-Net v1, reference §10.3): one-hot labels 1..K−1 of the previous stage's
 * segmentation. Node-free (in-memory prediction, predict_volume.ts); the file-based cascade steps are cascade.ts.
 */
import { resizeSegmentation } from '../preprocessing/resampling';
import { transpose3 } from '../preprocessing/preprocessing';

/** One channel per foreground label 1..K−1 (1 where `seg` has that label, else 0): the cascade's extra input channels. */
export function foregroundOneHot(seg: ArrayLike<number>, numClasses: number): Float32Array {
  const n = seg.length;
  const out = new Float32Array((numClasses - 1) * n);
  for (let k = 1; k < numClasses; k++) {
    const off = (k - 1) * n;
    for (let i = 0; i < n; i++) if (seg[i] === k) out[off + i] = 1;
  }
  return out;
}

/**
 * The one-hot previous-stage channels of the cascade: the low-res segmentation in raw geometry -> crop_bbox ->
 * transpose_forward -> resize_segmentation order 1 to the preprocessed shape -> one channel per label 1..K-1.
 * `cropBbox` null is v1's own test-time path (predict.py preprocess_save_to_queue; reference appendix B.9): the
 * uncropped segmentation is resized straight to the cropped shape. Official v1 models use it, to predict as v1 does.
 */
export function cascadeOneHot(
  prevSeg: ArrayLike<number>,
  rawShape: readonly number[],
  cropBbox: readonly (readonly number[])[] | null,
  transposeForward: readonly number[],
  targetShape: readonly number[],
  numClasses: number,
): Float32Array {
  if (prevSeg.length !== rawShape[0] * rawShape[1] * rawShape[2]) throw new Error(`cascade: previous-stage segmentation has ${prevSeg.length} voxels, image ${rawShape.join('x')}`);
  const bbox = cropBbox ?? rawShape.map((n) => [0, n]);
  const bs = bbox.map((b) => b[1] - b[0]);
  const cropped = new Uint8Array(bs[0] * bs[1] * bs[2]);
  let o = 0;
  for (let z = bbox[0][0]; z < bbox[0][1]; z++)
    for (let y = bbox[1][0]; y < bbox[1][1]; y++) {
      const row = (z * rawShape[1] + y) * rawShape[2];
      for (let x = bbox[2][0]; x < bbox[2][1]; x++) cropped[o++] = prevSeg[row + x];
    }
  const t = transpose3(cropped, bs, transposeForward);
  const tShape = transposeForward.map((a) => bs[a]);
  const r = resizeSegmentation(t, tShape, targetShape, 1);
  return foregroundOneHot(r, numClasses);
}

