import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { findBestConfigurationInResults } from '../../model_selection/consolidate';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { parseFold } from './predict';

/** nnUNet_find_best_configuration (v1 evaluation/model_selection/figure_out_what_to_submit.py). */
export const findBestConfigurationCommand: CommandSpec = {
  name: 'find_best_configuration',
  summary: 'consolidate the cross-validation, ensemble pairs and pick the best (nnUNet_find_best_configuration)',
  usage: 'find_best_configuration -t TASK_DIR [-c 2d 3d_fullres ...] [-f 0 1 2 3 4] [--disable-ensembling]',
  flags: [
    { name: 'task', alias: 't', type: 'string', help: 'raw task folder (its labelsTr are the references)' },
    { name: 'configurations', alias: 'c', type: 'list', help: 'candidates (default: every trained one of 2d 3d_lowres 3d_fullres 3d_cascade_fullres)' },
    { name: 'folds', alias: 'f', type: 'list', help: 'folds (default 0 1 2 3 4)' },
    { name: 'disable-ensembling', type: 'boolean', help: 'no pair ensembles' },
    { name: 'plans', alias: 'p', type: 'string', help: 'plans name', default: 'nnUNetPlansv2.1' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const taskDir = flags.task as string | undefined;
    if (!taskDir) throw new UsageError('-t TASK_DIR is required');
    const task = await Task.load(taskDir, taskOptionsFrom(flags));
    const r = await findBestConfigurationInResults(task.paths.results, {
      gtDir: path.join(task.dir, 'labelsTr'),
      configurations: flags.configurations as string[] | undefined,
      folds: (flags.folds as string[] | undefined)?.map(parseFold),
      plans: flags.plans as string,
      disableEnsembling: Boolean(flags['disable-ensembling']),
    });
    console.log(r.summary());
    console.log(`\n${path.join(task.paths.results, 'summary.csv')}\n${path.join(task.paths.results, 'inference_instructions.txt')}`);
    return r.best ? 0 : 1;
  },
};
