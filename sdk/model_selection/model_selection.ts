/**
 * Model selection core of `nnUNet_find_best_configuration` (S1 nnunet/evaluation/model_selection/
 * figure_out_what_to_submit.py, last v1 version), as pure functions:
 *  - every configuration's score = mean foreground Dice of its pooled cross-validation (cv_niftis_raw, i.e. before
 *    postprocessing; np.mean over labels != "0", so a NaN label makes the score NaN);
 *  - ensembles: every unordered pair of valid configurations, in `itertools.combinations` order, named
 *    "ensemble_<m1>__<trainer1>__<plans>--<m2>__<trainer2>__<plans>", scored on ensembled_raw;
 *  - best = the highest score; on ties the LAST candidate in iteration order wins (v1 loops over all candidates and
 *    overwrites best_model whenever the score equals the maximum).
 */
import { DEFAULT_CASCADE_TRAINER, DEFAULT_PLANS, DEFAULT_TRAINER } from '../paths';

export const V1_DEFAULT_TRAINER = DEFAULT_TRAINER;
export const V1_DEFAULT_CASCADE_TRAINER = DEFAULT_CASCADE_TRAINER;
export const V1_DEFAULT_PLANS = DEFAULT_PLANS;

/** Configurations in v1's default order (`-m` default). */
export const V1_CONFIGURATIONS = ['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres'] as const;

export interface NamingOptions {
  trainer?: string;
  cascadeTrainer?: string;
  plans?: string;
}

function trainerFor(config: string, o: NamingOptions): string {
  return config === '3d_cascade_fullres' ? (o.cascadeTrainer ?? V1_DEFAULT_CASCADE_TRAINER) : (o.trainer ?? V1_DEFAULT_TRAINER);
}

/** v1 ensemble name for configurations m1, m2 (in that order). */
export function ensembleName(m1: string, m2: string, o: NamingOptions = {}): string {
  const pl = o.plans ?? V1_DEFAULT_PLANS;
  return `ensemble_${m1}__${trainerFor(m1, o)}__${pl}--${m2}__${trainerFor(m2, o)}__${pl}`;
}

/** `itertools.combinations(valid_models, 2)`. */
export function configurationPairs(validModels: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < validModels.length; i++) for (let j = i + 1; j < validModels.length; j++) out.push([validModels[i], validModels[j]]);
  return out;
}

export interface BestConfiguration {
  /** Winning candidate: a configuration name or an ensemble name. */
  best: string | null;
  bestScore: number;
  /** All candidate scores in iteration order (configurations first, then ensembles). */
  scores: [string, number][];
  isEnsemble: boolean;
  /** For an ensemble: the two configurations. */
  members: [string, string] | null;
}

/**
 * Pick the best candidate. `configurationScores` are the valid configurations in order (mean foreground Dice of
 * cv_niftis_raw); `ensembleScores` maps ensemble names (see `ensembleName`) to their ensembled_raw score. Pass
 * no ensemble scores to reproduce --disable_ensembling.
 */
export function findBestConfiguration(
  configurationScores: readonly [string, number][] | Record<string, number>,
  ensembleScores: readonly [string, number][] | Record<string, number> = [],
): BestConfiguration {
  const conf = Array.isArray(configurationScores) ? [...configurationScores] : Object.entries(configurationScores);
  const ens = Array.isArray(ensembleScores) ? [...ensembleScores] : Object.entries(ensembleScores);
  const scores: [string, number][] = [...conf, ...ens];
  if (scores.length === 0) throw new Error('findBestConfiguration: no candidates');
  // np.max: NaN if any score is NaN, and then nothing equals it (v1 would crash later; we report null)
  let bestScore = -Infinity;
  for (const [, v] of scores) bestScore = Number.isNaN(v) || Number.isNaN(bestScore) ? NaN : Math.max(bestScore, v);
  let best: string | null = null;
  for (const [k, v] of scores) if (v === bestScore) best = k;
  let members: [string, string] | null = null;
  if (best !== null && best.startsWith('ensemble_')) {
    const [a, b] = best.slice('ensemble_'.length).split('--');
    members = [a.split('__')[0], b.split('__')[0]];
  }
  return { best, bestScore, scores, isEnsemble: members !== null, members };
}

/**
 * v1 summary.csv of find_best_configuration: one row per candidate with per-class mean Dice and the foreground
 * average ('mean' entry of results.mean, see addForegroundMean), formatted "%01.4f".
 */
export function modelSelectionCsv(allResults: Record<string, Record<string, { Dice: number }>>, numClasses: number): string {
  let s = 'model';
  for (let c = 1; c <= numClasses; c++) s += `,class${c}`;
  s += ',average\n';
  for (const [m, mean] of Object.entries(allResults)) {
    s += m;
    for (let c = 1; c <= numClasses; c++) s += `,${formatDice(mean[String(c)].Dice)}`;
    s += `,${formatDice(mean['mean'].Dice)}\n`;
  }
  return s;
}

function formatDice(v: number): string {
  return Number.isNaN(v) ? 'nan' : v.toFixed(4);
}
