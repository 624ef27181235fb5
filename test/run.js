#!/usr/bin/env node
// Runs the suite with node's test runner (TypeScript through ts-node, transpile-only: `npm test` type-checks first
// with tsc). `node test/run.js io planning` runs only files whose path contains a filter.
//
// Two suites:
// - the main suite (`npm test`): everything except test/reference/. Needs Node.js only; comparisons against the
//   committed official outputs (../shared/fixtures) are here.
// - the reference suite (`npm run test:reference` = `node test/run.js --reference`): test/reference/, the checks
//   against live Python / NumPy / nibabel / PyTorch / Jupyter / Chromium. Each file's first line says what it needs:
//   `// reference suite: <needs> -- <what it compares>`.
// The main suite ends by naming the reference suites it did not run and how to run them.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname);
const referenceDir = path.join(root, 'reference');
const SETUP =
  'sudo apt-get install -y python3-numpy python3-scipy python3-nibabel python3-skimage && ' +
  'sudo apt-get install -y --no-install-recommends python3-torch slurm-wlm munge libegl-mesa0 libgles2 && kernel-setup/install.sh && npm run test:reference';

function walk(dir, out = []) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** `// reference suite: <needs> -- <what>` from a reference test's first line. */
function describe(file) {
  const first = fs.readFileSync(file, 'utf8').split('\n', 1)[0];
  const m = /^\/\/ reference suite: (.*?) -- (.*)$/.exec(first);
  if (!m) throw new Error(`${path.relative(process.cwd(), file)}: first line must be '// reference suite: <needs> -- <what>'`);
  return { file: path.relative(path.dirname(root), file), needs: m[1], what: m[2] };
}

const args = process.argv.slice(2);
const reference = args.includes('--reference');
const filters = args.filter((a) => a !== '--reference');
const all = walk(root);
const referenceFiles = all.filter((f) => f.startsWith(referenceDir + path.sep));
const suiteFiles = reference ? referenceFiles : all.filter((f) => !referenceFiles.includes(f));
const selected = filters.length ? suiteFiles.filter((f) => filters.some((x) => f.includes(x))) : suiteFiles;
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const described = referenceFiles.map(describe); // validates the header lines in both suites
const r = spawnSync(
  process.execPath,
  ['--require', 'ts-node/register/transpile-only', '--test', '--test-reporter=spec', ...selected],
  { stdio: 'inherit', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } },
);
const status = r.status === null ? 1 : r.status;
if (!reference) {
  console.log(`\nnot run by npm test: ${described.length} reference suites (live Python, PyTorch, Jupyter, Chromium):`);
  for (const d of described) console.log(`  ${d.file}  [${d.needs}]  ${d.what}`);
  console.log(`run them with: ${SETUP}`);
}
console.log(
  `${reference ? 'npm run test:reference' : 'npm test'}: ${status === 0 ? 'PASS' : 'FAIL'} (${selected.length} test files${filters.length ? `, filtered by ${filters.join(' ')}` : ''})`,
);
process.exit(status);
