import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RandomState } from '../../sdk/util/random';
import { AugBatch } from '../../sdk/training/transforms/base';
import { MirrorTransform } from '../../sdk/training/transforms/mirror_transform';
import { SpatialTransform, interpolateSeg, interpolateSegPerLabel, zeroCenteredMesh, rotateCoords } from '../../sdk/training/transforms/spatial_transform';
import { downsampleSegForDS } from '../../sdk/training/transforms/downsampling';
import { Convert2DTo3DTransform, Convert3DTo2DTransform, MaskTransform, RemoveLabelTransform, SegChannelSelectionTransform } from '../../sdk/training/transforms/utility_transforms';
import { MoveSegAsOneHotToData, RemoveRandomConnectedComponentFromOneHotEncodingTransform, ApplyRandomBinaryOperatorTransform, ball, applyBinaryOperator } from '../../sdk/training/transforms/pyramid_augmentations';
import { mapCoordinates, resizeEdge } from '../../sdk/training/map_coordinates';
import { GaussianBlurTransform } from '../../sdk/training/transforms/noise_transforms';
import { ContrastAugmentationTransform, GammaTransform } from '../../sdk/training/transforms/color_transforms';
import { SimulateLowResolutionTransform } from '../../sdk/training/transforms/resample_transforms';
import { meanOf, minMaxOf, stdOf } from '../../sdk/training/util';

function randomBatch(shape: number[], segShape: number[] | null, seed = 0, labels = [-1, 0, 1, 2]): AugBatch {
  const r = new RandomState(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => r.normal(0, 1));
  let seg: Float32Array | null = null;
  if (segShape) {
    const m = segShape.reduce((a, b) => a * b, 1);
    seg = Float32Array.from({ length: m }, () => labels[r.randint(0, labels.length)]);
  }
  return { data, dataShape: shape, seg, segShape };
}

const clone = (b: AugBatch): AugBatch => ({ ...b, data: b.data.slice(), seg: b.seg ? b.seg.slice() : null });

test('mirroring twice is the identity; one mirror flips image and labels together', () => {
  const b = randomBatch([2, 2, 4, 5, 6], [2, 1, 4, 5, 6]);
  const orig = clone(b);
  const m = new MirrorTransform({ axes: [0, 1, 2] });
  const r1 = new RandomState(3);
  const r2 = new RandomState(3);
  const once = m.apply(clone(b), r1);
  const twice = m.apply(once === b ? clone(once) : clone(once), r2);
  assert.deepEqual(Array.from(twice.data), Array.from(orig.data));
  assert.deepEqual(Array.from(twice.seg!), Array.from(orig.seg!));
  // single flip of axis 2 (x) of a 1×1×1×1×3 line
  const line: AugBatch = { data: Float32Array.from([1, 2, 3]), dataShape: [1, 1, 1, 1, 3], seg: Float32Array.from([0, 1, 2]), segShape: [1, 1, 1, 1, 3] };
  const rng = new RandomState(0);
  let flipped = false;
  for (let k = 0; k < 20 && !flipped; k++) {
    const o = new MirrorTransform({ axes: [2] }).apply({ ...line, data: line.data.slice(), seg: line.seg!.slice() }, rng);
    if (o.data[0] === 3) {
      assert.deepEqual(Array.from(o.data), [3, 2, 1]);
      assert.deepEqual(Array.from(o.seg!), [2, 1, 0]);
      flipped = true;
    }
  }
  assert.ok(flipped);
});

test('SpatialTransform without rotation/scaling is the centre crop (offset (S − P) // 2)', () => {
  const b = randomBatch([1, 1, 7, 8, 9], [1, 1, 7, 8, 9]);
  const st = new SpatialTransform({ patchSize: [3, 4, 5], doRotation: false, doScale: false, doElasticDeform: false, randomCrop: false });
  const o = st.apply(clone(b), new RandomState(0));
  for (let z = 0; z < 3; z++)
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 5; x++) {
        const src = ((z + 2) * 8 + (y + 2)) * 9 + (x + 2);
        assert.equal(o.data[(z * 4 + y) * 5 + x], b.data[src]);
        assert.equal(o.seg![(z * 4 + y) * 5 + x], b.seg![src]);
      }
});

