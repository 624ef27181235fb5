import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { Model } from '../../model/model';
import { initBackend } from '../../network/backend';
import { modelStore } from '../../model/import';
import { FOLDER_FLAGS, taskOptionsFrom } from './common';

/** `import-model SRC [--name NAME]`: an official nnU-Net v1 or v2 model (folder or .zip) into the model store (issue 22). */
export const importModelCommand: CommandSpec = {
  name: 'import-model',
  summary: 'import an official nnU-Net v1 or v2 model (folder or .zip) for predict --model',
  usage: 'import-model SRC [--name NAME] [--configuration 2d|3d_fullres|...] [--previous-stage LOWRES_FOLDER] [--checkpoint model_final_checkpoint] [--models DIR] [--force]',
  flags: [
    { name: 'name', alias: 'n', type: 'string', help: 'name to predict with (default <task>_<configuration>)' },
    { name: 'configuration', alias: 'c', type: 'string', help: 'which model of a folder/zip holding several (2d, 3d_fullres, 3d_lowres, 3d_cascade_fullres)' },
    {
      name: 'previous-stage',
      type: 'string',
      help: "a v1 cascade's 3d_lowres model folder, when it is not at <results>/nnUNet/3d_lowres/<task>/<trainer>__<plans> (imported with the cascade)",
    },
    { name: 'checkpoint', alias: 'chk', type: 'string', help: 'v1 checkpoint name (v2 models: checkpoint_final.pth)', default: 'model_final_checkpoint' },
    { name: 'models', type: 'string', help: 'model store (default <nnUNet_results>/imported_models)' },
    { name: 'force', type: 'boolean', help: 'replace an imported model of the same name' },
    ...FOLDER_FLAGS,
  ],
  async run({ positionals, flags }) {
    if (positionals.length !== 1) throw new UsageError('give exactly one SRC (a v1 or v2 model folder, fold folder or .zip)');
    const o = taskOptionsFrom(flags);
    await initBackend({ log: false }); // the weights are loaded into networks to validate the model
    const r = await Model.import(positionals[0], {
      name: flags.name as string | undefined,
      configuration: flags.configuration as string | undefined,
      checkpoint: flags.checkpoint as string,
      modelsDir: flags.models as string | undefined,
      overwrite: Boolean(flags.force),
      previousStage: flags['previous-stage'] as string | undefined,
      workDir: o.workDir,
      resultsRoot: o.resultsRoot,
      preprocessedRoot: o.preprocessedRoot,
    });
    console.log(`imported ${r.model} as '${r.name}' into ${r.dir}`);
    console.log(`predict with: nnunet-ts predict --model ${r.name} -i INPUT_FOLDER -o OUTPUT_FOLDER${flags.models ? ` --models ${modelStore({ modelsDir: flags.models as string })}` : ''}`);
    return 0;
  },
};
