import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { initBackend } from '../../network/backend';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { parseFold, positiveInt } from './predict';

/** nnUNet_train CONFIG TRAINER TASK FOLD (v1 run_training.py): plans and preprocesses on demand, then trainFold. */
export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'train one fold of a configuration (nnUNet_train): plans/preprocesses first if needed',
  usage:
    'train CONFIG FOLD -i TASK_DIR [--epochs N] [--iterations N] [--val-iterations N] [--batch-size N] [--gpu-memory-target GB] [--resume] [--no-validate] [--disable-next-stage-pred] [--save-probabilities] [--seed S] [--threads N] [--gradient-workers N]',
  flags: [
    { name: 'input', alias: 'i', type: 'string', help: 'raw task folder (MSD or v2 layout)' },
    { name: 'epochs', type: 'number', help: 'epochs (v1: 1000)' },
    { name: 'iterations', type: 'number', help: 'training iterations per epoch (v1: 250)' },
    { name: 'val-iterations', type: 'number', help: 'validation iterations per epoch (v1: 50)' },
    { name: 'batch-size', type: 'number', help: "override the plans' batch size" },
    { name: 'resume', alias: 'c', type: 'boolean', help: 'continue from the latest checkpoint (v1 --continue_training)' },
    { name: 'no-validate', type: 'boolean', help: 'skip the final validation (v1 --validation_only is its opposite)' },
    { name: 'save-probabilities', type: 'boolean', help: 'save validation probabilities, needed for ensembling (v1 --npz)' },
    { name: 'seed', type: 'number', help: 'random seed' },
    { name: 'preset', type: 'string', help: 'plans preset', default: 'nnUNetPlansv2.1' },
    { name: 'gpu-memory-target', type: 'number', help: 'plans for this GPU memory in GB (as given to plan_and_preprocess)' },
    { name: 'disable-next-stage-pred', type: 'boolean', help: '3d_lowres: do not write pred_next_stage for the cascade (v1 flag)' },
    { name: 'gradient-workers', type: 'number', help: 'extra wasm/cpu instances in worker threads that compute part of every batch (default: cores - 1, at most 3)' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    const [config, foldArg, ...extra] = positionals;
    if (!config || foldArg === undefined) throw new UsageError('CONFIG and FOLD are required, e.g. train 3d_fullres 0 -i TASK_DIR');
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const fold = parseFold(foldArg);
    const input = flags.input as string | undefined;
    if (!input) throw new UsageError('-i TASK_DIR is required');
    if (!fs.existsSync(input)) throw new Error(`${input}: no such task folder`);
    for (const k of ['epochs', 'iterations', 'val-iterations', 'batch-size']) positiveInt(flags[k], `--${k}`);
    const gw = flags['gradient-workers'] as number | undefined;
    if (gw !== undefined && !(Number.isInteger(gw) && gw >= 0)) throw new UsageError(`--gradient-workers must be a non-negative integer, got ${gw}`);
    await initBackend({ log: false });
    const task = await Task.load(input, taskOptionsFrom(flags));
    const gpu = flags['gpu-memory-target'] as number | undefined;
    if (gpu !== undefined && !(gpu > 0)) throw new UsageError(`--gpu-memory-target must be a positive number of GB, got ${gpu}`);
    const plans = await task.plan({ preset: flags.preset as 'nnUNetPlansv2.1', gpuMemoryTargetGB: gpu });
    if (!plans.hasConfiguration(config)) throw new UsageError(`configuration '${config}' is not in the plans (${plans.configurationNames.join(', ')})`);
    const f = await plans.fold(fold);
    console.log(`${f.summary()}\n  output: ${f.outputDir(config)}`);
    // nnUNet_train semantics: a fresh run unless --resume (-c); the fluent layer's default would reuse a finished run
    const r = await f.train({
      configuration: config,
      epochs: flags.epochs as number | undefined,
      iterationsPerEpoch: flags.iterations as number | undefined,
      validationIterations: flags['val-iterations'] as number | undefined,
      batchSize: flags['batch-size'] as number | undefined,
      resume: Boolean(flags.resume),
      validate: !flags['no-validate'],
      saveProbabilities: Boolean(flags['save-probabilities']),
      seed: flags.seed as number | undefined,
      numThreads: flags.threads !== undefined ? Number(flags.threads) : undefined,
      disableNextStagePrediction: Boolean(flags['disable-next-stage-pred']),
      gradientWorkers: gw,
    });
    console.log(r.summary());
    console.log(`checkpoint: ${path.relative(process.cwd(), r.checkpoint) || r.checkpoint}`);
    return 0;
  },
};
