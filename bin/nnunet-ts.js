#!/usr/bin/env node
// nnunet-ts command line. Uses the compiled SDK (dist/) when built, else runs the TypeScript sources via ts-node.
const fs = require('fs');
const path = require('path');
const compiled = path.join(__dirname, '..', 'dist', 'sdk', 'cli', 'main.js');
if (fs.existsSync(compiled)) {
  require(compiled).cliMain(process.argv.slice(2));
} else {
  require('ts-node').register({ transpileOnly: true });
  require(path.join(__dirname, '..', 'sdk', 'cli', 'main.ts')).cliMain(process.argv.slice(2));
}
