/**
 * What every stand-alone bench script shares: its entry point and its `--name value` arguments.
 */

/** The value after `name` (e.g. '--batch') in args, or undefined when the flag is absent. */
export function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `arg` as a number; a value that is not a finite number is refused with an error naming the flag. */
export function num(args: string[], name: string): number | undefined {
  const v = arg(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}: expected a number, got '${v}'`);
  return n;
}

/**
 * Entry point for the scripts run directly (`npx ts-node bench/X.ts ...`): run `main`, exit with the status it
 * returns (0 when it returns nothing), print the error and exit 1 when it throws.
 */
export function runScript(main: (args: string[]) => Promise<number | void>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code ?? 0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}

/** Prints a table: a header row, a rule, the rows; every column right-aligned to its widest cell. */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(widths[i])).join(' | ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}
