/**
 * `npm run bench -- NAME [args]` runs bench/NAME.bench.ts. Benchmarks print a table with the comparison their
 * issue names; timings never live in tests.
 */
import * as fs from 'fs';
import * as path from 'path';

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  const available = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.ts'))
    .map((f) => f.replace(/\.bench\.ts$/, ''))
    .sort();
  if (!name || !available.includes(name)) {
    console.error(`usage: npm run bench -- NAME\navailable: ${available.join(', ')}`);
    process.exit(name ? 1 : 0);
  }
  const mod = require(path.join(__dirname, `${name}.bench.ts`));
  if (typeof mod.main !== 'function') throw new Error(`bench/${name}.bench.ts must export main(args)`);
  await mod.main(rest);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
