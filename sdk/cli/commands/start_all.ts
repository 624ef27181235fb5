import * as path from 'path';
import { Task } from '../../task';
import { ensembleFolders } from '../../ensembling/ensemble';
import { readPostprocessingJson } from '../../postprocessing/determine';
import { generateTask } from '../../../data-scripts/synthetic_lung';
import { taskOptionsFrom } from './common';
import { resolveRoots } from '../../paths';

/**
 * The CPU demonstration plans: nnUNetPlansv2.1 re-planned for a 0.25 GB "GPU" (the v1 alternative planners'
 * VRAM scaling, v2's -gpu_memory_target). The small synthetic task then gets CPU-sized patches (3d_fullres
 * 28x48x48) and, because the patch now covers less than a quarter of the median image, a 3d_lowres stage and the
 * cascade, so every nnU-Net configuration runs in minutes.
 */
const CPU_GPU_MEMORY_GB = 0.25;
/** Short schedule (nnU-Net: 1000 epochs x 250 iterations, 50 validation iterations): shows every step, not accuracy. */
const SCHEDULE = { epochs: 2, iterationsPerEpoch: 4, validationIterations: 1, mirroring: false, progress: false } as const;

/**
 * `npm start -- --all`: the full demonstration on the embedded synthetic lung task (MSD Task06 layout), through
 * every pipeline step: integrity check, fingerprint, plans, split, preprocessing, training of 2d, 3d_fullres,
 * 3d_lowres and the 3d_cascade_fullres on fold 0 with validation, model selection (every configuration and pair
 * ensemble, postprocessing), prediction of the test case with the selected model, and the Dice table.
 */
export async function runFullDemo(flags: Record<string, unknown>): Promise<number> {
  const t0 = Date.now();
  const opts = taskOptionsFrom(flags);
  const roots = resolveRoots(opts);
  const workDir = roots.work;
  const rawRoot = roots.raw;
  const size = (flags.size as 'small' | 'default' | undefined) ?? 'small';
  console.log(`== 1. dataset: generating the synthetic lung task (${size}) in ${rawRoot}`);
  const dir = await generateTask(rawRoot, { size });

  console.log('\n== 2. load + integrity check');
  const task = await Task.load(dir, opts);
  const report = await task.verify();
  console.log(task.summary());
  console.log(report.summary());
  if (!report.ok) return 1;

  console.log('\n== 3. fingerprint (dataset_fingerprint.json)');
  const fp = await task.fingerprint();
  fp.table().print();

  console.log('\n== 4. plans: nnUNetPlansv2.1 as a GPU gets them (8 GB)');
  const gpuPlans = await fp.plan();
  gpuPlans.table().print();
  console.log(`\n   ... and re-planned for ${CPU_GPU_MEMORY_GB} GB so that this CPU can train every configuration:`);
  const plans = await fp.plan({ gpuMemoryTargetGB: CPU_GPU_MEMORY_GB });
  plans.table().print();

  console.log('\n== 5. 5-fold split (splits_final.json)');
  const fold = await plans.fold(0);
  console.log(fold.summary());

  console.log(`\n== 6. preprocessing (${plans.plansName})`);
  for (const c of plans.configurationNames.filter((n) => n !== '3d_cascade_fullres')) {
    const pre = await plans.preprocess(c);
    console.log(`${c}: ${pre.caseIds.length} cases -> ${path.relative(process.cwd(), pre.dir)}`);
  }

  const order = ['2d', '3d_fullres', '3d_lowres', '3d_cascade_fullres'].filter((c) => plans.hasConfiguration(c));
  console.log(`\n== 7. training ${order.join(', ')} on fold 0 (${SCHEDULE.epochs} epochs x ${SCHEDULE.iterationsPerEpoch} iterations each) + validation`);
  const validation: Record<string, Record<string, number>> = {};
  for (const configuration of order) {
    if (configuration === '3d_cascade_fullres') {
      // training the lowres stage predicted its validation cases (pred_next_stage); nnU-Net gets the training
      // cases' inputs from the other 4 folds' lowres models. With one fold we predict them with this fold's model:
      // in-sample, so the cascade sees a better-than-real previous stage. Fine for a demonstration only.
      const files = await fold.predictNextStage({ cases: fold.trainCases, mirroring: false, progress: false });
      console.log(`3d_lowres -> pred_next_stage for the ${files.length} training cases of fold 0 (in-sample: demonstration only)`);
    }
    const t = Date.now();
    // saveProbabilities: model selection ensembles average the validation probabilities (v1 --npz)
    const r = await fold.train({ configuration, saveProbabilities: true, ...SCHEDULE });
    // foreground labels only (summary.json also scores the background, label 0)
    validation[configuration] = Object.fromEntries(Object.entries(r.validation?.meanDice ?? {}).filter(([l]) => l !== '0'));
    const last = r.log[r.log.length - 1];
    console.log(
      `${configuration.padEnd(19)} ${((Date.now() - t) / 1000).toFixed(0).padStart(4)} s  train loss ${last?.train_loss.toFixed(4)}  val loss ${last?.val_loss.toFixed(4)}  ` +
        `validation Dice ${Object.entries(validation[configuration]).map(([l, d]) => `${l}: ${d.toFixed(4)}`).join(', ')}`,
    );
  }

  console.log('\n== 8. model selection (nnUNet_find_best_configuration over fold 0): configurations, pair ensembles, postprocessing');
  const selection = await task.findBestConfiguration({ folds: [0], plans: plans.plansName });
  selection.table().print();
  console.log(selection.summary());

  console.log('\n== 9. prediction of the test case(s) (imagesTs) with the selected model');
  const best = selection.instructions;
  const predictions = path.join(workDir, 'predictions');
  const members = best?.configurations ?? ['2d'];
  const memberDirs: string[] = [];
  for (const configuration of members) {
    const out = path.join(predictions, configuration);
    const prediction = await task.predict(path.join(dir, 'imagesTs'), {
      configuration,
      plansName: plans.plansName,
      outputDir: out,
      folds: [0],
      mirroring: false,
      progress: false,
      saveProbabilities: members.length > 1,
    });
    prediction.table().print();
    memberDirs.push(out);
  }
  if (members.length > 1 && best) {
    const out = path.join(predictions, best.best);
    const ids = await ensembleFolders(memberDirs, out, { postprocessing: readPostprocessingJson(best.postprocessingFile) });
    console.log(`ensemble ${best.best}: ${ids.length} case(s) -> ${path.relative(process.cwd(), out)}`);
  }

  console.log(`\n== Dice on the fold-0 validation cases (${plans.plansName}, short CPU schedule: not nnU-Net's accuracy)`);
  const labels = [...new Set(Object.values(validation).flatMap((d) => Object.keys(d)))].sort();
  console.log(`${'model'.padEnd(34)}${labels.map((l) => `label ${l}`.padStart(10)).join('')}`);
  for (const [c, d] of Object.entries(validation)) console.log(`${c.padEnd(34)}${labels.map((l) => (d[l]?.toFixed(4) ?? '-').padStart(10)).join('')}`);
  for (const e of selection.ensembles) console.log(`${`ensemble ${e.members.join(' + ')}`.padEnd(34)}${`${e.meanForegroundDice.toFixed(4)}`.padStart(10)}  (foreground mean)`);
  console.log(`selected: ${selection.best ?? '(none)'}; total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}