test('SpatialTransform rotation by 0 and scale 1 is the identity up to interpolation', () => {
  const b = randomBatch([1, 1, 8, 9, 10], [1, 1, 8, 9, 10], 1, [0, 1, 2]);
  const crop = new SpatialTransform({ patchSize: [4, 5, 6], doRotation: false, doScale: false, doElasticDeform: false, randomCrop: false }).apply(clone(b), new RandomState(0));
  const rot0 = new SpatialTransform({
    patchSize: [4, 5, 6], doRotation: true, pRotPerSample: 1, angleX: [0, 0], angleY: [0, 0], angleZ: [0, 0],
    doScale: true, pScalePerSample: 1, scale: [1, 1], doElasticDeform: false, randomCrop: false, orderData: 3, orderSeg: 1, borderCvalSeg: -1,
  }).apply(clone(b), new RandomState(0));
  // the grid of an even-minus-even crop lands on integer input coordinates: the interpolating spline returns the samples
  for (let i = 0; i < crop.data.length; i++) assert.ok(Math.abs(crop.data[i] - rot0.data[i]) < 1e-5, `voxel ${i}`);
  assert.deepEqual(Array.from(rot0.seg!), Array.from(crop.seg!));
});

test('SpatialTransform 2D rotation by 90° moves pixels as (i, j) → (j, −i) about the centre', () => {
  const S = 7;
  const data = Float32Array.from({ length: S * S }, (_, k) => k);
  const b: AugBatch = { data, dataShape: [1, 1, S, S], seg: Float32Array.from(data, (v) => v % 3), segShape: [1, 1, S, S] };
  const o = new SpatialTransform({
    patchSize: [S, S], doRotation: true, pRotPerSample: 1, angleX: [Math.PI / 2, Math.PI / 2], doScale: false, doElasticDeform: false, randomCrop: false, orderSeg: 1, borderCvalSeg: -1,
  }).apply(b, new RandomState(0));
  const c = (S - 1) / 2;
  for (let i = 0; i < S; i++)
    for (let j = 0; j < S; j++) {
      // (ci, cj)·R with R = [[0, −1], [1, 0]] gives source (cj, −ci)
      const si = Math.round(j - c + c), sj = Math.round(-(i - c) + c);
      assert.ok(Math.abs(o.data[i * S + j] - data[si * S + sj]) < 1e-4, `(${i},${j})`);
      assert.equal(o.seg![i * S + j], (si * S + sj) % 3);
    }
});

test('SpatialTransform keeps labels inside the label set; outside the loaded patch labels become 0, data 0', () => {
  const b = randomBatch([2, 1, 9, 10, 11], [2, 1, 9, 10, 11], 4, [-1, 0, 1, 2]);
  const st = new SpatialTransform({
    patchSize: [9, 10, 11], doRotation: true, pRotPerSample: 1, angleX: [-0.5, 0.5], angleY: [-0.5, 0.5], angleZ: [-0.5, 0.5],
    doScale: true, pScalePerSample: 1, scale: [1.3, 1.4], doElasticDeform: true, pElPerSample: 1, alpha: [0, 50], sigma: [3, 4], randomCrop: false, orderSeg: 1, borderCvalSeg: -1,
  });
  const o = st.apply(clone(b), new RandomState(9));
  const allowed = new Set([-1, 0, 1, 2]);
  for (const v of o.seg!) assert.ok(allowed.has(v), `label ${v}`);
  // zooming out by ≥ 1.3 samples outside the loaded patch at the corners: data 0 there, labels 0 (not −1)
  assert.equal(o.data[0], 0);
  assert.equal(o.seg![0], 0);
});

test('interpolateSeg: per-label linear interpolation with threshold 0.5, ascending label order', () => {
  const img = Float32Array.from([0, 1, 1, 2]);
  const out = new Float32Array(3);
  interpolateSeg(img, [4], [Float64Array.from([0.4, 1.5, 2.6])], 1, -1, out);
  assert.deepEqual(Array.from(out), [0, 1, 2]);
  const outside = new Float32Array(1);
  interpolateSeg(img, [4], [Float64Array.from([-0.2])], 1, -1, outside);
  assert.equal(outside[0], 0);
});

test('one-pass label interpolation equals the per-label loop of batchgenerators', () => {
  const shape = [9, 10, 11];
  const r = new RandomState(8);
  const img = Float32Array.from({ length: 990 }, () => [-1, 0, 1, 2, 5][r.randint(0, 5)]);
  const coords = zeroCenteredMesh([7, 8, 9]);
  rotateCoords(coords, [0.3, -0.2, 0.7]);
  for (let d = 0; d < 3; d++) for (let k = 0; k < coords[d].length; k++) coords[d][k] = coords[d][k] * 1.2 + shape[d] / 2 - 0.5;
  const a = new Float32Array(coords[0].length);
  const b = new Float32Array(coords[0].length);
  interpolateSeg(img, shape, coords, 1, -1, a);
  interpolateSegPerLabel(img, shape, coords, 1, -1, b);
  assert.deepEqual(Array.from(a), Array.from(b));
  assert.ok(a.some((v) => v === 0) && a.some((v) => v === 5) && a.some((v) => v === -1));
});

