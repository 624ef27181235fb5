/**
 * Entry point for the stand-alone bench scripts (`npx ts-node bench/X.ts ...`): run `main`, exit with the status it
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
