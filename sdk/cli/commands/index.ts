import type { CommandSpec } from '../args';

/** Every CLI subcommand, in help order. */
export const COMMANDS: CommandSpec[] = [];
