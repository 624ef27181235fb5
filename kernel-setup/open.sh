#!/usr/bin/env bash
# Opens Jupyter on notebooks/ with this project's tslab kernel (JUPYTER_PATH=.jupyter/share/jupyter) and a fresh SDK
# build. Extra arguments go to Jupyter, e.g. kernel-setup/open.sh --no-browser --ip=0.0.0.0 --port=8888
# Kernels start with the repo root as working directory (tslab_kernel.sh), as in run_notebooks.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${NNUNET_JUPYTER_PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY="$(command -v python3)"; fi
fi
if [ ! -f "$ROOT/.jupyter/share/jupyter/kernels/tslab/kernel.json" ]; then
  echo "open.sh: the tslab kernel is not registered; run kernel-setup/install.sh first" >&2
  exit 1
fi
"$ROOT/kernel-setup/build_sdk.sh"
export JUPYTER_PATH="$ROOT/.jupyter/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export PYDEVD_DISABLE_FILE_VALIDATION=1
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)  # containers run as root; Jupyter refuses that without the flag
exec "$PY" -m notebook --notebook-dir="$ROOT/notebooks" "${extra[@]}" "$@"
