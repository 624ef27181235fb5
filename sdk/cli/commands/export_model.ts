import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { loadPlans } from '../../planning/plans_files';
import { initBackend } from '../../network/backend';
import { configurationFolderName } from '../../model_selection/consolidate';
import { findFoldFolders } from '../../inference/predict';
import { checkpointFile, loadTrainedNetwork, readCheckpoint } from '../../checkpoint/checkpoint';
import { exportModelV2, v2DatasetJson } from '../../model/export_v2';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { parseFold } from './predict';

/** `export-model --format nnunet-v2`: a configuration trained here as an nnU-Net v2 model folder (issue 22). */
export const exportModelCommand: CommandSpec = {
  name: 'export-model',
  summary: 'write a trained configuration as an official nnU-Net v2 model folder (torch loads it strictly; nnUNetv2_predict itself not yet tried)',
  usage: 'export-model --format nnunet-v2 -t TASK_DIR -c CONFIG -o OUT_RESULTS [-f 0 1 ...] [-p PLANS] [--force]',
  flags: [
    { name: 'format', type: 'string', help: 'nnunet-v2 (the only format)', default: 'nnunet-v2' },
    { name: 'task', alias: 't', type: 'string', help: 'raw task folder the model was trained on' },
    { name: 'configuration', alias: 'c', type: 'string', help: '2d, 3d_lowres or 3d_fullres', default: '3d_fullres' },
    { name: 'folds', alias: 'f', type: 'list', help: 'folds to export (default: all trained of 0..4)' },
    { name: 'plans', alias: 'p', type: 'string', help: 'plans name', default: 'nnUNetPlansv2.1' },
    { name: 'output', alias: 'o', type: 'string', help: 'results root to write <dataset>/<trainer>__<plans>__<configuration> into' },
    { name: 'force', type: 'boolean', help: 'replace an existing exported folder' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    if (flags.format !== 'nnunet-v2') throw new UsageError(`--format ${String(flags.format)} is not supported (nnunet-v2)`);
    const taskDir = flags.task as string | undefined;
    const out = flags.output as string | undefined;
    if (!taskDir || !out) throw new UsageError('-t TASK_DIR and -o OUT_RESULTS are required');
    const config = flags.configuration as string;
    if (config === '3d_cascade_fullres') throw new UsageError('cascade models cannot be exported (nnU-Net v2 needs the previous stage too)');
    const task = await Task.load(taskDir, taskOptionsFrom(flags));
    const plansFile = path.join(task.paths.preprocessed, `${flags.plans}.json`);
    if (!fs.existsSync(plansFile)) throw new Error(`${plansFile}: no plans (run plan_and_preprocess and train first)`);
    const plans = loadPlans(plansFile);
    if (!plans.hasConfiguration(config)) throw new UsageError(`configuration '${config}' is not in ${plansFile} (${plans.configurationNames.join(', ')})`);
    const modelFolder = path.join(task.paths.results, configurationFolderName(config, { plans: plans.plansName }));
    const folds = (flags.folds as string[] | undefined)?.map(parseFold);
    const foldDirs = findFoldFolders(modelFolder, folds);
    await initBackend({ log: false });
    const nets = foldDirs.map((d) => loadTrainedNetwork(d));
    try {
      const fp = path.join(task.paths.preprocessed, 'dataset_fingerprint.json');
      const dir = await exportModelV2({
        plans: plans.json as never,
        configuration: config,
        folds: foldDirs.map((d, i) => {
          const st = readCheckpoint(checkpointFile(d, 'checkpoint_final')).state;
          const name = path.basename(d).replace(/^fold_/, '');
          return { fold: name === 'all' ? 'all' : Number(name), network: nets[i], epoch: st.epoch, bestEma: st.bestEma };
        }),
        datasetJson: v2DatasetJson(task.dataset),
        fingerprint: fs.existsSync(fp) ? JSON.parse(fs.readFileSync(fp, 'utf8')) : undefined,
        outDir: out,
        overwrite: Boolean(flags.force),
      });
      console.log(`exported ${foldDirs.length} fold(s) of ${config} to ${dir}`);
      console.log(`predict with nnU-Net v2: nnUNetv2_predict_from_modelfolder -m ${dir} -i INPUT -o OUTPUT -f ${foldDirs.map((d) => path.basename(d).replace(/^fold_/, '')).join(' ')}`);
      return 0;
    } finally {
      for (const n of nets) n.dispose();
    }
  },
};
