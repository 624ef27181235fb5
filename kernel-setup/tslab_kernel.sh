#!/bin/sh
# argv[0] of the project's tslab/jslab kernel.json (written by install.sh into .jupyter/, never committed).
# Runs this project's tslab with the repo root as working directory, so a notebook sees the same relative paths
# whether Jupyter (open.sh, which starts kernels in notebooks/) or run_notebooks.py started it.
ROOT="$(cd "$(dirname "$0")/.." && pwd)" || exit 1
cd "$ROOT" || exit 1
exec "$ROOT/node_modules/.bin/tslab" "$@"
