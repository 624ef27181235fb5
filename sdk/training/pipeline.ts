/**
 * The augmentation pipelines of nnUNetTrainerV2 (S1 training/data_augmentation/data_augmentation_moreDA.py
 * ::get_moreDA_augmentation; reference §7.1–7.2), built from the serialisable MoreDAParams (patch_size.ts).
 */
import { RandomState } from '../util/random';
import { MoreDAParams } from './patch_size';
import { AugBatch, Compose, Transform } from './transforms/base';
import { BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform } from './transforms/color_transforms';
import { DownsampleSegForDSTransform2, RenameSegToTargetTransform } from './transforms/downsampling';
import { MirrorTransform } from './transforms/mirror_transform';
import { GaussianBlurTransform, GaussianNoiseTransform } from './transforms/noise_transforms';
import {
  ApplyRandomBinaryOperatorTransform,
  MoveSegAsOneHotToData,
  RemoveRandomConnectedComponentFromOneHotEncodingTransform,
} from './transforms/pyramid_augmentations';
import { SimulateLowResolutionTransform } from './transforms/resample_transforms';
import { SpatialTransform } from './transforms/spatial_transform';
import {
  Convert2DTo3DTransform,
  Convert3DTo2DTransform,
  MaskTransform,
  RemoveLabelTransform,
  SegChannelSelectionTransform,
} from './transforms/utility_transforms';

function dsOrRename(p: MoreDAParams): Transform {
  return p.deepSupervisionScales ? new DownsampleSegForDSTransform2(p.deepSupervisionScales, 0) : new RenameSegToTargetTransform();
}

/** Training transforms in the official order (get_moreDA_augmentation with order_data 3, order_seg 1, border −1). */
export function getMoreDAPipeline(p: MoreDAParams): Compose {
  const t: Transform[] = [];
  if (p.selectedSegChannels) t.push(new SegChannelSelectionTransform(p.selectedSegChannels));
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
  t.push(new GaussianNoiseTransform({ pPerSample: 0.1 }));
  t.push(new GaussianBlurTransform({ blurSigma: [0.5, 1], differentSigmaPerChannel: true, pPerSample: 0.2, pPerChannel: 0.5 }));
  t.push(new BrightnessMultiplicativeTransform([0.75, 1.25], true, 0.15));
  t.push(new ContrastAugmentationTransform([0.75, 1.25], true, true, 0.15));
  t.push(
    new SimulateLowResolutionTransform({
      zoomRange: [0.5, 1],
      perChannel: true,
      pPerChannel: 0.5,
      orderDownsample: 0,
      orderUpsample: 3,
      pPerSample: 0.25,
      ignoreAxes,
    }),
  );
  t.push(new GammaTransform(p.gammaRange, true, true, p.gammaRetainStats, 0.1)); // inverted gamma
  if (p.doGamma) t.push(new GammaTransform(p.gammaRange, false, true, p.gammaRetainStats, p.pGamma));
  if (p.doMirror) t.push(new MirrorTransform(p.mirrorAxes));
  if (p.maskWasUsedForNormalization) t.push(new MaskTransform(p.maskWasUsedForNormalization, 0, 0));
  t.push(new RemoveLabelTransform(-1, 0));
  if (p.moveLastSegChannelToData) {
    const labels = p.allSegmentationLabels;
    if (!labels) throw new Error('getMoreDAPipeline: cascade needs allSegmentationLabels');
    t.push(new MoveSegAsOneHotToData(1, labels));
    const idx = labels.map((_, i) => i - labels.length); // range(−K, 0)
    if (p.cascadeDoCascadeAugmentations) {
      if (p.cascadeRandomBinaryTransformP > 0)
        t.push(new ApplyRandomBinaryOperatorTransform(idx, p.cascadeRandomBinaryTransformP, p.cascadeRandomBinaryTransformSize, p.cascadeRandomBinaryTransformPPerLabel));
      if (p.cascadeRemoveConnCompP > 0)
        // v1 passes max_size_percent_threshold as fill_with_other_class_p and fill_with_other_class_p as
        // dont_do_if_covers_more_than_X_percent (quirk B.6, reproduced on purpose)
        t.push(
          new RemoveRandomConnectedComponentFromOneHotEncodingTransform(
            idx,
            p.cascadeRemoveConnCompP,
            p.cascadeRemoveConnCompMaxSizePercentThreshold,
            p.cascadeRemoveConnCompFillWithOtherClassP,
          ),
        );
    }
  }
  t.push(dsOrRename(p));
  return new Compose(t);
}

/** Validation transforms: remove −1, channel selection, [cascade one-hot], rename + DS downsampling; no augmentation. */
export function getValidationPipeline(p: MoreDAParams): Compose {
  const t: Transform[] = [new RemoveLabelTransform(-1, 0)];
  if (p.selectedSegChannels) t.push(new SegChannelSelectionTransform(p.selectedSegChannels));
  if (p.moveLastSegChannelToData) {
    if (!p.allSegmentationLabels) throw new Error('getValidationPipeline: cascade needs allSegmentationLabels');
    t.push(new MoveSegAsOneHotToData(1, p.allSegmentationLabels));
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

/** Worker entry point: build the pipeline from params and run it with a RandomState(seed). */
export function augmentBatch(job: AugmentJob): AugBatch {
  const pipe = job.validation ? getValidationPipeline(job.params) : getMoreDAPipeline(job.params);
  return pipe.apply(job.batch, new RandomState(job.seed));
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
