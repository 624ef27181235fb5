import type { CommandSpec } from '../args';
import { doctorCommand } from './doctor';
import { planAndPreprocess } from './plan_and_preprocess';
import { startCommand } from './start';

/** Every CLI subcommand, in help order. */
export const COMMANDS: CommandSpec[] = [startCommand, planAndPreprocess, doctorCommand];
