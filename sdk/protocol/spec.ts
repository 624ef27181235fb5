/**
 * The description of one reproduction protocol (what to plan, train, select and predict), the input of the job
 * graph (graph.ts). Persisted as `<nnUNet_results>/<task>/protocol/protocol.json` so that every step, in whatever
 * process or cluster job it runs, reads the same description. Pure: no file system here (store.ts reads/writes it).
 */
import { gpuTargetSuffix } from '../planning/planner_v21';

/** The configurations of nnU-Net v1, in its order (run_training.py / nnUNet_find_best_configuration). */
export const PROTOCOL_CONFIGURATIONS = ['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres'] as const;

export interface ProtocolTraining {
  /** epochs per fold (v1: 1000) */
  epochs?: number;
  /** training iterations per epoch (v1: 250) */
  iterationsPerEpoch?: number;
  /** validation iterations per epoch (v1: 50) */
  validationIterations?: number;
  seed?: number;
  /**
   * Save checkpoint_latest every N epochs (v1 save_every: 50). On a cluster a job killed without warning
   * (node failure, scancel) resumes from the last one; the time-limit signal checkpoints at the next epoch end.
   */
  checkpointEvery?: number;
  /** extra wasm/cpu gradient workers per training (default: the trainer's choice from the cores it sees) */
  gradientWorkers?: number;
  /** augmentation threads per training */
  threads?: number;
  /** mirroring in the final validation (default true, as v1) */
  mirroring?: boolean;
}

export interface ProtocolPredict {
  /** folder of `<case>_0000.nii.gz` test images (default: the task's imagesTs) */
  input: string;
  /** where the best model's segmentations go */
  output: string;
  /** mirroring test-time augmentation (default true, v1 do_tta) */
  mirroring?: boolean;
}

export interface ProtocolSpec {
  version: 1;
  /** the raw task folder (absolute) */
  task: string;
  /** the roots every step uses (absolute), so a job on another node sees the same folders */
  roots: { preprocessed: string; results: string };
  plans: { preset: 'nnUNetPlansv2.1' | 'nnUNetPlans'; gpuMemoryTargetGB?: number };
  /** wanted configurations, v1 order; those the plans do not create (no 3d_lowres for small images) are skipped */
  configurations: string[];
  folds: number[];
  training: ProtocolTraining;
  modelSelection: { disableEnsembling?: boolean };
  /** test-set prediction with the selected model, or null for none */
  predict: ProtocolPredict | null;
}

export class ProtocolSpecError extends Error {}

/** Checks a spec (from code, the CLI or a protocol.json that someone edited) and puts configurations in v1 order. */
export function validateSpec(s: ProtocolSpec, source = 'protocol'): ProtocolSpec {
  const bad = (m: string) => new ProtocolSpecError(`${source}: ${m}`);
  if (s.version !== 1) throw bad(`unknown version ${String(s.version)} (this nnunet-ts writes version 1)`);
  if (!s.task) throw bad('no task folder');
  if (!s.roots?.preprocessed || !s.roots?.results) throw bad('roots.preprocessed and roots.results are required');
  if (s.plans?.preset !== 'nnUNetPlansv2.1' && s.plans?.preset !== 'nnUNetPlans') throw bad(`unknown plans preset '${String(s.plans?.preset)}'`);
  if (s.plans.gpuMemoryTargetGB !== undefined && !(s.plans.gpuMemoryTargetGB > 0)) throw bad(`gpuMemoryTargetGB must be > 0`);
  const unknown = s.configurations.filter((c) => !(PROTOCOL_CONFIGURATIONS as readonly string[]).includes(c));
  if (unknown.length) throw bad(`unknown configuration(s) ${unknown.join(', ')} (known: ${PROTOCOL_CONFIGURATIONS.join(', ')})`);
  if (!s.configurations.length) throw bad('no configuration to train');
  if (s.configurations.includes('3d_cascade_fullres') && !s.configurations.includes('3d_lowres'))
    throw bad('3d_cascade_fullres trains on the 3d_lowres predictions: add 3d_lowres to the configurations');
  if (!s.folds.length || s.folds.some((k) => !Number.isInteger(k) || k < 0 || k > 4)) throw bad(`folds must be among 0..4, got ${s.folds.join(' ')}`);
  if (new Set(s.folds).size !== s.folds.length) throw bad(`fold listed twice: ${s.folds.join(' ')}`);
  const t = s.training ?? {};
  for (const k of ['epochs', 'iterationsPerEpoch', 'checkpointEvery'] as const)
    if (t[k] !== undefined && !(Number.isInteger(t[k]) && (t[k] as number) >= 1)) throw bad(`training.${k} must be a positive integer`);
  for (const k of ['validationIterations', 'gradientWorkers', 'threads'] as const)
    if (t[k] !== undefined && !(Number.isInteger(t[k]) && (t[k] as number) >= 0)) throw bad(`training.${k} must be a non-negative integer`);
  if (s.predict && (!s.predict.input || !s.predict.output)) throw bad('predict needs input and output folders');
  return {
    ...s,
    configurations: PROTOCOL_CONFIGURATIONS.filter((c) => s.configurations.includes(c)),
    folds: [...s.folds].sort((a, b) => a - b),
    training: { ...t },
    modelSelection: { ...(s.modelSelection ?? {}) },
  };
}

/** The plans name the spec's planning writes (nnUNetPlansv2.1, or with a GPU target nnUNetPlansv2.1_0p25GB). */
export function specPlansName(s: ProtocolSpec): string {
  return `${s.plans.preset}${gpuTargetSuffix(s.plans.gpuMemoryTargetGB)}`;
}
