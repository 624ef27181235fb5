/**
 * The augmentation pipelines of nnUNetTrainerV2 (S1 training/data_augmentation/data_augmentation_moreDA.py
 * ::get_moreDA_augmentation; reference §7.1–7.2), built from the serialisable MoreDAParams (patch_size.ts).
 */
import { RandomState } from '../util/random';
import { MoreDAParams } from './patch_size';
import { AugBatch, Compose, RecordedStep, Transform } from './transforms/base';
import {
  BrightnessMultiplicativeOptions,
  BrightnessMultiplicativeTransform,
  ContrastAugmentationOptions,
  ContrastAugmentationTransform,
  GammaOptions,
  GammaTransform,
} from './transforms/color_transforms';
import { DownsampleSegForDSTransform2, RenameSegToTargetTransform } from './transforms/downsampling';
import { MirrorTransform } from './transforms/mirror_transform';
import { GaussianBlurOptions, GaussianBlurTransform, GaussianNoiseOptions, GaussianNoiseTransform } from './transforms/noise_transforms';
import {
  ApplyRandomBinaryOperatorTransform,
  MoveSegAsOneHotToData,
  RemoveRandomConnectedComponentFromOneHotEncodingTransform,
} from './transforms/pyramid_augmentations';
import { SimulateLowResolutionOptions, SimulateLowResolutionTransform } from './transforms/resample_transforms';
import { SpatialTransform } from './transforms/spatial_transform';
import {
  Convert2DTo3DTransform,
  Convert3DTo2DTransform,
  MaskOptions,
  MaskTransform,
  RemoveLabelOptions,
  RemoveLabelTransform,
  SegChannelSelectionTransform,
} from './transforms/utility_transforms';

/**
 * The settings get_moreDA_augmentation hard-codes (S1 data_augmentation_moreDA.py, nnU-Net v1 db16c6ce); everything
 * that comes from the trainer's data_aug_params (rotation, scaling, gamma range, p_gamma, mirror axes, ...) is in
 * MoreDAParams instead. Frozen: spread a copy to change one for an experiment.
 */
export const NNUNET_V1_AUGMENTATION: Readonly<{
  /** GaussianNoiseTransform(p_per_sample=0.1) */
  gaussianNoise: Readonly<GaussianNoiseOptions>;
  /** GaussianBlurTransform((0.5, 1.), different_sigma_per_channel=True, p_per_sample=0.2, p_per_channel=0.5) */
  gaussianBlur: Readonly<GaussianBlurOptions>;
  /** BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15) */
  brightness: Readonly<BrightnessMultiplicativeOptions>;
  /** ContrastAugmentationTransform(p_per_sample=0.15), batchgenerators defaults otherwise */
  contrast: Readonly<ContrastAugmentationOptions>;
  /** SimulateLowResolutionTransform(zoom_range=(0.5, 1), per_channel=True, p_per_channel=0.5, order_downsample=0,
   * order_upsample=3, p_per_sample=0.25, ignore_axes=ignore_axes); ignore_axes (0,) in dummy-2D is added per run */
  lowResolution: Readonly<SimulateLowResolutionOptions>;
  /** GammaTransform(gamma_range, True, True, retain_stats=gamma_retain_stats, p_per_sample=0.1) */
  invertedGamma: Readonly<GammaOptions>;
  /** GammaTransform(gamma_range, False, True, retain_stats=gamma_retain_stats, p_per_sample=p_gamma) */
  gamma: Readonly<GammaOptions>;
  /** MaskTransform(use_mask_for_norm, mask_idx_in_seg=0, set_outside_to=0) */
  mask: Readonly<Omit<MaskOptions, 'maskWasUsedForNormalization'>>;
  /** RemoveLabelTransform(-1, 0) */
  removeLabel: Readonly<RemoveLabelOptions>;
}> = Object.freeze({
  gaussianNoise: Object.freeze({ pPerSample: 0.1 }),
  gaussianBlur: Object.freeze({ blurSigma: [0.5, 1] as [number, number], differentSigmaPerChannel: true, pPerSample: 0.2, pPerChannel: 0.5 }),
  brightness: Object.freeze({ multiplierRange: [0.75, 1.25] as [number, number], perChannel: true, pPerSample: 0.15 }),
  contrast: Object.freeze({ contrastRange: [0.75, 1.25] as [number, number], preserveRange: true, perChannel: true, pPerSample: 0.15 }),
  lowResolution: Object.freeze({ zoomRange: [0.5, 1] as [number, number], perChannel: true, pPerChannel: 0.5, orderDownsample: 0 as const, orderUpsample: 3 as const, pPerSample: 0.25 }),
  invertedGamma: Object.freeze({ invertImage: true, perChannel: true, pPerSample: 0.1 }),
  gamma: Object.freeze({ invertImage: false, perChannel: true }),
  mask: Object.freeze({ maskIdxInSeg: 0, setOutsideTo: 0 }),
  removeLabel: Object.freeze({ removeLabel: -1, replaceWith: 0 }),
});

