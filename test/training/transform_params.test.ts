// The issue-27 contract of the augmentation transforms: inputs are never modified, the drawn params replayed through
// the deterministic path give the random transform's output bit for bit, constructors without options take
// batchgenerators' defaults, and a recorded pipeline run replays exactly.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { RandomState } from '../../sdk/util/random';
import { setupDAParams } from '../../sdk/training/patch_size';
import { augmentBatch, augmentBatchRecorded, getMoreDAPipeline, NNUNET_V1_AUGMENTATION } from '../../sdk/training/pipeline';
import { AugBatch, RandomTransform, Transform } from '../../sdk/training/transforms/base';
import { BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform } from '../../sdk/training/transforms/color_transforms';
import { DownsampleSegForDSTransform2, RenameSegToTargetTransform } from '../../sdk/training/transforms/downsampling';
import { MirrorTransform } from '../../sdk/training/transforms/mirror_transform';
import { GaussianBlurTransform, GaussianNoiseTransform } from '../../sdk/training/transforms/noise_transforms';
import { ApplyRandomBinaryOperatorTransform, MoveSegAsOneHotToData, RemoveRandomConnectedComponentFromOneHotEncodingTransform } from '../../sdk/training/transforms/pyramid_augmentations';
import { SimulateLowResolutionTransform } from '../../sdk/training/transforms/resample_transforms';
import { SpatialParams, SpatialTransform } from '../../sdk/training/transforms/spatial_transform';
import { Convert2DTo3DTransform, Convert3DTo2DTransform, MaskTransform, RemoveLabelTransform, SegChannelSelectionTransform } from '../../sdk/training/transforms/utility_transforms';
import { cascadeBatch, goldenBatch } from './helpers';

const b3 = () => goldenBatch([3, 2, 9, 10, 11], 2, 1);
const b2 = () => goldenBatch([4, 2, 12, 13], 1, 2);

/** Random transforms in configurations where they fire on some samples and not on others. */
const RANDOM: [string, () => RandomTransform<unknown>, () => AugBatch][] = [
  ['spatial3d', () => new SpatialTransform({
    patchSize: [7, 8, 9], doElasticDeform: true, pElPerSample: 0.5, alpha: [0, 40], sigma: [2, 3], pRotPerSample: 0.5, angleX: [-0.5, 0.5],
    angleY: [-0.4, 0.4], angleZ: [-0.3, 0.3], pRotPerAxis: 0.6, pScalePerSample: 0.5, scale: [0.7, 1.4], randomCrop: true, patchCenterDistFromBorder: 2,
    orderSeg: 1, borderCvalSeg: -1,
  }), b3],
  ['spatial2d-crop', () => new SpatialTransform({ patchSize: [10, 9], doElasticDeform: false, pRotPerSample: 0.3, angleX: [-1, 1], pScalePerSample: 0.3, randomCrop: true, patchCenterDistFromBorder: 5 }), b2],
  ['mirror', () => new MirrorTransform({ axes: [0, 1, 2], pPerSample: 0.7 }), b3],
  ['noise', () => new GaussianNoiseTransform({ pPerSample: 0.6, pPerChannel: 0.6, perChannel: true }), b3],
  ['blur', () => new GaussianBlurTransform({ blurSigma: [0.5, 1], pPerSample: 0.7, pPerChannel: 0.5 }), b3],
  ['brightness', () => new BrightnessMultiplicativeTransform({ multiplierRange: [0.75, 1.25], pPerSample: 0.6 }), b3],
  ['contrast', () => new ContrastAugmentationTransform({ pPerSample: 0.6, pPerChannel: 0.7 }), b3],
  ['contrast-sample', () => new ContrastAugmentationTransform({ contrastRange: [0.6, 1.5], preserveRange: false, perChannel: false, pPerSample: 0.7 }), b2],
  ['gamma-inverted', () => new GammaTransform({ gammaRange: [0.7, 1.5], invertImage: true, perChannel: true, retainStats: true, pPerSample: 0.7 }), b3],
  ['gamma-sample', () => new GammaTransform({ gammaRange: [0.5, 2], pPerSample: 0.7 }), b2],
  ['lowres', () => new SimulateLowResolutionTransform({ perChannel: true, pPerChannel: 0.5, orderDownsample: 0, orderUpsample: 3, pPerSample: 0.8, ignoreAxes: [0] }), b3],
  ['binary-operator', () => new ApplyRandomBinaryOperatorTransform({ channelIdx: [-2, -1], pPerSample: 0.8, strelSize: [1, 3], pPerLabel: 0.8 }), () => cascadeBatch(3)],
  ['remove-cc', () => new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-2, -1], pPerSample: 0.9, fillWithOtherClassP: 0.6, dontDoIfCoversMoreThanXPercent: 0.15, pPerLabel: 0.9 }), () => cascadeBatch(4)],
];

