#!/usr/bin/env node
// Runs the whole suite with node's test runner (TypeScript through ts-node, transpile-only: `npm test`
// type-checks first with tsc). `node test/run.js io planning` runs only files whose path contains a filter.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname);
const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.test.ts')) files.push(p);
  }
})(root);
files.sort();
const filters = process.argv.slice(2);
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--require', 'ts-node/register/transpile-only', '--test', '--test-reporter=spec', ...selected],
  { stdio: 'inherit', env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' } },
);
process.exit(r.status === null ? 1 : r.status);
