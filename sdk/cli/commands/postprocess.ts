import * as fs from 'fs';
import * as path from 'path';
import type { CommandSpec } from '../args';
import { UsageError } from '../args';
import { readNifti, writeNifti } from '../../io/nifti';
import { applyPostprocessing } from '../../postprocessing/connected_components';
import { readPostprocessingJson } from '../../postprocessing/determine';
import { niftiFilesIn } from '../../evaluation/folders';
import { determinePostprocessingFolder } from '../../postprocessing/folders';
import { progress } from '../../util/progress';

/**
 * `postprocess determine`: v1 determine_postprocessing on <base>/<raw> against references;
 * `postprocess apply`: v1 apply_postprocessing_to_folder (load_remove_save with a postprocessing.json).
 */
export const postprocessCommand: CommandSpec = {
  name: 'postprocess',
  summary: 'determine (on a prediction/reference folder pair) or apply a largest-component postprocessing.json',
  usage:
    'postprocess determine --base DIR --gt DIR [--raw validation_raw] [--final validation_final]\n' +
    '       nnunet-ts postprocess apply -i DIR -o DIR --postprocessing-file F',
  flags: [
    { name: 'base', type: 'string', help: 'determine: folder holding <raw>/ (postprocessing.json is written here)' },
    { name: 'gt', type: 'string', help: 'determine: reference labels folder' },
    { name: 'raw', type: 'string', help: 'determine: raw prediction subfolder', default: 'validation_raw' },
    { name: 'final', type: 'string', help: 'determine: postprocessed output subfolder', default: 'validation_final' },
    { name: 'input', alias: 'i', type: 'string', help: 'apply: folder of predictions' },
    { name: 'output', alias: 'o', type: 'string', help: 'apply: output folder' },
    { name: 'postprocessing-file', alias: 'pp', type: 'string', help: 'apply: postprocessing.json' },
  ],
  async run({ positionals, flags }) {
    const [mode, ...extra] = positionals;
    if (extra.length) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    if (mode === 'determine') {
      const base = flags.base as string | undefined;
      const gt = flags.gt as string | undefined;
      if (!base || !gt) throw new UsageError('determine needs --base DIR and --gt DIR');
      const r = await determinePostprocessingFolder(base, gt, { rawSubfolder: flags.raw as string, finalSubfolder: flags.final as string });
      console.log(`for_which_classes: ${JSON.stringify(r.postprocessing.for_which_classes)}; written ${path.join(base, 'postprocessing.json')}`);
      return 0;
    }
    if (mode === 'apply') {
      const input = flags.input as string | undefined;
      const output = flags.output as string | undefined;
      const ppFile = flags['postprocessing-file'] as string | undefined;
      if (!input || !output || !ppFile) throw new UsageError('apply needs -i DIR, -o DIR and --postprocessing-file F');
      const pp = readPostprocessingJson(ppFile);
      const files = niftiFilesIn(input);
      fs.mkdirSync(output, { recursive: true });
      const bar = progress('postprocess', files.length);
      for (const f of files) {
        const v = await readNifti(path.join(input, f));
        const seg = v.data instanceof Uint8Array ? v.data : Uint8Array.from(v.data as ArrayLike<number>);
        await writeNifti(path.join(output, f), { ...v, data: applyPostprocessing(seg, v.shape, pp, v.spacing) }, { dtype: 'uint8' });
        bar.tick(1, f);
      }
      bar.done();
      console.log(`postprocessed ${files.length} files into ${output}`);
      return 0;
    }
    throw new UsageError(`first argument must be 'determine' or 'apply', got '${mode ?? ''}'`);
  },
};
