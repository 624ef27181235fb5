/**
 * The inverse path on synthetic arrays: transposition, cropping and resampling are undone, probabilities go through
 * argmax, and the -1 marker becomes background.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeVolume } from '../../sdk/io/volume';
import { cropCase } from '../../sdk/cropping/cropping';
import { preprocessCase, PreprocessSettings } from '../../sdk/preprocessing/preprocessing';
import { revertProbabilities, revertSegmentation } from '../../sdk/preprocessing/export';

/** A 12x10x9 image that is zero on a border slab (so cropping has work) with a 2-label blob. */
function synthetic() {
  const shape: [number, number, number] = [12, 10, 9];
  const img = new Float32Array(12 * 10 * 9);
  const lab = new Uint8Array(img.length);
  let i = 0;
  for (let z = 0; z < 12; z++)
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 9; x++, i++) {
        img[i] = z < 2 || x > 7 ? 0 : 100 + ((z * 7 + y * 3 + x) % 11);
        lab[i] = z >= 4 && z < 8 && y >= 3 && y < 7 && x >= 2 && x < 6 ? (x < 4 ? 1 : 2) : 0;
      }
  return { shape, img, lab };
}

const settings = (tf: number[], spacing: number[]): PreprocessSettings => ({
  spacing,
  is2D: false,
  transposeForward: tf,
  normalizationSchemes: ['nonCT'],
  useMaskForNorm: [true],
  intensityProperties: [null],
  foregroundClasses: [1, 2],
});

test('transpose + crop are undone exactly without resampling (segmentation and one-hot probabilities)', () => {
  const { shape, img, lab } = synthetic();
  const tf = [2, 0, 1];
  const tb = [1, 2, 0]; // argsort(tf)
  const cropped = cropCase([makeVolume(img, shape)], makeVolume(lab, shape), 'synthetic');
  assert.deepEqual(cropped.properties.crop_bbox, [[2, 12], [0, 10], [0, 8]]);
  const r = preprocessCase(cropped, settings(tf, [1, 1, 1]));
  assert.deepEqual(r.dataShape, [1, 8, 10, 10]); // (x, z, y) of the cropped (10, 10, 8)
  assert.ok(r.seg!.some((v) => v === -1) === false); // the zero slab was cropped away entirely
  const back = revertSegmentation(r.seg!, r.dataShape.slice(1), r.properties, tb);
  assert.deepEqual(back.shape, shape);
  assert.deepEqual(Array.from(back.data), Array.from(lab));
  // one-hot probabilities of the same segmentation: argmax gives the label map back
  const n = r.seg!.length;
  const probs = [0, 1, 2].map((c) => Float32Array.from({ length: n }, (_, i) => (Math.max(0, r.seg![i]) === c ? 0.9 : 0.05)));
  const backP = revertProbabilities(probs, r.dataShape.slice(1), r.properties, tb);
  assert.deepEqual(Array.from(backP.data), Array.from(lab));
});

test('resampled segmentation goes back to the cropped size (order 1 labels) and is pasted at the crop box', () => {
  const { shape, img, lab } = synthetic();
  const cropped = cropCase([makeVolume(img, shape, { spacing: [1, 1, 1] })], makeVolume(lab, shape), 'synthetic');
  // halve the resolution in-plane: (10, 10, 8) -> (10, 5, 4)
  const r = preprocessCase(cropped, settings([0, 1, 2], [1, 2, 2]));
  assert.deepEqual(r.dataShape, [1, 10, 5, 4]);
  const back = revertSegmentation(r.seg!, r.dataShape.slice(1), r.properties, [0, 1, 2]);
  assert.deepEqual(back.shape, shape);
  // outside the crop box everything is background; inside, labels survive the 2x round trip at the blob core
  let i = 0;
  let agree = 0;
  let fg = 0;
  for (let z = 0; z < 12; z++)
    for (let y = 0; y < 10; y++)
      for (let x = 0; x < 9; x++, i++) {
        if (z < 2 || x > 7) assert.equal(back.data[i], 0);
        if (lab[i] > 0) {
          fg++;
          if (back.data[i] === lab[i]) agree++;
        }
      }
  assert.ok(agree / fg > 0.6, `label agreement ${agree}/${fg}`);
});
