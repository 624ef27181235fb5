/**
 * The real-data comparison of issue 6 against the official CPU training baseline (fixtures README, "CPU training
 * baseline"): Task04_Hippocampus (../shared/data, read-only), fold 0 of the official split
 * (hippocampus_splits_final.json, asserted equal to ours), the official v1 plans (hippocampus_v1_plans_{2d,3d}.json),
 * nnUNetTrainerV2 with a reduced budget, then full validation of the 40 fold-0 validation cases.
 *
 *   B1: 2d, plans batch 281, patch 56x40, 10 epochs x 15 iterations, 2 validation batches per epoch
 *       official: Dice 0.435 / 0.151, train 2139 s, validation 204 s
 *   B2: 2d, batch 40 (override), 30 epochs x 25 iterations, 2 validation batches per epoch
 *       official: Dice 0.829 / 0.815, train 1422 s, validation 216 s
 *
 * Usage (each full budget takes about an hour on the shared 2-core machine):
 *   npx ts-node --transpile-only bench/hippocampus_baseline.ts --budget B1
 *   npx ts-node --transpile-only bench/hippocampus_baseline.ts --budget B2 [--threads 2] [--gradient-workers 1] [--seed S] [--out DIR] [--resume]
 * Smoke run (tiny budget override, few validation cases):
 *   npx ts-node --transpile-only bench/hippocampus_baseline.ts --budget B2 --epochs 1 --iterations 2 --val-cases 2
 * Preprocessed data and results are cached under .cache/hippocampus (git-ignored; --out to change).
 */
import * as path from 'path';
import { readJsonSync, writeJsonAtomic } from '../sdk/io/atomic';
import { loadDataset, Dataset } from '../sdk/io/dataset';
import { configurationFromV1Stage } from '../sdk/planning/plan_experiment';
import type { V1Plans } from '../sdk/planning/planner_v21';
import { Plans, PlansJSON } from '../sdk/planning/plans';
import { generateSplits } from '../sdk/planning/splits';
import { preprocessConfiguration } from '../sdk/preprocessing/preprocessed_dataset';
import { initBackend } from '../sdk/network/backend';
import { gradientWorkerCount, trainFold } from '../sdk/training/trainer';
import { arg, num, runScript } from './script';

export const FIXTURES = path.resolve(__dirname, '../../shared/fixtures/official');
export const HIPPOCAMPUS = path.resolve(__dirname, '../../shared/data/Task04_Hippocampus');
export const DATASET_NAME = 'Task004_Hippocampus';

/** Official figures (fixtures README "CPU training baseline"). */
export const OFFICIAL = {
  B1: {
    batch: 281, epochs: 10, iterations: 15, valBatches: 2, dice: [0.435, 0.151], trainS: 2139, valS: 204,
    pseudoDice: [0.0, 0.0, 0.0, 0.11, 0.11, 0.19, 0.3, 0.31, 0.3, 0.29],
  },
  B2: {
    batch: 40, epochs: 30, iterations: 25, valBatches: 2, dice: [0.829, 0.815], trainS: 1422, valS: 216,
    pseudoDice: [
      0.0, 0.03, 0.2, 0.27, 0.28, 0.3, 0.32, 0.32, 0.31, 0.31, 0.35, 0.4, 0.49, 0.54, 0.65, 0.72, 0.71, 0.82, 0.76, 0.77,
      0.8, 0.76, 0.78, 0.8, 0.8, 0.83, 0.82, 0.8, 0.8, 0.83,
    ],
  },
} as const;

/**
 * nnUNetPlansv2.1 for the hippocampus built from the official v1 plans pickles (as JSON fixtures): 2d and
 * 3d_fullres (one stage, so batch_dice is False for 3d_fullres and True for 2d, run/default_configuration.py).
 */