function dsOrRename(p: MoreDAParams): Transform {
  return p.deepSupervisionScales ? new DownsampleSegForDSTransform2({ dsScales: p.deepSupervisionScales, order: 0 }) : new RenameSegToTargetTransform();
}

/** Training transforms in the official order (get_moreDA_augmentation with order_data 3, order_seg 1, border −1). */
export function getMoreDAPipeline(p: MoreDAParams): Compose {
  const v1 = NNUNET_V1_AUGMENTATION;
  const t: Transform[] = [];
  if (p.selectedSegChannels) t.push(new SegChannelSelectionTransform({ channels: p.selectedSegChannels }));
  let ignoreAxes: number[] | null = null;
  if (p.dummy2D) {
    ignoreAxes = [0];
    t.push(new Convert3DTo2DTransform());
  }
  t.push(
    new SpatialTransform({
      patchSize: p.patchSizeForSpatialTransform,
      patchCenterDistFromBorder: 0, // None in nnU-Net; only used with random_crop
      doElasticDeform: p.doElastic,
      alpha: p.elasticDeformAlpha,
      sigma: p.elasticDeformSigma,
      doRotation: p.doRotation,
      angleX: p.rotationX,
      angleY: p.rotationY,
      angleZ: p.rotationZ,
      pRotPerAxis: p.rotationPPerAxis,
      doScale: p.doScaling,
      scale: p.scaleRange,
      borderCvalData: 0,
      orderData: p.orderData as 0 | 1 | 3,
      borderCvalSeg: p.borderCvalSeg,
      orderSeg: p.orderSeg as 0 | 1 | 3,
      randomCrop: p.randomCrop,
      pElPerSample: p.pEldef,
      pScalePerSample: p.pScale,
      pRotPerSample: p.pRot,
      independentScaleForEachAxis: p.independentScaleFactorForEachAxis,
    }),
  );
  if (p.dummy2D) t.push(new Convert2DTo3DTransform());
  t.push(new GaussianNoiseTransform({ ...v1.gaussianNoise }));
  t.push(new GaussianBlurTransform({ ...v1.gaussianBlur }));
  t.push(new BrightnessMultiplicativeTransform({ ...v1.brightness }));
  t.push(new ContrastAugmentationTransform({ ...v1.contrast }));
  t.push(new SimulateLowResolutionTransform({ ...v1.lowResolution, ignoreAxes }));
  t.push(new GammaTransform({ ...v1.invertedGamma, gammaRange: p.gammaRange, retainStats: p.gammaRetainStats }));
  if (p.doGamma) t.push(new GammaTransform({ ...v1.gamma, gammaRange: p.gammaRange, retainStats: p.gammaRetainStats, pPerSample: p.pGamma }));
  if (p.doMirror) t.push(new MirrorTransform({ axes: p.mirrorAxes }));
  if (p.maskWasUsedForNormalization) t.push(new MaskTransform({ ...v1.mask, maskWasUsedForNormalization: p.maskWasUsedForNormalization }));
  t.push(new RemoveLabelTransform({ ...v1.removeLabel }));
  if (p.moveLastSegChannelToData) {
    const labels = p.allSegmentationLabels;
    if (!labels) throw new Error('getMoreDAPipeline: cascade needs allSegmentationLabels');
    t.push(new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: labels }));
    const idx = labels.map((_, i) => i - labels.length); // range(−K, 0)
    if (p.cascadeDoCascadeAugmentations) {
      if (p.cascadeRandomBinaryTransformP > 0)
        t.push(
          new ApplyRandomBinaryOperatorTransform({
            channelIdx: idx,
            pPerSample: p.cascadeRandomBinaryTransformP,
            strelSize: p.cascadeRandomBinaryTransformSize,
            pPerLabel: p.cascadeRandomBinaryTransformPPerLabel,
          }),
        );
      if (p.cascadeRemoveConnCompP > 0)
        // v1 passes max_size_percent_threshold as fill_with_other_class_p and fill_with_other_class_p as
        // dont_do_if_covers_more_than_X_percent (quirk B.6, reproduced on purpose)
        t.push(
          new RemoveRandomConnectedComponentFromOneHotEncodingTransform({
            channelIdx: idx,
            pPerSample: p.cascadeRemoveConnCompP,
            fillWithOtherClassP: p.cascadeRemoveConnCompMaxSizePercentThreshold,
            dontDoIfCoversMoreThanXPercent: p.cascadeRemoveConnCompFillWithOtherClassP,
          }),
        );
    }
  }
  t.push(dsOrRename(p));
  return new Compose(t);
}

