import * as path from 'path';
import type { CommandSpec } from '../args';
import { Task } from '../../task';
import { generateTask } from '../../../data-scripts/synthetic_lung';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';

/**
 * `npm start`: the main job on the embedded default dataset — the deterministic synthetic lung CT task
 * (MSD Task06 layout) — through every pipeline step that exists, printing what each produced.
 */
export const startCommand: CommandSpec = {
  name: 'start',
  summary: 'run the pipeline on the embedded synthetic lung dataset (npm start)',
  usage: 'start [--size small|default] [--work DIR]',
  flags: [{ name: 'size', type: 'string', help: 'synthetic dataset profile', default: 'small' }, ...FOLDER_FLAGS],
  async run({ flags }) {
    const opts = taskOptionsFrom(flags);
    const rawRoot = path.resolve(opts.workDir ?? 'nnunet_work', 'nnUNet_raw');
    const size = flags.size as 'small' | 'default';
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

    console.log('\n== 4. plans (nnUNetPlansv2.1)');
    const plans = await fp.plan();
    plans.table().print();

    console.log('\n== 5. 5-fold split (splits_final.json)');
    const fold = await plans.fold(0);
    console.log(fold.summary());

    console.log('\n== 6. preprocessing');
    for (const c of plans.configurationNames.filter((n) => n !== '3d_cascade_fullres')) {
      const pre = await plans.preprocess(c);
      console.log(`${c}: ${pre.caseIds.length} cases -> ${pre.dir}`);
    }

    // A CPU-sized schedule (an override of patch and batch, a few epochs): it shows every step, not nnU-Net's
    // accuracy; on a GPU train with the plans and the default 1000 x 250 schedule (nnunet-ts train).
    console.log('\n== 7. training 2d on fold 0 (short CPU schedule) + validation (summary.json)');
    const small = plans.override({ '2d': { patch_size: [64, 64], batch_size: 4 } });
    const training = await small.fold(0).train({ configuration: '2d', epochs: 3, iterationsPerEpoch: 10, validationIterations: 2, mirroring: false });
    console.log(training.summary());
    training.table().print();

    console.log('\n== 8. prediction of the test case(s) (imagesTs)');
    const prediction = await task.predict(path.join(dir, 'imagesTs'), {
      configuration: '2d',
      outputDir: path.join(path.dirname(rawRoot), 'predictions', '2d'),
      folds: [0],
      mirroring: false,
      progress: false,
    });
    prediction.table().print();

    console.log('\n== Dice on the fold-0 validation cases');
    const mean = training.validation?.meanDice ?? {};
    console.log(Object.entries(mean).map(([label, d]) => `label ${label}: Dice ${d.toFixed(4)}`).join('\n'));
    return 0;
  },
};
