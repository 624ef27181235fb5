// Bit-identity guard for the augmentation transforms: every transform and pipeline below is run on seeded inputs and
// hashed (output arrays, shapes, and the next RandomState draws, which pin how many numbers the transform consumed).
// The expected hashes in augmentation_golden.json were recorded from the code before the option-object / draw-then-
// apply refactor (issue 27), so a refactor that changes any output bit or the RNG stream fails here.
// Re-record only on purpose: WRITE_GOLDEN=1 node test/run.js augmentation_golden
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RandomState } from '../../sdk/util/random';
import { setupDAParams, MoreDAParams } from '../../sdk/training/patch_size';
import { augmentBatch } from '../../sdk/training/pipeline';
import { AugBatch, Transform } from '../../sdk/training/transforms/base';
import { BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform } from '../../sdk/training/transforms/color_transforms';
import { MirrorTransform } from '../../sdk/training/transforms/mirror_transform';
import { GaussianBlurTransform, GaussianNoiseTransform } from '../../sdk/training/transforms/noise_transforms';
import { ApplyRandomBinaryOperatorTransform, MoveSegAsOneHotToData, RemoveRandomConnectedComponentFromOneHotEncodingTransform } from '../../sdk/training/transforms/pyramid_augmentations';
import { SimulateLowResolutionTransform } from '../../sdk/training/transforms/resample_transforms';
import { SpatialTransform } from '../../sdk/training/transforms/spatial_transform';

import { cascadeBatch, goldenBatch } from './helpers';

const GOLDEN = path.join(__dirname, 'augmentation_golden.json');

function hashBatch(out: AugBatch, rng: RandomState): string {
  const h = createHash('sha256');
  const add = (a: Float32Array | null | undefined) => {
    if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    h.update('|');
  };
  add(out.data);
  h.update(JSON.stringify(out.dataShape));
  add(out.seg);
  h.update(JSON.stringify(out.segShape));
  for (const t of out.target ?? []) add(t);
  h.update(JSON.stringify(out.targetShapes ?? null));
  // the stream position after the transform: same count and order of draws
  h.update(JSON.stringify([rng.random(), rng.random(), rng.normal(), rng.random()]));
  return h.digest('hex').slice(0, 24);
}

type Case = [string, () => string];

function transformCase(name: string, t: () => Transform, input: () => AugBatch, seed: number): Case {
  return [name, () => {
    const rng = new RandomState(seed);
    return hashBatch(t().apply(input(), rng), rng);
  }];
}

function pipelineCase(name: string, p: () => MoreDAParams, input: () => AugBatch, seed: number, validation = false): Case {
  return [name, () => {
    const out = augmentBatch({ batch: input(), params: p(), seed, validation });
    return hashBatch(out, new RandomState(0));
  }];
}

const b3 = () => goldenBatch([3, 2, 9, 10, 11], 1, 1);
const b2 = () => goldenBatch([4, 2, 12, 13], 1, 2);
const p3 = () => setupDAParams({ patchSize: [8, 12, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] });

