import type { FlagSpec } from '../args';
import type { TaskOptions } from '../../task';
import { DEFAULT_WORK_DIR, ROOT_ENV } from '../../paths';

/** The nnU-Net folder flags every command shares (also settable by the official environment variables). */
export const FOLDER_FLAGS: FlagSpec[] = [
  { name: 'preprocessed', type: 'string', help: 'nnUNet_preprocessed root', env: ROOT_ENV.preprocessed },
  { name: 'results', type: 'string', help: 'nnUNet_results root', env: ROOT_ENV.results },
  { name: 'work', type: 'string', help: 'base folder for roots not given', env: ROOT_ENV.work, default: DEFAULT_WORK_DIR },
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
