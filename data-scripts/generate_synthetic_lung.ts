/**
 * CLI: write the synthetic Task06_SynthLung dataset (MSD layout).
 *
 *   ts-node data-scripts/generate_synthetic_lung.ts --out DIR [--n-train N] [--n-test N] [--size small|default|quickstart]
 *                                                   [--seed 1234] [--name Task06_SynthLung] [--test-labels]
 *
 * With the defaults (size 'default', seed 1234, 8 + 1 cases) the voxels equal the official fixture inputs.
 */
import { GenerateTaskOptions, SynthLungSize, generateTask } from './synthetic_lung';

const USAGE =
  'usage: ts-node data-scripts/generate_synthetic_lung.ts --out DIR [--n-train N] [--n-test N] ' +
  '[--size small|default|quickstart] [--seed S] [--name TaskXX_Name]';

export function parseArgs(argv: string[]): { out: string; opts: GenerateTaskOptions } {
  let out: string | undefined;
  const opts: GenerateTaskOptions = {};
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer, got '${v}'\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--out':
        if (!v) throw new Error(`--out needs a folder\n${USAGE}`);
        out = v;
        i++;
        break;
      case '--n-train':
        opts.numTraining = int(a, v);
        i++;
        break;
      case '--n-test':
        opts.numTest = int(a, v);
        i++;
        break;
      case '--seed':
        opts.seed = int(a, v);
        i++;
        break;
      case '--size':
        if (v !== 'small' && v !== 'default' && v !== 'quickstart') throw new Error(`--size must be 'small', 'default' or 'quickstart', got '${v}'\n${USAGE}`);
        opts.size = v as SynthLungSize;
        i++;
        break;
      case '--test-labels':
        opts.testLabels = true;
        break;
      case '--name':
        if (!v) throw new Error(`--name needs a task folder name\n${USAGE}`);
        opts.taskName = v;
        i++;
        break;
      case '-h':
      case '--help':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument '${a}'\n${USAGE}`);
    }
  }
  if (!out) throw new Error(`--out is required\n${USAGE}`);
  return { out, opts };
}

export async function main(argv: string[]): Promise<string> {
  const { out, opts } = parseArgs(argv);
  const t0 = Date.now();
  const dir = await generateTask(out, opts);
  process.stdout.write(`wrote ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  return dir;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`generate_synthetic_lung: ${e.message}\n`);
    process.exit(1);
  });
}
