/**
 * A run's setup (nnUNetTrainer.initialize / nnUNetTrainerV2.setup_DA_params / get_basic_generators): the configuration
 * with user overrides, the number of classes and input channels, the augmentation parameters, the network and the
 * data loaders.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync } from '../io/atomic';
import { Plans, PlansConfiguration, resolveConfiguration } from '../planning/plans';
import { readCaseProperties } from '../preprocessing/preprocessed_dataset';
import { GenericUNet } from '../network/generic_unet';
import { buildArchitecture } from '../network/architecture';
import { RandomState } from '../util/random';
import { V2_OVERSAMPLE_FOREGROUND } from './constants';
import { DataLoader2D, DataLoader3D, CaseProvider, NpyFolderCaseProvider } from './data_loader';
import { setupDAParams, MoreDAParams } from './patch_size';
import { PrevStageCaseProvider } from './prev_stage_provider';
import { deriveSeed, SPLIT_INIT } from './seeds';
import type { TrainFoldOptions } from './train_options';

/** What a run derives once from the plans and the preprocessed folder. */
export interface RunSetup {
  cfg: PlansConfiguration;
  plansName: string;
  datasetName: string;
  transposeBackward: number[];
  numClasses: number;
  numImageChannels: number;
  cascade: boolean;
  params: MoreDAParams;
  dim: 2 | 3;
}

function readPreprocessingMeta(dir: string): { foregroundClasses: number[] } | null {
  const f = path.join(dir, 'preprocessing.json');
  if (!fs.existsSync(f)) return null;
  const m = readJsonSync<{ settings?: { foregroundClasses?: number[] } }>(f);
  return m.settings?.foregroundClasses ? { foregroundClasses: m.settings.foregroundClasses } : null;
}

export function setupRun(o: TrainFoldOptions & { preprocessedDir: string }): RunSetup {
  const json = o.plans instanceof Plans ? o.plans.json : o.plans;
  let cfg = resolveConfiguration(json, o.configuration);
  if (o.batchSize !== undefined) cfg = { ...cfg, batch_size: o.batchSize };
  if (o.patchSize !== undefined) cfg = { ...cfg, patch_size: o.patchSize.slice() };
  const dim = cfg.patch_size.length as 2 | 3;
  if (!fs.existsSync(o.preprocessedDir)) throw new Error(`trainFold: preprocessed folder ${o.preprocessedDir} does not exist`);
  if (o.trainCases.length === 0) throw new Error('trainFold: no training cases');
  let numClasses = o.numClasses;
  if (numClasses === undefined) {
    const meta = readPreprocessingMeta(o.preprocessedDir);
    if (!meta) throw new Error(`trainFold: ${path.join(o.preprocessedDir, 'preprocessing.json')} missing; pass numClasses`);
    const fg = meta.foregroundClasses.slice().sort((a, b) => a - b);
    if (fg.some((l, i) => l !== i + 1)) throw new Error(`trainFold: labels must be consecutive 1..K (nnU-Net v1), got [${fg}]`);
    numClasses = fg.length + 1;
  }
  const props = readCaseProperties(o.preprocessedDir, o.trainCases[0]);
  const numImageChannels = props.data_shape[0];
  const cascade = o.previousStageDir !== undefined;
  const cascadeLabels = cascade ? Array.from({ length: numClasses - 1 }, (_, i) => i + 1) : undefined;
  const params = setupDAParams({
    patchSize: cfg.patch_size,
    poolOpKernelSizes: cfg.pool_op_kernel_sizes,
    doDummy2DAug: dim === 3 ? cfg.do_dummy_2D_data_aug : false,
    useMaskForNorm: cfg.use_mask_for_norm,
    cascadeLabels,
  });
  return {
    cfg,
    plansName: json.plans_name,
    datasetName: json.dataset_name,
    transposeBackward: json.transpose_backward.slice(),
    numClasses,
    numImageChannels,
    cascade,
    params,
    dim,
  };
}

export function buildNetwork(s: RunSetup, seed: number): GenericUNet {
  const arch = buildArchitecture(s.cfg, {
    numInputChannels: s.numImageChannels + (s.cascade ? s.numClasses - 1 : 0), // cascade: one-hot labels 1..K-1
    numClasses: s.numClasses,
  });
  return new GenericUNet(arch, undefined, { seed: deriveSeed(seed, 0, 0, SPLIT_INIT) });
}

export function makeProvider(o: TrainFoldOptions & { preprocessedDir: string }, ids: readonly string[]): CaseProvider {
  const base = new NpyFolderCaseProvider(o.preprocessedDir, ids);
  return o.previousStageDir ? new PrevStageCaseProvider(base, o.previousStageDir) : base;
}

export function makeLoader(s: RunSetup, provider: CaseProvider, training: boolean): DataLoader3D | DataLoader2D {
  const patch = s.cfg.patch_size;
  const opts = {
    patchSize: training ? s.params.basicGeneratorPatchSize : patch,
    finalPatchSize: patch,
    batchSize: s.cfg.batch_size,
    oversampleForegroundPercent: V2_OVERSAMPLE_FOREGROUND,
    hasPrevStage: s.cascade,
  };
  const rng = new RandomState(0); // reseeded per batch by SeededBatchSource
  return s.dim === 3 ? new DataLoader3D(provider, opts, rng) : new DataLoader2D(provider, opts, rng);
}
