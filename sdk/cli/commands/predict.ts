import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { loadPlans } from '../../planning/plans_files';
import { initBackend } from '../../network/backend';
import { predictCases, PredictionError } from '../../inference/predict';
import { configurationFolderName } from '../../model_selection/consolidate';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { Model } from '../../model/model';
import { ModelV2 } from '../../model/model_v2';
import { modelStore, resolveModelDir } from '../../model/import';

/** predict --model: an imported model, or an official v1 or v2 model folder. */
async function predictWithModel(nameOrDir: string, input: string, output: string, flags: Record<string, unknown>, step: number): Promise<number> {
  const o = taskOptionsFrom(flags);
  const store = modelStore({ modelsDir: flags.models as string | undefined, workDir: o.workDir, resultsRoot: o.resultsRoot });
  const dir = resolveModelDir(nameOrDir, store);
  const folds = (flags.folds as string[] | undefined)?.map(parseFold);
  await initBackend({ log: false });
  // -chk: our names are for models trained here; with --model a v1 name (model_best, model_latest) picks the checkpoint
  const chk = flags.checkpoint as string | undefined;
  // a v2 model folder: checkpoint_best / checkpoint_latest name fold_k/<name>.pth
  let checkpoint = chk && chk !== 'checkpoint_final' ? chk : undefined;
  if (checkpoint && /^checkpoint_\w+$/.test(checkpoint)) checkpoint = `${checkpoint}.pth`;
  if (checkpoint && !/^model_\w+$/.test(checkpoint) && !/^checkpoint_\w+\.pth$/.test(checkpoint)) {
    throw new UsageError(`with --model, -chk takes a v1 checkpoint name (model_final_checkpoint, model_best, ...) or a v2 one (checkpoint_best, ...), got '${chk}'`);
  }
  const model = await Model.load(dir, {
    folds,
    checkpoint,
    postprocessing: flags['disable-postprocessing'] ? false : true,
    previousStage: flags['previous-stage'] as string | undefined,
  });
  try {
    console.log(String(model));
    const prevPredictions = flags['prev-stage-predictions'] as string | undefined;
    if (prevPredictions && model.configuration !== '3d_cascade_fullres' && !(model instanceof ModelV2 && model.v2.configuration.previous_stage)) {
      throw new UsageError(`--prev-stage-predictions applies to cascade models; ${model} is not one`);
    }
    const r = await model.predictFolder(input, output, {
      ...(prevPredictions ? { previousStagePredictions: prevPredictions } : {}),
      mirroring: !flags['disable-tta'],
      stepSize: step,
      probabilities: Boolean(flags['save-probabilities']),
      progress: true,
      tileWorkers: tileWorkersFlag(flags),
    });
    console.log(r.summary());
    return r.failed.length ? 1 : 0;
  } catch (e) {
    if (e instanceof PredictionError) {
      console.error(e.result.summary());
      return 1;
    }
    throw e;
  } finally {
    model.dispose();
  }
}

/** --tile-workers N, or 'auto' when not given. */
function tileWorkersFlag(flags: Record<string, unknown>): number | 'auto' {
  const n = flags['tile-workers'];
  if (n === undefined) return 'auto';
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new UsageError(`--tile-workers must be a non-negative integer, got '${n}'`);
  return n;
}

/** A fold argument: 0..4 or 'all'. */
export function parseFold(s: string): number | 'all' {
  if (s === 'all') return 'all';
  const k = Number(s);
  if (!Number.isInteger(k) || k < 0) throw new UsageError(`fold must be a non-negative integer or 'all', got '${s}'`);
  return k;
}

export function positiveInt(v: unknown, name: string): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new UsageError(`${name} needs a positive integer, got '${v}'`);
}