test('map_coordinates order 3 interpolates the samples and returns cval outside [0, n − 1]', () => {
  const a = Float32Array.from([3, -1, 4, 1, 5]);
  const r = mapCoordinates(a, [5], [Float64Array.from([0, 1, 2, 3, 4, -0.01, 4.01])], { order: 3, cval: 9 });
  assert.deepEqual(Array.from(r.slice(0, 5)).map((v) => Math.round(v * 1e5) / 1e5), [3, -1, 4, 1, 5]);
  assert.deepEqual(Array.from(r.slice(5)), [9, 9]);
});

test('DS target downsampling: round(shape·scale), nearest with pixel centres (odd voxels for factor 2)', () => {
  const seg = Float32Array.from({ length: 8 }, (_, i) => i);
  const t = downsampleSegForDS(seg, [1, 1, 1, 1, 8], [[1, 1, 1], [1, 1, 0.5], [1, 1, 0.25]]);
  assert.deepEqual(t.map((x) => x.shape), [[1, 1, 1, 1, 8], [1, 1, 1, 1, 4], [1, 1, 1, 1, 2]]);
  assert.equal(t[0].data, seg);
  assert.deepEqual(Array.from(t[1].data), [1, 3, 5, 7]);
  assert.deepEqual(Array.from(t[2].data), [2, 6]);
  // 5 → round(2.5) = 2 (half-even), 7 → round(3.5) = 4
  assert.deepEqual(downsampleSegForDS(new Float32Array(5 * 7), [1, 1, 5, 7], [[0.5, 0.5]])[0].shape, [1, 1, 2, 4]);
  // upsampling 5 → 8 picks 0,0,1,2,2,3,4,4 (reference C.1)
  assert.deepEqual(Array.from(resizeEdge(Float32Array.from([0, 1, 2, 3, 4]), [5], [8], 0)), [0, 0, 1, 2, 2, 3, 4, 4]);
});

test('RemoveLabel, SegChannelSelection, Mask, dummy-2D reshape round trip', () => {
  const b: AugBatch = { data: Float32Array.from([5, 6, 7, 8]), dataShape: [1, 1, 1, 2, 2], seg: Float32Array.from([-1, 0, 1, 2, 9, 9, 9, 9]), segShape: [1, 2, 1, 2, 2] };
  const s = new SegChannelSelectionTransform({ channels: [0] }).apply(b);
  assert.deepEqual(Array.from(s.seg!), [-1, 0, 1, 2]);
  const m = new MaskTransform({ maskWasUsedForNormalization: [true], maskIdxInSeg: 0, setOutsideTo: 0 }).apply(s);
  assert.deepEqual(Array.from(m.data), [0, 6, 7, 8]);
  const r = new RemoveLabelTransform({ removeLabel: -1, replaceWith: 0 }).apply(m);
  assert.deepEqual(Array.from(r.seg!), [0, 0, 1, 2]);
  const d2 = new Convert3DTo2DTransform().apply(r);
  assert.deepEqual(d2.dataShape, [1, 1, 2, 2]);
  const d3 = new Convert2DTo3DTransform().apply(d2);
  assert.deepEqual(d3.dataShape, [1, 1, 1, 2, 2]);
  assert.deepEqual(d3.segShape, [1, 1, 1, 2, 2]);
});