export function officialHippocampusPlans(): Plans {
  const p3 = readJsonSync<V1Plans>(path.join(FIXTURES, 'hippocampus_v1_plans_3d.json'));
  const p2 = readJsonSync<V1Plans>(path.join(FIXTURES, 'hippocampus_v1_plans_2d.json'));
  const s3 = p3.plans_per_stage['0'];
  const json: PlansJSON = {
    dataset_name: DATASET_NAME,
    plans_name: 'nnUNetPlansv2.1',
    original_median_spacing_after_transp: [...s3.current_spacing],
    original_median_shape_after_transp: [...s3.median_patient_size_in_voxels],
    image_reader_writer: 'SimpleITKIO',
    transpose_forward: [...p3.transpose_forward],
    transpose_backward: [...p3.transpose_backward],
    configurations: {
      '2d': configurationFromV1Stage(p2, p2.plans_per_stage['0'], { is2d: true, dataIdentifier: `${p2.data_identifier}_stage0`, batchDice: true }),
      '3d_fullres': configurationFromV1Stage(p3, s3, { is2d: false, dataIdentifier: `${p3.data_identifier}_stage0`, batchDice: false }),
    },
    experiment_planner_used: 'ExperimentPlanner3D_v21',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: {}, // nonCT: z-scoring per case needs no dataset statistics
  };
  return new Plans(json);
}

/** The official fold split; throws if it differs from our KFold(5, shuffle, 12345) over the sorted case ids. */
export function officialFold(dataset: Dataset, fold: number): { train: string[]; val: string[] } {
  const official = readJsonSync<{ folds: { train: string[]; val: string[] }[] }>(path.join(FIXTURES, 'hippocampus_splits_final.json')).folds;
  const ours = generateSplits(dataset.cases.map((c) => c.id).sort());
  for (let k = 0; k < official.length; k++) {
    if (JSON.stringify(ours[k].train) !== JSON.stringify(official[k].train) || JSON.stringify(ours[k].val) !== JSON.stringify(official[k].val))
      throw new Error(`hippocampus_splits_final.json fold ${k} differs from sdk/planning generateSplits`);
  }
  return { train: official[fold].train.slice(), val: official[fold].val.slice() };
}

/** Preprocess (cached, resumable) one configuration of the hippocampus with the official plans. */
export async function preprocessHippocampus(cacheRoot: string, configuration: string, threads = 2): Promise<{ dataset: Dataset; plans: Plans; dir: string }> {
  const dataset = loadDataset(HIPPOCAMPUS);
  const plans = officialHippocampusPlans();
  const pre = await preprocessConfiguration(dataset, plans, configuration, {
    threads,
    outDir: path.join(cacheRoot, 'nnUNet_preprocessed'),
    datasetFolder: DATASET_NAME,
    label: `preprocess hippocampus ${configuration}`,
  });
  return { dataset, plans, dir: pre.dir };
}

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'nan');

