import type { FlagSpec } from '../args';
import type { TaskOptions } from '../../task';

/** The nnU-Net folder flags every command shares (also settable by the official environment variables). */
export const FOLDER_FLAGS: FlagSpec[] = [
  { name: 'preprocessed', type: 'string', help: 'nnUNet_preprocessed root', env: 'nnUNet_preprocessed' },
  { name: 'results', type: 'string', help: 'nnUNet_results root', env: 'nnUNet_results' },
  { name: 'work', type: 'string', help: 'base folder for roots not given', env: 'NNUNET_WORK', default: 'nnunet_work' },
  { name: 'threads', alias: 'np', type: 'number', help: 'worker threads for per-case work (default: cores)' },
];

export function taskOptionsFrom(flags: Record<string, unknown>): TaskOptions {
  return {
    workDir: flags.work as string | undefined,
    preprocessedRoot: flags.preprocessed as string | undefined,
    resultsRoot: flags.results as string | undefined,
    threads: flags.threads as number | undefined,
  };
}
