import * as fs from 'fs';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { ensembleFolders } from '../../ensembling/ensemble';
import { readPostprocessingJson } from '../../postprocessing/determine';

/** nnUNet_ensemble (v1 inference/ensemble_predictions.py): average the probability files of several prediction folders. */
export const ensembleCommand: CommandSpec = {
  name: 'ensemble',
  summary: 'average the saved probabilities of several prediction folders (nnUNet_ensemble)',
  usage: 'ensemble -i DIR1 DIR2 ... -o OUT [--postprocessing-file F] [--save-probabilities]',
  flags: [
    { name: 'input', alias: 'i', type: 'list', help: 'prediction folders with <case>.npy + <case>.json (predict --save-probabilities)' },
    { name: 'output', alias: 'o', type: 'string', help: 'output folder' },
    { name: 'postprocessing-file', alias: 'pp', type: 'string', help: 'postprocessing.json to apply' },
    { name: 'save-probabilities', type: 'boolean', help: 'also write the averaged probabilities' },
  ],
  async run({ positionals, flags }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const inputs = flags.input as string[] | undefined;
    const output = flags.output as string | undefined;
    if (!inputs || inputs.length < 2 || !output) throw new UsageError('-i needs at least two folders and -o OUT is required');
    for (const d of inputs) if (!fs.existsSync(d)) throw new Error(`${d}: no such folder`);
    const ppFile = flags['postprocessing-file'] as string | undefined;
    const pp = ppFile ? readPostprocessingJson(ppFile) : undefined;
    const ids = await ensembleFolders(inputs, output, { postprocessing: pp, saveProbabilities: Boolean(flags['save-probabilities']) });
    console.log(`ensembled ${ids.length} cases from ${inputs.length} folders into ${output}${pp ? ` (postprocessing ${ppFile})` : ''}`);
    return 0;
  },
};
