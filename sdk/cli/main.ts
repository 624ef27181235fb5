/**
 * `nnunet-ts <command> [options]`: subcommands mirror nnU-Net's (plan_and_preprocess, train, predict, ...).
 * Exit codes: 0 success, 1 failure, 2 usage error.
 */
import { CommandSpec, UsageError, formatHelp, parseArgs } from './args';
import { COMMANDS } from './commands';

function topHelp(cmds: CommandSpec[]): string {
  return [
    'nnunet-ts: nnU-Net (v1, v2.1 plans) in TypeScript',
    '',
    'usage: nnunet-ts <command> [options]    (nnunet-ts <command> --help for details)',
    '',
    'commands:',
    ...cmds.map((c) => `  ${c.name.padEnd(26)} ${c.summary}`),
    '',
    'Folders follow nnU-Net: --raw/--preprocessed/--results or the environment variables',
    'nnUNet_raw, nnUNet_preprocessed, nnUNet_results.',
    'Every command takes --backend tensorflow|webgpu|wasm|cpu|auto (= NNUNET_BACKEND; `nnunet-ts doctor` shows the choice).',
  ].join('\n');
}

/**
 * The global `--backend NAME` (every command): it sets NNUNET_BACKEND, which initBackend reads and the processes a
 * command starts (protocol steps, gradient workers) inherit. Returns the other arguments.
 */
function takeBackendFlag(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let v: string | undefined;
    if (a === '--backend') {
      v = args[++i];
      if (v === undefined) throw new UsageError('--backend needs a value (tensorflow, webgpu, wasm, cpu or auto)');
    } else if (a.startsWith('--backend=')) v = a.slice('--backend='.length);
    else {
      out.push(a);
      continue;
    }
    if (!['tensorflow', 'webgpu', 'wasm', 'cpu', 'auto'].includes(v)) throw new UsageError(`--backend: unknown backend '${v}' (expected tensorflow, webgpu, wasm, cpu or auto)`);
    process.env.NNUNET_BACKEND = v;
  }
  return out;
}

export async function cliMain(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(topHelp(COMMANDS));
    process.exitCode = name ? 0 : 2;
    return;
  }
  const cmd = COMMANDS.find((c) => c.name === name || c.name.replace(/_/g, '-') === name);
  if (!cmd) {
    console.error(`nnunet-ts: unknown command '${name}'\n\n${topHelp(COMMANDS)}`);
    process.exitCode = 2;
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(formatHelp(cmd));
    return;
  }
  try {
    const args = parseArgs(cmd.flags.some((f) => f.name === 'backend') ? rest : takeBackendFlag(rest), cmd.flags);
    const code = await cmd.run(args);
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`nnunet-ts ${cmd.name}: ${e.message}\n\n${formatHelp(cmd)}`);
      process.exitCode = 2;
      return;
    }
    console.error(`nnunet-ts ${cmd.name}: ${(e as Error).message}`);
    if (process.env.NNUNET_DEBUG) console.error((e as Error).stack);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  void cliMain(process.argv.slice(2));
}