/** nnUNet_predict (v1 predict_simple.py): fold ensemble of a trained configuration on a folder of cases. */
export const predictCommand: CommandSpec = {
  name: 'predict',
  summary: 'predict a folder of cases with the trained folds of a configuration (nnUNet_predict)',
  usage:
    'predict -i IN -o OUT -t TASK_DIR -c CONFIG [-f 0 1 ...] [--disable-tta] [--save-probabilities] [--step-size 0.5] [--disable-postprocessing] [--tile-workers N] [--prev-stage-predictions DIR]\n' +
    '       predict -i IN -o OUT --model NAME|FOLDER [-f 0 1 ...] [--disable-tta] [--save-probabilities] [--disable-postprocessing] [--tile-workers N] [--previous-stage DIR | --prev-stage-predictions DIR]',
  flags: [
    { name: 'input', alias: 'i', type: 'string', help: 'folder of <case>_0000.nii.gz (or <case>.nii.gz) files' },
    { name: 'output', alias: 'o', type: 'string', help: 'output folder' },
    { name: 'task', alias: 't', type: 'string', help: 'raw task folder the model was trained on (locates plans and results)' },
    { name: 'model', alias: 'm', type: 'string', help: 'an imported model (import-model) or an official nnU-Net v1 or v2 model folder, instead of -t/-c' },
    { name: 'models', type: 'string', help: 'model store for --model NAME (default <nnUNet_results>/imported_models)' },
    { name: 'previous-stage', type: 'string', help: "with --model: a cascade's 3d_lowres model folder (default: the imported copy, or where the official results layout puts it)" },
    {
      name: 'prev-stage-predictions',
      type: 'string',
      help: 'a cascade: its 3d_lowres segmentations (<case>.nii.gz) instead of predicting them (v1 predict_simple -l, v2 -prev_stage_predictions)',
    },
    { name: 'configuration', alias: 'c', type: 'string', help: '2d, 3d_lowres, 3d_fullres or 3d_cascade_fullres', default: '3d_fullres' },
    { name: 'folds', alias: 'f', type: 'list', help: 'folds to ensemble (default: all trained of 0..4)' },
    { name: 'disable-tta', type: 'boolean', help: 'no mirroring test-time augmentation' },
    { name: 'save-probabilities', alias: 'z', type: 'boolean', help: 'also write <case>.npy + .json probabilities (v1 --save_npz)' },
    { name: 'step-size', type: 'number', help: 'sliding-window step size', default: 0.5 },
    { name: 'disable-postprocessing', type: 'boolean', help: "ignore the configuration's postprocessing.json" },
    { name: 'tile-workers', type: 'number', help: 'extra wasm/cpu instances in worker threads that predict tiles in parallel (default: cores - 1, at most 3, for models whose tiles are heavy; 0: one thread)' },
    { name: 'checkpoint', alias: 'chk', type: 'string', help: 'checkpoint_final, checkpoint_best or checkpoint_latest', default: 'checkpoint_final' },
    { name: 'plans', alias: 'p', type: 'string', help: 'plans name', default: 'nnUNetPlansv2.1' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const input = flags.input as string | undefined;
    const output = flags.output as string | undefined;
    const taskDir = flags.task as string | undefined;
    const step = flags['step-size'] as number;
    if (!(step > 0 && step <= 1)) throw new UsageError(`--step-size must be in (0, 1], got ${step}`);
    if (flags.model) {
      if (!input || !output) throw new UsageError('-i IN and -o OUT are required');
      if (taskDir) throw new UsageError('give either --model or -t TASK_DIR, not both');
      return predictWithModel(flags.model as string, input, output, flags, step);
    }
    if (!input || !output || !taskDir) throw new UsageError('-i IN, -o OUT and -t TASK_DIR are required');
    const chk = flags.checkpoint as string;
    if (!['checkpoint_final', 'checkpoint_best', 'checkpoint_latest'].includes(chk)) throw new UsageError(`unknown checkpoint '${chk}'`);
    const folds = (flags.folds as string[] | undefined)?.map(parseFold);
    const config = flags.configuration as string;
    const task = await Task.load(taskDir, taskOptionsFrom(flags));
    const plansFile = path.join(task.paths.preprocessed, `${flags.plans}.json`);
    if (!fs.existsSync(plansFile)) throw new Error(`${plansFile}: no plans (run plan_and_preprocess and train first)`);
    const plans = loadPlans(plansFile);
    if (!plans.hasConfiguration(config)) throw new UsageError(`configuration '${config}' is not in ${plansFile} (${plans.configurationNames.join(', ')})`);
    const names = { plans: plans.plansName };
    const modelFolder = path.join(task.paths.results, configurationFolderName(config, names));
    await initBackend({ log: false });
    try {
      const r = await predictCases({
        plans,
        configuration: config,
        modelFolder,
        folds,
        checkpoint: chk as 'checkpoint_final',
        input,
        outputDir: output,
        mirroring: !flags['disable-tta'],
        stepSize: step,
        saveProbabilities: Boolean(flags['save-probabilities']),
        postprocessing: !flags['disable-postprocessing'],
        tileWorkers: tileWorkersFlag(flags),
        previousStage: config === '3d_cascade_fullres' ? { modelFolder: path.join(task.paths.results, configurationFolderName('3d_lowres', names)) } : undefined,
        previousStagePredictions: flags['prev-stage-predictions'] as string | undefined,
      });
      console.log(r.summary());
      return 0;
    } catch (e) {
      if (e instanceof PredictionError) {
        console.error(e.result.summary());
        return 1;
      }
      throw e;
    }
  },
};
