/**
 * One home for nnU-Net's folder layout: the three roots with their environment variables, and every folder and
 * file name of the preprocessed and results layouts (nnU-Net v1 names, v2's root variables). Every other module
 * builds paths through these functions, so the layout is written out once.
 *
 *   <nnUNet_raw>/<Task>/                                   raw task (MSD / v1 layout, or v2 DatasetXXX_Name)
 *   <nnUNet_preprocessed>/<Task>/<data_identifier>/        preprocessed cases of one configuration
 *   <nnUNet_results>/<Task>/<trainer>__<plans>__<configuration>/fold_<k>/   one trained fold
 *        .../fold_<k>/validation_raw[/summary.json]        its validation predictions
 *        <trainer>__<plans>__3d_lowres/pred_next_stage/    the cascade's previous-stage segmentations
 *
 * Defaults: a root that is neither given nor set in the environment lives under the work folder ($NNUNET_WORK,
 * else ./nnunet_work). Pure path arithmetic plus `process.env`; no file system access.
 */
import * as path from 'path';

/** nnU-Net v1 names (nnunet/paths.py, run_training.py defaults). */
export const DEFAULT_TRAINER = 'nnUNetTrainerV2';
export const DEFAULT_CASCADE_TRAINER = 'nnUNetTrainerV2CascadeFullRes';
export const DEFAULT_PLANS = 'nnUNetPlansv2.1';
/** nnunet-ts: where roots live when neither given nor in the environment. */
export const DEFAULT_WORK_DIR = 'nnunet_work';

/** The environment variables of the roots (v2 names; v1 called the results root RESULTS_FOLDER). */
export const ROOT_ENV = { raw: 'nnUNet_raw', preprocessed: 'nnUNet_preprocessed', results: 'nnUNet_results', work: 'NNUNET_WORK' } as const;

export interface RootOptions {
  /** base folder for roots not given (default $NNUNET_WORK or ./nnunet_work) */
  workDir?: string;
  rawRoot?: string;
  preprocessedRoot?: string;
  resultsRoot?: string;
}

export interface Roots {
  work: string;
  raw: string;
  preprocessed: string;
  results: string;
}

/** The three roots, absolute: option, then environment variable, then `<work>/nnUNet_<root>`. */
export function resolveRoots(opts: RootOptions = {}, env: Record<string, string | undefined> = process.env): Roots {
  const work = path.resolve(opts.workDir ?? env[ROOT_ENV.work] ?? DEFAULT_WORK_DIR);
  const pick = (given: string | undefined, name: 'raw' | 'preprocessed' | 'results') =>
    path.resolve(given ?? env[ROOT_ENV[name]] ?? path.join(work, ROOT_ENV[name]));
  return { work, raw: pick(opts.rawRoot, 'raw'), preprocessed: pick(opts.preprocessedRoot, 'preprocessed'), results: pick(opts.resultsRoot, 'results') };
}

/** The trainer a configuration trains with by default (the cascade has its own). */
export function trainerNameFor(configuration: string): string {
  return configuration === '3d_cascade_fullres' ? DEFAULT_CASCADE_TRAINER : DEFAULT_TRAINER;
}

/** `<trainer>__<plans>__<configuration>` */
export function configurationFolderName(configuration: string, o: { plans?: string; trainer?: string; cascadeTrainer?: string } = {}): string {
  const trainer = configuration === '3d_cascade_fullres' ? (o.cascadeTrainer ?? DEFAULT_CASCADE_TRAINER) : (o.trainer ?? DEFAULT_TRAINER);
  return `${trainer}__${o.plans ?? DEFAULT_PLANS}__${configuration}`;
}

/** `<results root>/<dataset>/<trainer>__<plans>__<configuration>` */
export function configurationFolder(
  resultsRoot: string,
  datasetFolder: string,
  configuration: string,
  o: { plans?: string; trainer?: string; cascadeTrainer?: string } = {},
): string {
  return path.join(resultsRoot, datasetFolder, configurationFolderName(configuration, o));
}

/** `fold_<k>` */
export function foldFolderName(fold: number | 'all'): string {
  return `fold_${fold}`;
}

/** `<configuration folder>/fold_<k>` */
export function foldFolder(configurationFolderPath: string, fold: number | 'all'): string {
  return path.join(configurationFolderPath, foldFolderName(fold));
}

/** v1's validation output folder of a fold (`validation_raw`, or another name given to validate()). */
/** `<results>/<dataset>/<trainer>__<plans>__<configuration>/fold_<k>`, the trainer named after the configuration. */
export function trainedFoldFolder(
  resultsRoot: string,
  datasetFolder: string,
  plans: string,
  configuration: string,
  fold: number | 'all',
  trainer = trainerNameFor(configuration),
): string {
  return foldFolder(configurationFolder(resultsRoot, datasetFolder, configuration, { plans, trainer, cascadeTrainer: trainer }), fold);
}

export const VALIDATION_FOLDER = 'validation_raw';
export function validationFolder(foldFolderPath: string, name = VALIDATION_FOLDER): string {
  return path.join(foldFolderPath, name);
}

/** The evaluator's output next to the predictions it scored. */
export const SUMMARY_FILE = 'summary.json';

/** `<results>/<dataset>/<trainer>__<plans>__3d_lowres/pred_next_stage`: the cascade's previous-stage segmentations. */
export function predNextStageFolder(resultsRoot: string, datasetFolder: string, plans = DEFAULT_PLANS, trainer = DEFAULT_TRAINER): string {
  return path.join(configurationFolder(resultsRoot, datasetFolder, '3d_lowres', { plans, trainer }), 'pred_next_stage');
}

/** `<preprocessed root>/<dataset>` (fingerprint, plans, splits) and `<...>/<data_identifier>` (the cases). */
export function preprocessedFolder(preprocessedRoot: string, datasetFolder: string, dataIdentifier?: string): string {
  return dataIdentifier ? path.join(preprocessedRoot, datasetFolder, dataIdentifier) : path.join(preprocessedRoot, datasetFolder);
}

/**
 * `<results>/<dataset>/protocol`: the job graph's own files (protocol.json, locks/, steps/, logs/, slurm/).
 * nnunet-ts only; nnU-Net has no such folder.
 */
export function protocolFolder(resultsRoot: string, datasetFolder: string): string {
  return path.join(resultsRoot, datasetFolder, 'protocol');
}
