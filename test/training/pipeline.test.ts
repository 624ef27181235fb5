import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RandomState } from '../../sdk/util/random';
import { setupDAParams } from '../../sdk/training/patch_size';
import { augmentBatch, getMoreDAPipeline, getValidationPipeline } from '../../sdk/training/pipeline';
import { AugBatch, Transform } from '../../sdk/training/transforms/base';
import { GaussianBlurTransform, GaussianNoiseTransform } from '../../sdk/training/transforms/noise_transforms';
import { BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform } from '../../sdk/training/transforms/color_transforms';
import { SimulateLowResolutionTransform } from '../../sdk/training/transforms/resample_transforms';
import { MirrorTransform } from '../../sdk/training/transforms/mirror_transform';
import { SpatialTransform } from '../../sdk/training/transforms/spatial_transform';
import { withinBinomial } from './helpers';

function batchOf(B: number, C: number, spatial: number[], seed: number, fill?: number): AugBatch {
  const r = new RandomState(seed);
  const n = B * C * spatial.reduce((a, b) => a * b, 1);
  const data = fill === undefined ? Float32Array.from({ length: n }, () => r.uniform(-2, 2)) : new Float32Array(n).fill(fill);
  return { data, dataShape: [B, C, ...spatial], seg: null, segShape: null };
}

/** Fraction of (sample, channel) blocks that a transform changed. */
function changedFraction(t: Transform, b: AugBatch, seed: number): { k: number; n: number; out: AugBatch; before: Float32Array } {
  const before = b.data.slice();
  const out = t.apply(b, new RandomState(seed));
  const per = out.data.length / (out.dataShape[0] * out.dataShape[1]);
  let k = 0;
  const n = out.dataShape[0] * out.dataShape[1];
  for (let i = 0; i < n; i++) {
    let ch = false;
    for (let j = 0; j < per && !ch; j++) if (out.data[i * per + j] !== before[i * per + j]) ch = true;
    if (ch) k++;
  }
  return { k, n, out, before };
}

test('getMoreDAPipeline reproduces the nnUNetTrainerV2 transform order (3D, dummy 2D, cascade)', () => {
  const p = setupDAParams({ patchSize: [40, 56, 40], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] });
  const tail = ['GaussianNoiseTransform', 'GaussianBlurTransform', 'BrightnessMultiplicativeTransform', 'ContrastAugmentationTransform', 'SimulateLowResolutionTransform', 'GammaTransform(inverted)', 'GammaTransform', 'MirrorTransform', 'MaskTransform', 'RemoveLabelTransform'];
  assert.deepEqual(getMoreDAPipeline(p).describe(), ['SegChannelSelectionTransform', 'SpatialTransform', ...tail, 'DownsampleSegForDSTransform2']);
  const d = setupDAParams({ patchSize: [10, 160, 160], poolOpKernelSizes: [[1, 2, 2], [2, 2, 2]], doDummy2DAug: true });
  assert.deepEqual(getMoreDAPipeline(d).describe(), ['SegChannelSelectionTransform', 'Convert3DTo2DTransform', 'SpatialTransform', 'Convert2DTo3DTransform', ...tail.filter((x) => x !== 'MaskTransform'), 'DownsampleSegForDSTransform2']);
  const c = setupDAParams({ patchSize: [40, 56, 40], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], cascadeLabels: [1, 2] });
  assert.deepEqual(getMoreDAPipeline(c).describe().slice(-4), ['MoveSegAsOneHotToData', 'ApplyRandomBinaryOperatorTransform', 'RemoveRandomConnectedComponentFromOneHotEncodingTransform', 'DownsampleSegForDSTransform2']);
  assert.deepEqual(getValidationPipeline(p).describe(), ['RemoveLabelTransform', 'SegChannelSelectionTransform', 'DownsampleSegForDSTransform2']);
});

test('observed application probabilities match the configured ones (§7.2)', () => {
  const N = 2000;
  // Gaussian noise p 0.1 per sample
  let r = changedFraction(new GaussianNoiseTransform({ pPerSample: 0.1 }), batchOf(N, 1, [2, 2, 2], 0, 0), 1);
  assert.ok(withinBinomial(r.k, r.n, 0.1), `noise ${r.k / r.n}`);
  // σ ~ U(0, 0.1) used as the standard deviation: mean σ over applied samples ≈ 0.05
  {
    const sds: number[] = [];
    const big = batchOf(400, 1, [8, 8, 8], 0, 0);
    const o = new GaussianNoiseTransform({ pPerSample: 1 }).apply(big, new RandomState(2));
    for (let b = 0; b < 400; b++) {
      const x = o.data.subarray(b * 512, (b + 1) * 512);
      const m = x.reduce((a, v) => a + v, 0) / 512;
      sds.push(Math.sqrt(x.reduce((a, v) => a + (v - m) ** 2, 0) / 512));
    }
    const mean = sds.reduce((a, b) => a + b, 0) / sds.length;
    assert.ok(Math.abs(mean - 0.05) < 0.006, `mean noise sd ${mean}`);
    assert.ok(Math.max(...sds) < 0.115);
  }
  // blur p 0.2 per sample × 0.5 per channel
  r = changedFraction(new GaussianBlurTransform({ blurSigma: [0.5, 1], pPerSample: 0.2, pPerChannel: 0.5 }), batchOf(N, 2, [3, 3, 3], 3), 4);
  assert.ok(withinBinomial(r.k, r.n, 0.1), `blur ${r.k / r.n}`);
  // brightness p 0.15, factor within (0.75, 1.25)
  r = changedFraction(new BrightnessMultiplicativeTransform({ multiplierRange: [0.75, 1.25], perChannel: true, pPerSample: 0.15 }), batchOf(N, 1, [2, 2, 2], 5, 1), 6);
  assert.ok(withinBinomial(r.k, r.n, 0.15), `brightness ${r.k / r.n}`);
  for (const v of r.out.data) assert.ok(v >= 0.75 && v <= 1.25);
  // contrast p 0.15
  r = changedFraction(new ContrastAugmentationTransform({ contrastRange: [0.75, 1.25], preserveRange: true, perChannel: true, pPerSample: 0.15 }), batchOf(N, 1, [2, 2, 2], 7), 8);
  assert.ok(withinBinomial(r.k, r.n, 0.15), `contrast ${r.k / r.n}`);
  // low resolution p 0.25 × 0.5 per channel; a 16-voxel axis changes unless round(16·z) = 16 (z ≥ 0.96875: prob 1/16)
  r = changedFraction(new SimulateLowResolutionTransform({ zoomRange: [0.5, 1], perChannel: true, pPerChannel: 0.5, orderDownsample: 0, orderUpsample: 3, pPerSample: 0.25 }), batchOf(N, 1, [1, 1, 16], 9), 10);
  assert.ok(withinBinomial(r.k, r.n, 0.125 * (15 / 16)), `low res ${r.k / r.n}`);
  // gamma p 0.3, inverted gamma p 0.1
  r = changedFraction(new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: false, perChannel: true, retainStats: true, pPerSample: 0.3 }), batchOf(N, 1, [2, 2, 2], 11), 12);
  assert.ok(withinBinomial(r.k, r.n, 0.3), `gamma ${r.k / r.n}`);
  r = changedFraction(new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: true, perChannel: true, retainStats: true, pPerSample: 0.1 }), batchOf(N, 1, [2, 2, 2], 13), 14);
  assert.ok(withinBinomial(r.k, r.n, 0.1), `inverted gamma ${r.k / r.n}`);
});

