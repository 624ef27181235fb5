#!/usr/bin/env bash
# Makes `import { ... } from "nnunet-ts"` work in notebooks exactly as for a user who installed the package:
#  1. compiles sdk/ to dist/sdk (package.json "main": dist/sdk/index.js, "types": dist/sdk/index.d.ts);
#     incremental, so a second run with unchanged sources rewrites nothing;
#  2. self-links node_modules/nnunet-ts -> .. (the repo root), so Node and tslab's TypeScript resolve the package
#     by name from any folder of the repo. `npm ci` removes the link; every entry point re-creates it.
# Usage: kernel-setup/build_sdk.sh            (called by install.sh, open.sh and run_notebooks.py)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ ! -x node_modules/.bin/tsc ]; then
  echo "build_sdk.sh: node_modules/.bin/tsc is missing; run 'npm ci' in $ROOT first" >&2
  exit 1
fi
# tsc emits even with type errors (noEmitOnError is off); `npm run typecheck` is the gate for those, so a type
# error elsewhere in sdk/ is reported here but does not stop notebooks from running on the emitted JS.
if ! node_modules/.bin/tsc -p kernel-setup/tsconfig.sdk.json; then
  echo "build_sdk.sh: WARNING: tsc reported type errors in sdk/ (above); dist/ was emitted anyway" >&2
fi
if [ ! -f dist/sdk/index.js ]; then
  echo "build_sdk.sh: dist/sdk/index.js was not produced" >&2
  exit 1
fi
link=node_modules/nnunet-ts
if [ -L "$link" ]; then
  if [ "$(readlink "$link")" != ".." ]; then
    echo "build_sdk.sh: $ROOT/$link is a link to $(readlink "$link"), expected '..'; remove it and rerun" >&2
    exit 1
  fi
elif [ -e "$link" ]; then
  echo "build_sdk.sh: $ROOT/$link exists and is not the self-link; remove it and rerun" >&2
  exit 1
else
  ln -s .. "$link"
  echo "build_sdk.sh: linked $link -> .. (require('nnunet-ts') resolves to dist/sdk/index.js)"
fi
