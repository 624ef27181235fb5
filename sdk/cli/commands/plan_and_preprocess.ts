import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';

/** nnUNet_plan_and_preprocess: verify (optional), fingerprint, plan, preprocess the chosen configurations. */
export const planAndPreprocess: CommandSpec = {
  name: 'plan_and_preprocess',
  summary: 'fingerprint, plan (v2.1 or v2 preset) and preprocess a raw task folder',
  usage: 'plan_and_preprocess -i TASK_DIR [-c 2d 3d_fullres ...] [--preset nnUNetPlansv2.1|nnUNetPlans] [--gpu-memory-target GB] [--verify] [--no-preprocess]',
  flags: [
    { name: 'input', alias: 'i', type: 'string', help: 'raw task folder (MSD or v2 layout)' },
    { name: 'configurations', alias: 'c', type: 'list', help: 'configurations to preprocess (default: all planned)' },
    { name: 'preset', type: 'string', help: 'plans preset', default: 'nnUNetPlansv2.1' },
    {
      name: 'gpu-memory-target',
      type: 'number',
      help: 'GPU memory the plans target in GB (default 8; v2 -gpu_memory_target); renames the plans, e.g. nnUNetPlansv2.1_2GB',
    },
    { name: 'verify', type: 'boolean', help: 'run the dataset integrity check first (--verify_dataset_integrity)' },
    { name: 'no-preprocess', type: 'boolean', help: 'stop after planning' },
    ...FOLDER_FLAGS,
  ],
  async run({ flags }) {
    const input = flags.input as string | undefined;
    if (!input) throw new UsageError('-i TASK_DIR is required');
    const preset = flags.preset as string;
    if (preset !== 'nnUNetPlansv2.1' && preset !== 'nnUNetPlans') throw new UsageError(`unknown preset '${preset}'`);
    const task = await Task.load(input, { ...taskOptionsFrom(flags), verify: Boolean(flags.verify) });
    console.log(task.summary());
    const gpu = flags['gpu-memory-target'] as number | undefined;
    if (gpu !== undefined && !(gpu > 0)) throw new UsageError(`--gpu-memory-target must be a positive number of GB, got ${gpu}`);
    const plans = await task.plan({ preset, gpuMemoryTargetGB: gpu });
    console.log(`\nplans ${plans.plansName} written to ${task.paths.preprocessed}`);
    plans.table().print();
    if (flags['no-preprocess']) return 0;
    const wanted = (flags.configurations as string[] | undefined) ?? plans.configurationNames.filter((c) => c !== '3d_cascade_fullres');
    for (const c of wanted) {
      if (!plans.hasConfiguration(c)) throw new Error(`configuration '${c}' is not in the plans (${plans.configurationNames.join(', ')})`);
      if (c === '3d_cascade_fullres') continue; // same preprocessed data as 3d_fullres
      const pre = await plans.preprocess(c);
      console.log(`preprocessed ${c}: ${pre.caseIds.length} cases in ${pre.dir}`);
    }
    return 0;
  },
};
