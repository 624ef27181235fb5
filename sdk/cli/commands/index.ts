import type { CommandSpec } from '../args';
import { doctorCommand } from './doctor';
import { planAndPreprocess } from './plan_and_preprocess';
import { startCommand } from './start';
import { trainCommand } from './train';
import { predictCommand } from './predict';
import { ensembleCommand } from './ensemble';
import { evaluateCommand } from './evaluate';
import { findBestConfigurationCommand } from './find_best_configuration';
import { postprocessCommand } from './postprocess';
import { importModelCommand } from './import_model';
import { exportModelCommand } from './export_model';
import { protocolCommand } from './protocol';
import { serveCommand } from './serve';

/** Every CLI subcommand, in help order. */
export const COMMANDS: CommandSpec[] = [
  startCommand,
  planAndPreprocess,
  trainCommand,
  predictCommand,
  importModelCommand,
  exportModelCommand,
  serveCommand,
  ensembleCommand,
  evaluateCommand,
  findBestConfigurationCommand,
  protocolCommand,
  postprocessCommand,
  doctorCommand,
];