const DETERMINISTIC: [string, () => Transform, () => AugBatch][] = [
  ['seg-channel-selection', () => new SegChannelSelectionTransform({ channels: [1, 0] }), b3],
  ['remove-label', () => new RemoveLabelTransform(), b3],
  ['mask', () => new MaskTransform({ maskWasUsedForNormalization: [true, false], maskIdxInSeg: 0 }), b3],
  ['one-hot', () => new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: [1, 2] }), b3],
  ['to-2d', () => new Convert3DTo2DTransform(), b3],
  ['round-trip-2d', () => ({ name: 'rt', apply: (b: AugBatch) => new Convert2DTo3DTransform().apply(new Convert3DTo2DTransform().apply(b)) }), b3],
  ['ds', () => new DownsampleSegForDSTransform2({ dsScales: [[1, 1, 1], [0.5, 0.5, 0.5]] }), b3],
  ['rename', () => new RenameSegToTargetTransform(), b3],
];

function sameBits(a: Float32Array | null | undefined, b: Float32Array | null | undefined, what: string): void {
  if (!a || !b) return assert.equal(a ?? null, b ?? null, what);
  assert.equal(a.length, b.length, `${what}: length`);
  assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${what}: bits differ`);
}

function sameBatch(x: AugBatch, y: AugBatch, what: string): void {
  sameBits(x.data, y.data, `${what} data`);
  assert.deepEqual(x.dataShape, y.dataShape, `${what} dataShape`);
  sameBits(x.seg, y.seg, `${what} seg`);
  assert.deepEqual(x.segShape, y.segShape, `${what} segShape`);
  assert.equal((x.target ?? []).length, (y.target ?? []).length);
  (x.target ?? []).forEach((t, i) => sameBits(t, y.target![i], `${what} target ${i}`));
}

/** A deep, independent snapshot of a batch (arrays and shapes). */
function snapshot(b: AugBatch): AugBatch {
  return structuredClone(b);
}

test('no transform modifies its input batch (arrays, shapes or fields)', () => {
  for (const [name, make, input] of [...RANDOM, ...DETERMINISTIC] as [string, () => Transform, () => AugBatch][]) {
    for (const seed of [0, 1, 2]) {
      const inp = input();
      const before = snapshot(inp);
      make().apply(inp, new RandomState(seed));
      sameBatch(inp, before, `${name} seed ${seed} input`);
      assert.deepEqual(Object.keys(inp).sort(), Object.keys(before).sort(), `${name}: input fields`);
    }
  }
  // the whole pipeline, as the inline BatchGenerator runs it on the loader's batch
  const p = setupDAParams({ patchSize: [8, 12, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], useMaskForNorm: [true] });
  const inp = goldenBatch([2, 1, ...p.basicGeneratorPatchSize], 1, 3);
  const before = snapshot(inp);
  for (const seed of [0, 1, 2, 3]) augmentBatch({ batch: inp, params: p, seed });
  sameBatch(inp, before, 'pipeline input');
});

test('applying the drawn params through the deterministic path reproduces the random transform bit for bit', () => {
  for (const [name, make, input] of RANDOM) {
    let fired = 0;
    for (const seed of [0, 1, 2, 3]) {
      const t = make();
      const r1 = new RandomState(seed);
      const r2 = new RandomState(seed);
      const direct = t.apply(input(), r1);
      const params = t.draw(input(), r2);
      // draw consumes exactly what apply consumes
      assert.equal(r2.random(), r1.random(), `${name} seed ${seed}: RNG position after draw`);
      sameBatch(t.applyParams(input(), params), direct, `${name} seed ${seed} replay`);
      const rec = t.applyRecorded(input(), new RandomState(seed));
      sameBatch(rec.batch, direct, `${name} seed ${seed} recorded`);
      sameBatch(t.applyParams(input(), rec.params), direct, `${name} seed ${seed} recorded replay`);
      // params are plain, per-sample data: null where a sample was left alone
      if (Array.isArray(params)) {
        assert.equal(params.length, input().dataShape[0], `${name}: one entry per sample`);
        fired += params.filter((x) => x !== null).length;
      }
    }
    assert.ok(fired > 0, `${name}: never fired`);
  }
});

test('params are inspectable and can be written by hand', () => {
  // mirror: flip x of sample 0 only
  const line: AugBatch = { data: Float32Array.from([1, 2, 3, 4, 5, 6]), dataShape: [2, 1, 1, 1, 3], seg: Float32Array.from([0, 1, 2, 0, 1, 2]), segShape: [2, 1, 1, 1, 3] };
  const m = new MirrorTransform().applyParams(line, [{ flipAxes: [2] }, null]);
  assert.deepEqual(Array.from(m.data), [3, 2, 1, 4, 5, 6]);
  assert.deepEqual(Array.from(m.seg!), [2, 1, 0, 0, 1, 2]);
  assert.deepEqual(Array.from(line.data), [1, 2, 3, 4, 5, 6]);
  // brightness: the multiplier per channel
  const br = new BrightnessMultiplicativeTransform().applyParams(line, [{ multipliers: [2] }, null]);
  assert.deepEqual(Array.from(br.data), [2, 4, 6, 4, 5, 6]);
  // spatial: what was drawn is a small record (angles, scale, centre) per sample
  const st = new SpatialTransform({ patchSize: [5, 6, 7], doElasticDeform: false, pRotPerSample: 1, angleX: [-0.5, 0.5], angleY: [-0.5, 0.5], angleZ: [-0.5, 0.5], pScalePerSample: 1, scale: [0.7, 1.4], randomCrop: false });
  const params = st.draw(goldenBatch([2, 1, 9, 10, 11], 1, 5), new RandomState(7));
  for (const p of params) {
    assert.equal(p.rotation!.length, 3);
    for (const a of p.rotation!) assert.ok(a >= -0.5 && a <= 0.5);
    assert.equal(new Set(p.scale!).size, 1); // one isotropic factor
    assert.deepEqual(p.center, [4, 4.5, 5]); // no random crop: the input centre
    assert.equal(p.cropLow, null);
    assert.equal(p.elastic, null);
  }
  // a hand-written identity rotation with scale 1 at the centre equals the centre crop
  const inp = goldenBatch([1, 1, 9, 10, 11], 1, 6, [0, 1, 2]);
  const ident: SpatialParams = { elastic: null, rotation: [0, 0, 0], scale: [1, 1, 1], center: [4, 4.5, 5], cropLow: null };
  const crop: SpatialParams = { elastic: null, rotation: null, scale: null, center: null, cropLow: [2, 2, 2] };
  const a = new SpatialTransform({ patchSize: [5, 6, 7], orderSeg: 1, borderCvalSeg: -1 }).applyParams(inp, [ident]);
  const c = new SpatialTransform({ patchSize: [5, 6, 7] }).applyParams(inp, [crop]);
  for (let i = 0; i < a.data.length; i++) assert.ok(Math.abs(a.data[i] - c.data[i]) < 1e-5, `voxel ${i}`);
  assert.deepEqual(Array.from(a.seg!), Array.from(c.seg!));
  assert.throws(() => new MirrorTransform().applyParams(line, [null]), /params for 1 samples, batch has 2/);
});

test("no options = batchgenerators' constructor defaults (the defaults documented in the option types)", () => {
  // batchgenerators transforms/{color,noise,resample,spatial}_transforms.py and nnU-Net v1 custom_transforms.py,
  // downsampling.py, pyramid_augmentations.py; where batchgenerators has no default (remove_label) the option type
  // documents nnU-Net v1's value. Required options (patch size, channels, masks) are given, nothing else.
  const br = new BrightnessMultiplicativeTransform();
  assert.deepEqual({ r: br.multiplierRange, pc: br.perChannel, p: br.pPerSample }, { r: [0.5, 2], pc: true, p: 1 });
  const ct = new ContrastAugmentationTransform();
  assert.deepEqual(
    { r: ct.contrastRange, pr: ct.preserveRange, pc: ct.perChannel, p: ct.pPerSample, pch: ct.pPerChannel },
    { r: [0.75, 1.25], pr: true, pc: true, p: 1, pch: 1 },
  );
  const g = new GammaTransform();
  assert.deepEqual(
    { r: g.gammaRange, inv: g.invertImage, pc: g.perChannel, rs: g.retainStats, p: g.pPerSample, name: g.name },
    { r: [0.5, 2], inv: false, pc: false, rs: false, p: 1, name: 'GammaTransform' },
  );
  const no = new GaussianNoiseTransform();
  assert.deepEqual({ v: no.noiseVariance, p: no.pPerSample, pch: no.pPerChannel, pc: no.perChannel }, { v: [0, 0.1], p: 1, pch: 1, pc: false });
  const bl = new GaussianBlurTransform();
  assert.deepEqual({ s: bl.blurSigma, d: bl.differentSigmaPerChannel, pch: bl.pPerChannel, p: bl.pPerSample }, { s: [1, 5], d: true, pch: 1, p: 1 });
  assert.deepEqual(new SimulateLowResolutionTransform().o, {
    zoomRange: [0.5, 1], perChannel: false, pPerChannel: 1, orderDownsample: 1, orderUpsample: 0, pPerSample: 1, ignoreAxes: null,
  });
  const mi = new MirrorTransform();
  assert.deepEqual({ axes: mi.axes, p: mi.pPerSample }, { axes: [0, 1, 2], p: 1 });
  assert.deepEqual(new SpatialTransform({ patchSize: [4, 5, 6] }).o, {
    patchSize: [4, 5, 6], randomCrop: true, patchCenterDistFromBorder: 30, doElasticDeform: true, alpha: [0, 1000], sigma: [10, 13],
    doRotation: true, angleX: [0, 2 * Math.PI], angleY: [0, 2 * Math.PI], angleZ: [0, 2 * Math.PI], doScale: true, scale: [0.75, 1.25],
    borderCvalData: 0, orderData: 3, borderCvalSeg: 0, orderSeg: 0, pElPerSample: 1, pScalePerSample: 1, pRotPerSample: 1,
    independentScaleForEachAxis: false, pRotPerAxis: 1, pIndependentScalePerAxis: 1,
  });
  const rl = new RemoveLabelTransform();
  assert.deepEqual({ l: rl.removeLabel, w: rl.replaceWith }, { l: -1, w: 0 });
  const mk = new MaskTransform({ maskWasUsedForNormalization: [true] });
  assert.deepEqual({ i: mk.maskIdxInSeg, v: mk.setOutsideTo }, { i: 1, v: 0 });
  assert.equal(new DownsampleSegForDSTransform2({ dsScales: [[1, 1, 1]] }).order, 0);
  assert.equal(new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: [1] }).removeFromOrigin, true);
  const bo = new ApplyRandomBinaryOperatorTransform({ channelIdx: [-1] });
  assert.deepEqual({ p: bo.pPerSample, s: bo.strelSize, pl: bo.pPerLabel }, { p: 0.3, s: [1, 10], pl: 1 });
  const cc = new RemoveRandomConnectedComponentFromOneHotEncodingTransform({ channelIdx: [-1] });
  assert.deepEqual(
    { p: cc.pPerSample, f: cc.fillWithOtherClassP, t: cc.dontDoIfCoversMoreThanXPercent, pl: cc.pPerLabel },
    { p: 0.2, f: 0.25, t: 0.25, pl: 1 },
  );
  // an options object that sets some fields keeps the defaults of the others
  const part = new ContrastAugmentationTransform({ pPerSample: 0.6, pPerChannel: 0.7 });
  assert.deepEqual({ r: part.contrastRange, pr: part.preserveRange, pc: part.perChannel }, { r: [0.75, 1.25], pr: true, pc: true });
  assert.ok(Object.isFrozen(NNUNET_V1_AUGMENTATION) && Object.isFrozen(NNUNET_V1_AUGMENTATION.gaussianBlur));
});

test('a positional first argument is rejected, not read as "no options" (issue 27)', () => {
  // Type-checked callers cannot pass these any more (hence the expect-errors); untyped ones (plain JS, notebook
  // cells, batchgenerators habits) get a TypeError instead of a transform that silently runs with all defaults.
  const positional: [string, () => unknown][] = [
    // @ts-expect-error positional form removed
    ['MirrorTransform', () => new MirrorTransform([0, 1, 2])],
    // @ts-expect-error positional form removed
    ['BrightnessMultiplicativeTransform', () => new BrightnessMultiplicativeTransform([0.75, 1.25], true, 0.15)],
    // @ts-expect-error positional form removed
    ['ContrastAugmentationTransform', () => new ContrastAugmentationTransform([0.75, 1.25], true, true, 0.15)],
    // @ts-expect-error positional form removed
    ['GammaTransform', () => new GammaTransform([0.7, 1.5], true, true, true, 0.1)],
    // @ts-expect-error batchgenerators' positional noise_variance
    ['GaussianNoiseTransform', () => new GaussianNoiseTransform([0, 0.1])],
    // @ts-expect-error batchgenerators' positional blur_sigma, as nnU-Net v1 writes it
    ['GaussianBlurTransform', () => new GaussianBlurTransform([0.5, 1])],
    // @ts-expect-error batchgenerators' positional zoom_range
    ['SimulateLowResolutionTransform', () => new SimulateLowResolutionTransform([0.5, 1])],
    // @ts-expect-error batchgenerators' positional patch_size
    ['SpatialTransform', () => new SpatialTransform([8, 8, 8])],
    // @ts-expect-error positional form removed
    ['RemoveLabelTransform', () => new RemoveLabelTransform(-1, 0)],
    // @ts-expect-error positional form removed
    ['MaskTransform', () => new MaskTransform([true], 0, 0)],
    // @ts-expect-error positional form removed
    ['SegChannelSelectionTransform', () => new SegChannelSelectionTransform([0])],
    // @ts-expect-error positional form removed
    ['MoveSegAsOneHotToData', () => new MoveSegAsOneHotToData(1, [1, 2])],
    // @ts-expect-error positional form removed
    ['DownsampleSegForDSTransform2', () => new DownsampleSegForDSTransform2([[1, 1, 1]], 0)],
    // @ts-expect-error positional form removed
    ['ApplyRandomBinaryOperatorTransform', () => new ApplyRandomBinaryOperatorTransform([-1], 0.4, [1, 8], 1)],
    // @ts-expect-error positional form removed
    ['RemoveRandomConnectedComponentFromOneHotEncodingTransform', () => new RemoveRandomConnectedComponentFromOneHotEncodingTransform([-1], 0.2, 0.15, 0)],
  ];
  for (const [name, make] of positional) assert.throws(make, (e: unknown) => e instanceof TypeError && e.message.startsWith(`${name}: pass an options object`), name);
  // @ts-expect-error null is not an options object either (undefined is: all defaults)
  assert.throws(() => new MirrorTransform(null), TypeError);
  assert.deepEqual(new MirrorTransform(undefined).axes, [0, 1, 2]);
});

test('a recorded pipeline run returns the same batch and replays exactly from its steps', () => {
  const p = { ...setupDAParams({ patchSize: [8, 12, 8], poolOpKernelSizes: [[2, 2, 2], [2, 2, 2]], useMaskForNorm: [false] }), doElastic: true, pEldef: 0.5 };
  const inp = () => goldenBatch([2, 1, ...p.basicGeneratorPatchSize], 1, 4);
  for (const seed of [5, 6]) {
    const plain = augmentBatch({ batch: inp(), params: p, seed });
    const rec = augmentBatchRecorded({ batch: inp(), params: p, seed });
    sameBatch(rec.batch, plain, `seed ${seed} recorded`);
    const pipe = getMoreDAPipeline(p);
    assert.deepEqual(rec.steps.map((s) => s.name), pipe.describe());
    sameBatch(pipe.applyParams(inp(), rec.steps), plain, `seed ${seed} replay`);
    const spatial = rec.steps.find((s) => s.name === 'SpatialTransform')!.params as SpatialParams[];
    assert.equal(spatial.length, 2);
  }
});

test('an option passed as undefined falls back to its default (SpatialTransform, SimulateLowResolutionTransform)', async () => {
  const { SpatialTransform } = await import('../../sdk/training/transforms/spatial_transform');
  const { SimulateLowResolutionTransform } = await import('../../sdk/training/transforms/resample_transforms');
  const a = new SpatialTransform({ patchSize: [8, 8, 8] }) as unknown as { o: Record<string, unknown> };
  const b = new SpatialTransform({ patchSize: [8, 8, 8], randomCrop: undefined, scale: undefined }) as unknown as { o: Record<string, unknown> };
  assert.deepEqual(b.o, a.o);
  const c = new SimulateLowResolutionTransform({}) as unknown as { o: Record<string, unknown> };
  const d = new SimulateLowResolutionTransform({ zoomRange: undefined, orderUpsample: undefined }) as unknown as { o: Record<string, unknown> };
  assert.deepEqual(d.o, c.o);
});