export async function main(args: string[]): Promise<void> {
  const budget = (arg(args, '--budget') ?? 'B1').toUpperCase();
  if (budget !== 'B1' && budget !== 'B2') throw new Error(`--budget must be B1 or B2, got ${budget}`);
  const off = OFFICIAL[budget];
  const epochs = num(args, '--epochs') ?? off.epochs;
  const iterations = num(args, '--iterations') ?? off.iterations;
  const valBatches = num(args, '--val-batches') ?? off.valBatches;
  const batch = num(args, '--batch') ?? off.batch;
  const threads = num(args, '--threads') ?? 2;
  const seed = num(args, '--seed') ?? 12345;
  const valCasesLimit = num(args, '--val-cases');
  const cacheRoot = path.resolve(arg(args, '--out') ?? path.join(__dirname, '../.cache/hippocampus'));
  const reduced = epochs !== off.epochs || iterations !== off.iterations || batch !== off.batch || valBatches !== off.valBatches || valCasesLimit !== undefined;

  const backend = await initBackend();
  const gradientWorkers = gradientWorkerCount(num(args, '--gradient-workers') ?? 'auto');
  const { dataset, plans, dir } = await preprocessHippocampus(cacheRoot, '2d', threads);
  const cfg = plans.configuration('2d');
  const fold = officialFold(dataset, 0);
  const valCases = valCasesLimit !== undefined ? fold.val.slice(0, valCasesLimit) : fold.val;
  const outputDir = path.join(cacheRoot, 'nnUNet_results', budget, DATASET_NAME, `nnUNetTrainerV2__${plans.plansName}__2d`, 'fold_0');
  console.log(
    `hippocampus ${budget}${reduced ? ' (REDUCED: not comparable to the official numbers)' : ''}: 2d patch ${cfg.patch_size.join('x')}, ` +
      `batch ${batch}, ${epochs} epochs x ${iterations} iterations, ${valBatches} validation batches/epoch, ` +
      `${fold.train.length} train / ${valCases.length} validation cases, backend ${backend.backend}, ${threads} augmentation workers\n  -> ${outputDir}`,
  );
  const t0 = Date.now();
  const r = await trainFold({
    plans,
    configuration: '2d',
    preprocessedDir: dir,
    trainCases: fold.train,
    valCases,
    outputDir,
    fold: 0,
    dataset,
    epochs,
    iterationsPerEpoch: iterations,
    validationIterations: valBatches,
    batchSize: batch,
    seed,
    numThreads: threads,
    gradientWorkers,
    checkpointEvery: 1, // a killed run loses at most one epoch (these budgets are short)
    resume: args.includes('--resume') ? 'auto' : false,
    validate: !args.includes('--no-validate'),
    mirroring: true,
    onEpoch: ({ entry }) =>
      console.log(
        `epoch ${entry.epoch}: train ${entry.train_loss.toFixed(4)} val ${entry.val_loss.toFixed(4)} pseudo-Dice [${entry.pseudo_dice.map(f3).join(', ')}] ` +
          `ema ${entry.ema.toFixed(4)} lr ${entry.lr.toExponential(3)} ${entry.epoch_time.toFixed(1)} s (${entry.seconds_per_iteration.toFixed(2)} s/it, waited ${entry.wait_augmentation_s.toFixed(1)} s for augmentation)`,
      ),
  });
  const wall = (Date.now() - t0) / 1000;
  console.log('\nepoch | mean pseudo-Dice (ours) | official | train loss | val loss | s/it');
  for (const e of r.log) {
    const o = (off.pseudoDice as readonly number[])[e.epoch];
    console.log(`${String(e.epoch).padStart(5)} | ${f3(e.mean_pseudo_dice).padStart(23)} | ${(o === undefined ? '-' : o.toFixed(2)).padStart(8)} | ${e.train_loss.toFixed(4).padStart(10)} | ${e.val_loss.toFixed(4).padStart(8)} | ${e.seconds_per_iteration.toFixed(2)}`);
  }
  const rows: [string, string, string][] = [
    // the official wall times are stored figures of another run (fixtures README), not a same-run speed comparison:
    // bench train / network / predict time PyTorch in the same run
    ['train wall (s)', r.trainSeconds.toFixed(0), `${off.trainS} (stored run)`],
    ['validation wall (s)', r.validation ? r.validation.seconds.toFixed(0) : '-', `${off.valS} (stored run)`],
    ['Dice 1 (Anterior)', r.validation ? f3(r.validation.meanDice['1']) : '-', off.dice[0].toFixed(3)],
    ['Dice 2 (Posterior)', r.validation ? f3(r.validation.meanDice['2']) : '-', off.dice[1].toFixed(3)],
  ];
  const pp = r.validation?.postprocessing;
  if (pp) {
    // official B2 with its largest-component postprocessing (chosen for both labels together): 0.832 / 0.818
    const offPP = budget === 'B2' ? ['0.832', '0.818'] : ['-', '-'];
    rows.push(['Dice 1 postprocessed', f3(pp.meanDice['1']), offPP[0]], ['Dice 2 postprocessed', f3(pp.meanDice['2']), offPP[1]]);
    rows.push(['postprocessing', JSON.stringify(pp.json.for_which_classes), '-']);
  }
  console.log(`\n${budget}${reduced ? ' (reduced budget)' : ''} | ours | official nnU-Net v1 (fixtures README run)`);
  for (const [k, a, b] of rows) console.log(`${k.padEnd(20)} | ${a.padStart(8)} | ${b.padStart(8)}`);
  console.log('wall times: the official ones are from the stored run on another day, not measured here; for a same-run speed comparison with PyTorch see npm run bench -- train');
  console.log(`total wall ${wall.toFixed(0)} s; summary ${r.validation?.summaryFile ?? '(no validation)'}`);
  await writeJsonAtomic(path.join(outputDir, 'baseline_comparison.json'), {
    budget,
    reduced,
    settings: { epochs, iterations, valBatches, batch, threads, gradientWorkers, seed, valCases: valCases.length, backend: backend.backend },
    ours: { postprocessedDice: pp ? [pp.meanDice['1'], pp.meanDice['2']] : null, trainS: r.trainSeconds, valS: r.validation?.seconds ?? null, dice: r.validation ? [r.validation.meanDice['1'], r.validation.meanDice['2']] : null, pseudoDice: r.log.map((e) => e.mean_pseudo_dice) },
    official: off,
  });
}

if (require.main === module) runScript(main);