test('cascade: one-hot move, skimage ball sizes, morphology keeps one-hot exclusive, v1 remove-CC is a no-op', () => {
  assert.equal(ball(1).mask.reduce((a, b) => a + b, 0), 7);
  assert.equal(ball(1.5).size, 4);
  assert.equal(ball(1.5).mask.reduce((a, b) => a + b, 0), 8);
  assert.equal(ball(2).mask.reduce((a, b) => a + b, 0), 33);
  const Z = 9;
  const n = Z * Z * Z;
  const prev = new Float32Array(n);
  for (let z = 2; z < 5; z++) for (let y = 2; y < 5; y++) for (let x = 2; x < 5; x++) prev[(z * Z + y) * Z + x] = 1;
  for (let z = 5; z < 7; z++) for (let y = 5; y < 7; y++) for (let x = 5; x < 7; x++) prev[(z * Z + y) * Z + x] = 2;
  const b: AugBatch = { data: new Float32Array(n), dataShape: [1, 1, Z, Z, Z], seg: new Float32Array([...new Float32Array(n), ...prev]), segShape: [1, 2, Z, Z, Z] };
  const mv = new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: [1, 2] }).apply(b);
  assert.deepEqual(mv.dataShape, [1, 3, Z, Z, Z]);
  assert.deepEqual(mv.segShape, [1, 1, Z, Z, Z]);
  assert.equal(mv.data.subarray(n, 2 * n).reduce((a, v) => a + v, 0), 27);
  assert.equal(mv.data.subarray(2 * n).reduce((a, v) => a + v, 0), 8);
  // dilation of a single voxel by ball(1) gives the 7-voxel cross; erosion of it gives nothing
  const one = new Uint8Array(n);
  one[(4 * Z + 4) * Z + 4] = 1;
  assert.equal(applyBinaryOperator(one, [Z, Z, Z], ball(1), 'dilation').reduce((a, v) => a + v, 0), 7);
  assert.equal(applyBinaryOperator(one, [Z, Z, Z], ball(1), 'erosion').reduce((a, v) => a + v, 0), 0);
  const rng = new RandomState(2);
  for (let k = 0; k < 10; k++) {
    const o = new ApplyRandomBinaryOperatorTransform({ channelIdx: [-2, -1], pPerSample: 1, strelSize: [1, 3], pPerLabel: 1 }).apply({ ...mv, data: mv.data.slice() }, rng);
    for (let i = 0; i < n; i++) assert.ok(o.data[n + i] + o.data[2 * n + i] <= 1, 'one-hot channels overlap');
  }
  // v1 argument order: fill_with_other_class_p = 0.15, dont_do_if_covers_more_than = 0 → nothing removed
  const v1 = new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-2, -1], pPerSample: 1, fillWithOtherClassP: 0.15, dontDoIfCoversMoreThanXPercent: 0.0 }).apply({ ...mv, data: mv.data.slice() }, new RandomState(0));
  assert.deepEqual(Array.from(v1.data), Array.from(mv.data));
  // v2 values (dont_do 0.15, fill 0): one component of each channel is removed
  const v2 = new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-2, -1], pPerSample: 1, fillWithOtherClassP: 0, dontDoIfCoversMoreThanXPercent: 0.15 }).apply({ ...mv, data: mv.data.slice() }, new RandomState(0));
  assert.equal(v2.data.reduce((a, v) => a + v, 0), 0);
});

test('intensity transforms: blur keeps constants, contrast preserves range, gamma retains mean/std, low-res keeps range', () => {
  const c: AugBatch = { data: new Float32Array(4 * 5 * 6).fill(2.5), dataShape: [1, 1, 4, 5, 6], seg: null, segShape: null };
  const bl = new GaussianBlurTransform({ blurSigma: [0.5, 1], pPerChannel: 1, pPerSample: 1 }).apply(c, new RandomState(0));
  for (const v of bl.data) assert.ok(Math.abs(v - 2.5) < 1e-6);
  const rnd = randomBatch([1, 1, 6, 7, 8], null, 11);
  const [mn, mx] = minMaxOf(rnd.data);
  const ct = new ContrastAugmentationTransform({ contrastRange: [1.2, 1.25], preserveRange: true, perChannel: true, pPerSample: 1 }).apply(clone(rnd), new RandomState(1));
  const [cmn, cmx] = minMaxOf(ct.data);
  assert.ok(cmn >= mn && cmx <= mx);
  const mu = meanOf(rnd.data), sd = stdOf(rnd.data);
  for (const inv of [false, true]) {
    const g = new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: inv, perChannel: true, retainStats: true, pPerSample: 1 }).apply(clone(rnd), new RandomState(2));
    assert.ok(Math.abs(meanOf(g.data) - mu) < 1e-4 && Math.abs(stdOf(g.data) - sd) < 1e-4);
    assert.notDeepEqual(Array.from(g.data), Array.from(rnd.data));
  }
  const lr = new SimulateLowResolutionTransform({ zoomRange: [0.5, 0.5], perChannel: true, pPerChannel: 1, orderDownsample: 0, orderUpsample: 3, pPerSample: 1, ignoreAxes: [0] }).apply(clone(rnd), new RandomState(3));
  const [lmn, lmx] = minMaxOf(lr.data);
  assert.ok(lmn >= mn - 1e-6 && lmx <= mx + 1e-6);
  // axis 0 is ignored: each z slice is resampled only in-plane, so a z-constant volume stays z-constant
  const zc = new Float32Array(6 * 7 * 8);
  for (let i = 0; i < zc.length; i++) zc[i] = rnd.data[i % 56];
  const lz = new SimulateLowResolutionTransform({ zoomRange: [0.5, 0.5], perChannel: true, pPerChannel: 1, orderDownsample: 0, orderUpsample: 3, pPerSample: 1, ignoreAxes: [0] }).apply({ data: zc, dataShape: [1, 1, 6, 7, 8], seg: null, segShape: null }, new RandomState(3));
  for (let i = 56; i < zc.length; i++) assert.ok(Math.abs(lz.data[i] - lz.data[i % 56]) < 1e-6);
});