const CASES: Case[] = [
  // spatial: elastic + rotation + scale (isotropic / per axis) + random crop; 2D; centre and random crop only
  transformCase('spatial3d-all', () => new SpatialTransform({
    patchSize: [7, 8, 9], doElasticDeform: true, pElPerSample: 0.7, alpha: [0, 40], sigma: [2, 3], doRotation: true, pRotPerSample: 0.7,
    angleX: [-0.5, 0.5], angleY: [-0.4, 0.4], angleZ: [-0.3, 0.3], pRotPerAxis: 0.6, doScale: true, pScalePerSample: 0.7, scale: [0.7, 1.4],
    randomCrop: true, patchCenterDistFromBorder: 2, orderData: 3, orderSeg: 1, borderCvalSeg: -1,
  }), b3, 11),
  transformCase('spatial3d-indep-scale', () => new SpatialTransform({
    patchSize: [7, 8, 9], doElasticDeform: false, doRotation: false, doScale: true, pScalePerSample: 0.8, scale: [0.8, 1.3],
    independentScaleForEachAxis: true, pIndependentScalePerAxis: 0.5, randomCrop: false, orderData: 1, orderSeg: 0,
  }), b3, 12),
  transformCase('spatial2d', () => new SpatialTransform({
    patchSize: [10, 9], doElasticDeform: true, pElPerSample: 0.5, alpha: [0, 30], sigma: [2, 3], pRotPerSample: 0.5, angleX: [-1, 1],
    pScalePerSample: 0.5, scale: [0.7, 1.4], randomCrop: false, orderData: 3, orderSeg: 1, borderCvalSeg: -1,
  }), b2, 13),
  transformCase('spatial-randomcrop-only', () => new SpatialTransform({ patchSize: [7, 8, 9], doElasticDeform: false, doRotation: false, doScale: false, randomCrop: true, patchCenterDistFromBorder: 4 }), b3, 14),
  transformCase('mirror3d', () => new MirrorTransform({ axes: [0, 1, 2] }), b3, 21),
  transformCase('mirror3d-axes-p', () => new MirrorTransform({ axes: [0, 2], pPerSample: 0.6 }), b3, 22),
  transformCase('mirror2d', () => new MirrorTransform({ axes: [0, 1, 2] }), b2, 23),
  transformCase('noise', () => new GaussianNoiseTransform({ pPerSample: 0.6 }), b3, 31),
  transformCase('noise-per-channel', () => new GaussianNoiseTransform({ noiseVariance: [0, 0.3], pPerSample: 0.8, pPerChannel: 0.5, perChannel: true }), b3, 32),
  transformCase('blur', () => new GaussianBlurTransform({ blurSigma: [0.5, 1], differentSigmaPerChannel: true, pPerSample: 0.7, pPerChannel: 0.5 }), b3, 33),
  transformCase('blur-one-sigma', () => new GaussianBlurTransform({ blurSigma: [0.5, 1.5], differentSigmaPerChannel: false, pPerSample: 0.7 }), b2, 34),
  transformCase('brightness', () => new BrightnessMultiplicativeTransform({ multiplierRange: [0.75, 1.25], perChannel: true, pPerSample: 0.6 }), b3, 41),
  transformCase('brightness-shared', () => new BrightnessMultiplicativeTransform({ multiplierRange: [0.5, 2], perChannel: false, pPerSample: 0.6 }), b3, 42),
  transformCase('contrast', () => new ContrastAugmentationTransform({ contrastRange: [0.75, 1.25], preserveRange: true, perChannel: true, pPerSample: 0.6, pPerChannel: 0.7 }), b3, 43),
  transformCase('contrast-sample', () => new ContrastAugmentationTransform({ contrastRange: [0.6, 1.5], preserveRange: false, perChannel: false, pPerSample: 0.7 }), b3, 44),
  transformCase('gamma', () => new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: false, perChannel: true, retainStats: true, pPerSample: 0.7 }), b3, 45),
  transformCase('gamma-inverted', () => new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: true, perChannel: true, retainStats: true, pPerSample: 0.7 }), b3, 46),
  transformCase('gamma-sample-nostats', () => new GammaTransform({ gammaRange: [0.5, 2], invertImage: false, perChannel: false, retainStats: false, pPerSample: 0.7 }), b2, 47),
  transformCase('lowres', () => new SimulateLowResolutionTransform({ zoomRange: [0.5, 1], perChannel: true, pPerChannel: 0.5, orderDownsample: 0, orderUpsample: 3, pPerSample: 0.8, ignoreAxes: [0] }), b3, 51),
  transformCase('lowres-shared', () => new SimulateLowResolutionTransform({ zoomRange: [0.4, 0.9], pPerSample: 0.8 }), b2, 52),
  transformCase('binary-operator', () => new ApplyRandomBinaryOperatorTransform({ channelIdx: [-2, -1], pPerSample: 0.8, strelSize: [1, 3], pPerLabel: 0.8 }), () => cascadeBatch(3), 61),
  transformCase('remove-cc-v2', () => new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-2, -1], pPerSample: 0.9, fillWithOtherClassP: 0.6, dontDoIfCoversMoreThanXPercent: 0.15, pPerLabel: 0.9 }), () => cascadeBatch(4), 62),
  transformCase('remove-cc-v1', () => new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-2, -1], pPerSample: 0.9, fillWithOtherClassP: 0.15, dontDoIfCoversMoreThanXPercent: 0 }), () => cascadeBatch(5), 63),
  transformCase('one-hot', () => new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: [1, 2] }), () => goldenBatch([2, 1, 5, 6, 7], 2, 6, [0, 1, 2]), 64),
  pipelineCase('pipeline-3d', p3, () => goldenBatch([2, 1, ...p3().basicGeneratorPatchSize], 1, 7), 101),
  pipelineCase('pipeline-3d-elastic-mask', () => ({ ...p3(), doElastic: true, pEldef: 0.5, maskWasUsedForNormalization: [true] }), () => goldenBatch([2, 1, ...p3().basicGeneratorPatchSize], 1, 8), 102),
  pipelineCase('pipeline-3d-validation', p3, () => goldenBatch([2, 1, 8, 12, 8], 1, 9), 103, true),
  pipelineCase('pipeline-dummy2d', () => setupDAParams({ patchSize: [6, 16, 16], poolOpKernelSizes: [[1, 2, 2], [2, 2, 2]], doDummy2DAug: true }), () => {
    const p = setupDAParams({ patchSize: [6, 16, 16], poolOpKernelSizes: [[1, 2, 2], [2, 2, 2]], doDummy2DAug: true });
    return goldenBatch([2, 1, ...p.basicGeneratorPatchSize], 1, 10);
  }, 104),
  pipelineCase('pipeline-2d', () => setupDAParams({ patchSize: [16, 20], poolOpKernelSizes: [[2, 2], [2, 2]] }), () => {
    const p = setupDAParams({ patchSize: [16, 20], poolOpKernelSizes: [[2, 2], [2, 2]] });
    return goldenBatch([3, 1, ...p.basicGeneratorPatchSize], 1, 11);
  }, 105),
  pipelineCase('pipeline-cascade', () => ({ ...setupDAParams({ patchSize: [8, 8, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], cascadeLabels: [1, 2] }), cascadeRandomBinaryTransformP: 0.9, cascadeRemoveConnCompP: 0.9, cascadeRemoveConnCompMaxSizePercentThreshold: 0.5, cascadeRemoveConnCompFillWithOtherClassP: 0.3 }), () => {
    const p = setupDAParams({ patchSize: [8, 8, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], cascadeLabels: [1, 2] });
    const b = goldenBatch([2, 1, ...p.basicGeneratorPatchSize], 2, 12, [0, 1, 2]);
    return b;
  }, 106),
];

test('augmentation outputs and RNG consumption are bit-identical to the recorded golden hashes', () => {
  const got: Record<string, string> = {};
  for (const [name, run] of CASES) got[name] = run();
  if (process.env.WRITE_GOLDEN) {
    fs.writeFileSync(GOLDEN, JSON.stringify(got, null, 2) + '\n');
    return;
  }
  const want = JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as Record<string, string>;
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
  for (const k of Object.keys(want)) assert.equal(got[k], want[k], `golden case ${k}`);
});