/** Validation transforms: remove −1, channel selection, [cascade one-hot], rename + DS downsampling; no augmentation. */
export function getValidationPipeline(p: MoreDAParams): Compose {
  const t: Transform[] = [new RemoveLabelTransform({ ...NNUNET_V1_AUGMENTATION.removeLabel })];
  if (p.selectedSegChannels) t.push(new SegChannelSelectionTransform({ channels: p.selectedSegChannels }));
  if (p.moveLastSegChannelToData) {
    if (!p.allSegmentationLabels) throw new Error('getValidationPipeline: cascade needs allSegmentationLabels');
    t.push(new MoveSegAsOneHotToData({ channelId: 1, allSegLabels: p.allSegmentationLabels }));
  }
  t.push(dsOrRename(p));
  return new Compose(t);
}

/** Input of augmentBatch (what a worker receives): a loader batch, the params and a seed. */
export interface AugmentJob {
  batch: AugBatch;
  params: MoreDAParams;
  seed: number;
  validation?: boolean;
}

/** Worker entry point: build the pipeline from params and run it with a RandomState(seed). job.batch is not modified. */
export function augmentBatch(job: AugmentJob): AugBatch {
  const pipe = job.validation ? getValidationPipeline(job.params) : getMoreDAPipeline(job.params);
  return pipe.apply(job.batch, new RandomState(job.seed));
}

/** augmentBatch, also returning every transform's drawn params in order (same output; for notebooks and logs). */
export function augmentBatchRecorded(job: AugmentJob): { batch: AugBatch; steps: RecordedStep[] } {
  const pipe = job.validation ? getValidationPipeline(job.params) : getMoreDAPipeline(job.params);
  return pipe.applyRecorded(job.batch, new RandomState(job.seed));
}

/** Worker side of BatchGenerator: augments each job it receives and transfers the arrays back. */
export function runAugmentationWorker(port: import('worker_threads').MessagePort): void {
  port.on('message', (msg: { id: number; job: AugmentJob }) => {
    try {
      const t0 = Date.now();
      const out = augmentBatch(msg.job);
      const ms = Date.now() - t0;
      const tr = [out.data.buffer, ...(out.target || []).map((t) => t.buffer)];
      if (out.seg) tr.push(out.seg.buffer);
      port.postMessage({ id: msg.id, out, ms }, Array.from(new Set(tr)) as ArrayBuffer[]);
    } catch (e) {
      port.postMessage({ id: msg.id, error: String((e as Error)?.stack ?? e) });
    }
  });
}
