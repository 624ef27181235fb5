import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Task } from '../../task';
import { loadPlans } from '../../planning/plans_files';
import { initBackend } from '../../network/backend';
import { Model } from '../../model/model';
import { ModelV2 } from '../../model/model_v2';
import { modelStore, resolveModelDir } from '../../model/import';
import { webModelFromOfficial, webModelFromTrained, webModelFromV2, writeWebModels, type ServedModel } from '../../model/web_model_files';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';
import { parseFold } from './predict';


/** `serve`: the segmentation web app (issue 23) with the given models, on 127.0.0.1. */
export const serveCommand: CommandSpec = {
  name: 'serve',
  summary: 'serve the in-browser segmentation app with trained or imported models (the scan never leaves the page)',
  usage:
    'serve [--model NAME|DIR ...] [-t TASK_DIR -c CONFIG ...] [-f 0 1 ...] [--port 8080] [--host 127.0.0.1]\n' +
    '       serve ... --export DIR     (write the app and the models as static files instead)',
  flags: [
    { name: 'model', alias: 'm', type: 'list', help: 'imported models (import-model) or official nnU-Net v1 / v2 model folders' },
    { name: 'models', type: 'string', help: 'model store for --model NAME (default <nnUNet_results>/imported_models)' },
    { name: 'task', alias: 't', type: 'string', help: 'raw task folder of a model trained here' },
    { name: 'configuration', alias: 'c', type: 'list', help: 'configurations of -t to serve (2d, 3d_fullres, 3d_lowres)' },
    { name: 'folds', alias: 'f', type: 'list', help: 'folds to use (default: all trained of 0..4)' },
    { name: 'plans', alias: 'p', type: 'string', help: 'plans name', default: 'nnUNetPlansv2.1' },
    { name: 'port', type: 'number', help: 'port (0: any free one)', default: 8080 },
    { name: 'host', type: 'string', help: 'address to listen on', default: '127.0.0.1' },
    { name: 'export', type: 'string', help: 'write the app and models to this folder for a static host, then exit' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const folds = (flags.folds as string[] | undefined)?.map(parseFold);
    const models: ServedModel[] = [];
    const o = taskOptionsFrom(flags);
    if (flags.task) {
      const configs = (flags.configuration as string[] | undefined) ?? [];
      if (configs.length === 0) throw new UsageError('-t TASK_DIR needs -c CONFIG (one or more)');
      const task = await Task.load(flags.task as string, o);
      for (const c of configs) {
        if (c === '3d_cascade_fullres') throw new UsageError('the cascade is not served to the browser yet (it needs both stages); serve 3d_lowres or 3d_fullres');
        // the plans the model was trained with (copied into its folder by training), as task.predict uses
        const modelFolder = task.modelFolder(c, flags.plans as string);
        const plansFile = path.join(modelFolder, 'plans.json');
        if (!fs.existsSync(plansFile)) throw new Error(`${modelFolder}: no trained model (plans.json missing): train '${c}' with plans ${flags.plans} first`);
        const plans = loadPlans(plansFile);
        models.push(await webModelFromTrained({ name: `${task.dataset.name} ${c}`, plans, configuration: c, modelFolder, folds, dataset: task.dataset }));
      }
    } else if (flags.configuration) {
      throw new UsageError('-c needs -t TASK_DIR');
    }
    const names = (flags.model as string[] | undefined) ?? [];
    if (names.length) {
      await initBackend({ log: false }); // official checkpoints are decoded into networks, then re-encoded
      const store = modelStore({ modelsDir: flags.models as string | undefined, workDir: o.workDir, resultsRoot: o.resultsRoot });
      for (const n of names) {
        const dir = resolveModelDir(n, store);
        const model = await Model.load(dir, { folds });
        try {
          models.push(model instanceof ModelV2 ? await webModelFromV2(model, { name: path.basename(dir) }) : await webModelFromOfficial(model, { name: path.basename(dir) }));
        } finally {
          model.dispose();
        }
      }
    }
    const ids = models.map((m) => m.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new UsageError(`two served models are both named '${dup}'`);
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { ensureWebApp } = require('../../../web/build') as typeof import('../../../web/build');
    const appDir = await ensureWebApp((s) => console.log(s));
    if (flags.export) {
      const out = path.resolve(flags.export as string);
      fs.cpSync(appDir, out, { recursive: true });
      await writeWebModels(out, models);
      console.log(`wrote the web app and ${models.length} model(s) to ${out}; serve it from any static web server`);
      return 0;
    }
    if (models.length === 0) console.log('no models given (--model NAME or -t TASK -c CONFIG): the page will say so');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { serveWebApp } = require('../../../web/server') as typeof import('../../../web/server');
    const server = await serveWebApp({ appDir, models, host: flags.host as string, port: flags.port as number });
    console.log(`nnunet-ts web app: ${server.url}  (${models.map((m) => m.manifest.name).join(', ') || 'no models'}; Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      const stop = () => void server.close().then(resolve);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  },
};
