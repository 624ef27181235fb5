/**
 * Issue 7's real-data check: the hippocampus 2d model trained by bench/hippocampus_baseline.ts (fold 0 of the
 * official split) predicts its 40 fold-0 validation cases again through the *inference* path a user calls
 * (predictCases: raw NIfTI in, preprocessing, sliding window with mirroring TTA, export, NIfTI out), and the
 * Dice of those predictions must match the Dice the training run reported in fold_0/validation_raw/summary.json.
 *
 *   npx ts-node --transpile-only bench/hippocampus_prediction_parity.ts [--budget B2] [--out .cache/hippocampus]
 *
 * Both paths start from the same checkpoint_final and the same raw images, so they must agree to within float
 * noise (the two differ only in where the preprocessing happens: cached .npy vs on the fly). Exit status 1 when
 * the per-case Dice differ by more than 1e-3 or the mean by more than 1e-4.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readJsonSync } from '../sdk/io/atomic';
import { readNifti } from '../sdk/io/nifti';
import { loadDataset } from '../sdk/io/dataset';
import { initBackend } from '../sdk/network/backend';
import { predictCases } from '../sdk/inference/predict';
import { evaluateCase, nanmean } from '../sdk/evaluation/evaluator';
import { DATASET_NAME, HIPPOCAMPUS, officialFold, officialHippocampusPlans } from './hippocampus_baseline';
import { arg, runScript } from './script';

interface SummaryJson {
  results: { all: ({ reference: string; test: string } & Record<string, { Dice: number }>)[]; mean: Record<string, { Dice: number }> };
}

export async function main(args: string[]): Promise<number> {
  const budget = (arg(args, '--budget') ?? 'B2').toUpperCase();
  const cacheRoot = path.resolve(arg(args, '--out') ?? path.join(__dirname, '../.cache/hippocampus'));
  const modelFolder = path.join(cacheRoot, 'nnUNet_results', budget, DATASET_NAME, 'nnUNetTrainerV2__nnUNetPlansv2.1__2d');
  const foldDir = path.join(modelFolder, 'fold_0');
  const summaryFile = path.join(foldDir, 'validation_raw', 'summary.json');
  if (!fs.existsSync(summaryFile)) throw new Error(`${summaryFile} missing: run bench/hippocampus_baseline.ts --budget ${budget} first`);
  const trained = readJsonSync<SummaryJson>(summaryFile);

  const backend = await initBackend();
  const dataset = loadDataset(HIPPOCAMPUS);
  const fold = officialFold(dataset, 0);
  const plans = officialHippocampusPlans();
  const outputDir = path.join(cacheRoot, 'prediction_parity', budget);
  const t0 = Date.now();
  const r = await predictCases({
    plans,
    configuration: '2d',
    foldFolders: [foldDir],
    input: path.join(HIPPOCAMPUS, 'imagesTr'),
    caseIds: fold.val,
    outputDir,
    mirroring: true, // as the training run's validation (v1 validate(do_mirroring=True))
    postprocessing: false, // validation_raw is before postprocessing
  });
  const seconds = (Date.now() - t0) / 1000;
  const labels = [0, 1, 2];
  const byCase = new Map(trained.results.all.map((e) => [path.basename(e.reference).replace(/\.nii(\.gz)?$/, ''), e]));
  let worst = 0;
  const ours: Record<string, number[]> = { '1': [], '2': [] };
  console.log(`backend ${backend.backend}; ${r.cases.length} cases predicted in ${seconds.toFixed(0)} s (${(seconds / r.cases.length).toFixed(2)} s/case, TTA on)`);
  console.log('case             | Dice 1 predict | Dice 1 training | Dice 2 predict | Dice 2 training');
  for (const c of r.cases) {
    if (!c.ok || !c.file) throw new Error(`${c.id}: prediction failed: ${c.error}`);
    const pred = await readNifti(c.file);
    const gt = await readNifti(path.join(HIPPOCAMPUS, 'labelsTr', `${c.id}.nii.gz`));
    const m = evaluateCase(pred.data as never, gt.data as never, labels);
    const ref = byCase.get(c.id);
    if (!ref) throw new Error(`${summaryFile}: no entry for ${c.id}`);
    for (const l of ['1', '2']) {
      ours[l].push(m[l].Dice);
      const d = Math.abs(m[l].Dice - ref[l].Dice);
      if (Number.isFinite(d)) worst = Math.max(worst, d);
    }
    console.log(`${c.id.padEnd(16)} | ${m['1'].Dice.toFixed(4).padStart(14)} | ${ref['1'].Dice.toFixed(4).padStart(15)} | ${m['2'].Dice.toFixed(4).padStart(14)} | ${ref['2'].Dice.toFixed(4).padStart(15)}`);
  }
  const mean = { '1': nanmean(ours['1']), '2': nanmean(ours['2']) };
  const dMean = Math.max(Math.abs(mean['1'] - trained.results.mean['1'].Dice), Math.abs(mean['2'] - trained.results.mean['2'].Dice));
  console.log(`\nmean Dice         | predict | training (summary.json)`);
  for (const l of ['1', '2'] as const) console.log(`label ${l}           | ${mean[l].toFixed(4)}  | ${trained.results.mean[l].Dice.toFixed(4)}`);
  console.log(`max per-case |difference| ${worst.toExponential(2)}, mean |difference| ${dMean.toExponential(2)}`);
  const ok = worst <= 1e-3 && dMean <= 1e-4;
  console.log(ok ? 'PARITY OK' : 'PARITY FAILED');
  return ok ? 0 : 1;
}

if (require.main === module) runScript(main);
