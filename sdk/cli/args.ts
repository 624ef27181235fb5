/**
 * A small, strict argument parser for the CLI: `--flag value`, `--flag=value`, `-f value`, boolean switches and
 * positionals. Unknown flags are errors (a typo must not silently change a run).
 */
export interface FlagSpec {
  name: string;
  alias?: string;
  type: 'string' | 'number' | 'boolean' | 'list';
  help: string;
  default?: string | number | boolean | string[];
  env?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  run: (args: ParsedArgs) => Promise<number | void>;
}

export interface ParsedArgs {
  positionals: string[];
  flags: Record<string, string | number | boolean | string[] | undefined>;
}

export class UsageError extends Error {}

export function parseArgs(argv: string[], spec: FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const f of spec) {
    byName.set(`--${f.name}`, f);
    if (f.alias) byName.set(`-${f.alias}`, f);
  }
  const flags: ParsedArgs['flags'] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(0, eq) : a;
      const f = byName.get(key);
      if (!f) throw new UsageError(`unknown option ${key}`);
      if (f.type === 'boolean') {
        flags[f.name] = eq > 0 ? !['0', 'false', 'no'].includes(a.slice(eq + 1)) : true;
        continue;
      }
      let v: string | undefined = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`option ${key} needs a value`);
      if (f.type === 'number') {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new UsageError(`option ${key} needs a number, got '${v}'`);
        flags[f.name] = n;
      } else if (f.type === 'list') {
        const list: string[] = [v];
        while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) list.push(argv[++i]);
        flags[f.name] = [...((flags[f.name] as string[] | undefined) ?? []), ...list];
        v = undefined;
      } else flags[f.name] = v;
      continue;
    }
    positionals.push(a);
  }
  for (const f of spec) {
    if (flags[f.name] === undefined && f.env && process.env[f.env] !== undefined) flags[f.name] = process.env[f.env];
    if (flags[f.name] === undefined && f.default !== undefined) flags[f.name] = f.default;
  }
  return { positionals, flags };
}

export function formatHelp(cmd: CommandSpec): string {
  const lines = [`nnunet-ts ${cmd.name}: ${cmd.summary}`, '', `usage: nnunet-ts ${cmd.usage}`, ''];
  if (cmd.flags.length) lines.push('options:');
  for (const f of cmd.flags) {
    const names = [`--${f.name}`, f.alias ? `-${f.alias}` : ''].filter(Boolean).join(', ');
    const extra = [f.env ? `env ${f.env}` : '', f.default !== undefined ? `default ${JSON.stringify(f.default)}` : '']
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${names.padEnd(28)} ${f.help}${extra ? ` (${extra})` : ''}`);
  }
  return lines.join('\n');
}