test('mirror flips each axis with probability 0.5; spatial transform fires with 1 − 0.8² (rotation 0.2, scaling 0.2)', () => {
  const N = 2000;
  // data = index over 2×2×2 so each axis flip is identifiable from the first voxel
  const b: AugBatch = { data: new Float32Array(N * 8), dataShape: [N, 1, 2, 2, 2], seg: null, segShape: null };
  for (let i = 0; i < N * 8; i++) b.data[i] = i % 8;
  const o = new MirrorTransform({ axes: [0, 1, 2] }).apply(b, new RandomState(1));
  const flips = [0, 0, 0];
  for (let s = 0; s < N; s++) {
    const v = o.data[s * 8];
    if (v & 4) flips[0]++;
    if (v & 2) flips[1]++;
    if (v & 1) flips[2]++;
  }
  for (const f of flips) assert.ok(withinBinomial(f, N, 0.5), `mirror ${f / N}`);
  const M = 1500;
  const st = new SpatialTransform({
    patchSize: [4, 4, 4], doElasticDeform: false, doRotation: true, pRotPerSample: 0.2, angleX: [-0.5, 0.5], angleY: [-0.5, 0.5], angleZ: [-0.5, 0.5],
    doScale: true, pScalePerSample: 0.2, scale: [0.7, 1.4], randomCrop: false,
  });
  const inp = batchOf(M, 1, [6, 6, 6], 2);
  const crop = new SpatialTransform({ patchSize: [4, 4, 4], doElasticDeform: false, doRotation: false, doScale: false, randomCrop: false }).apply({ ...inp, data: inp.data.slice() }, new RandomState(0));
  const out = st.apply(inp, new RandomState(3));
  let k = 0;
  for (let s = 0; s < M; s++) {
    let diff = false;
    for (let j = 0; j < 64 && !diff; j++) if (Math.abs(out.data[s * 64 + j] - crop.data[s * 64 + j]) > 1e-4) diff = true;
    if (diff) k++;
  }
  assert.ok(withinBinomial(k, M, 0.36), `spatial ${k / M}`);
});

test('full training pipeline: shapes, DS targets, labels in {0, 1, 2}, finite data, seeded reproducibility', () => {
  const p = setupDAParams({ patchSize: [8, 12, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] });
  const L = p.basicGeneratorPatchSize;
  const B = 3;
  const n = L.reduce((a, b) => a * b, 1);
  const mk = (): AugBatch => {
    const rr = new RandomState(1);
    return {
      data: Float32Array.from({ length: B * n }, () => rr.normal()),
      dataShape: [B, 1, ...L],
      seg: Float32Array.from({ length: B * n }, () => [-1, 0, 1, 2][rr.randint(0, 4)]),
      segShape: [B, 1, ...L],
    };
  };
  const a = augmentBatch({ batch: mk(), params: p, seed: 42 });
  const b = augmentBatch({ batch: mk(), params: p, seed: 42 });
  assert.deepEqual(a.dataShape, [B, 1, 8, 12, 8]);
  assert.deepEqual(a.targetShapes, [[B, 1, 8, 12, 8], [B, 1, 4, 6, 4], [B, 1, 2, 3, 2]]);
  assert.equal(a.seg, null);
  for (const t of a.target!) for (const v of t) assert.ok(v === 0 || v === 1 || v === 2, `label ${v}`);
  for (const v of a.data) assert.ok(Number.isFinite(v));
  assert.deepEqual(Array.from(a.data), Array.from(b.data));
  assert.deepEqual(Array.from(a.target![0]), Array.from(b.target![0]));
  const v = augmentBatch({ batch: { ...mk(), data: mk().data, dataShape: [B, 1, ...L] }, params: p, seed: 0, validation: true });
  assert.deepEqual(v.dataShape, [B, 1, ...L]);
  for (const x of v.target![0]) assert.ok(x >= 0);
});
