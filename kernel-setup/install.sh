#!/usr/bin/env bash
# One command to run nnunet-ts notebooks: installs Jupyter (Debian packages on Debian/Ubuntu; prints what to do
# elsewhere), registers the tslab TypeScript kernel (and tslab's JavaScript kernel, jslab) for THIS project only,
# and builds the SDK so notebooks can `import { ... } from "nnunet-ts"`.
#
#   kernel-setup/install.sh [--python=/usr/bin/python3] [--no-apt] [--no-chromium]
#
# - Kernel specs go to the per-project prefix .jupyter/ (git-ignored); nothing is written to ~/.local, /usr/local
#   or the user's Jupyter config. Jupyter finds them through JUPYTER_PATH=.jupyter/share/jupyter, which open.sh and
#   run_notebooks.py set. kernel.json holds absolute paths, so it is generated here and never committed.
# - Idempotent: a second run checks and changes nothing (no apt call when the packages are present, the kernel
#   spec is rewritten only if it points elsewhere, and the SDK build is incremental).
# - --python: the Python that has Jupyter. Debian's /usr/bin/python3 by default (a pyenv/conda `python3` on PATH
#   usually has no jupyter_client and tslab's installer then fails with "jupyter is not installed in this Python").
# - chromium is for headless PNG export of figures (sdk/viz toPNG); --no-chromium skips it.
# Requires: `npm ci` done (node_modules/.bin/tslab from package.json).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY=""
APT=1
CHROMIUM=1
for arg in "$@"; do
  case "$arg" in
    --python=*) PY="${arg#--python=}" ;;
    --no-apt) APT=0 ;;
    --no-chromium) CHROMIUM=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$PY" ]; then
  if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY="$(command -v python3 || true)"; fi
fi

# --- 1. system packages -------------------------------------------------------------------------------------------
PKGS=(jupyter-notebook python3-nbclient jupyter-nbconvert python3-ipykernel)
[ "$CHROMIUM" = 1 ] && PKGS+=(chromium)
if [ "$APT" = 1 ]; then
  if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${PKGS[@]}"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
      echo "install.sh: Debian packages present: ${PKGS[*]}"
    elif [ "$(id -u)" = 0 ]; then
      echo "install.sh: installing ${missing[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "install.sh: missing Debian packages; run as root:" >&2
      echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
      echo "then rerun kernel-setup/install.sh" >&2
      exit 1
    fi
  else
    cat <<MSG
install.sh: no apt-get/dpkg here (not Debian/Ubuntu); install these yourself, then rerun with --no-apt:
  - Jupyter for some python:  python3 -m pip install notebook nbclient nbconvert ipykernel
    and pass that python:     kernel-setup/install.sh --no-apt --python=\$(command -v python3)
  - Chrome or Chromium for PNG export of figures; if it is not /usr/bin/chromium set NNUNET_CHROMIUM=/path/to/chrome
MSG
    APT=0
  fi
fi

# --- 2. the Python side ---------------------------------------------------------------------------------------------
if [ -z "$PY" ] || ! "$PY" -c 'import jupyter_client, nbclient, nbformat, nbconvert, IPython' 2>/dev/null; then
  echo "install.sh: '${PY:-python3}' cannot import jupyter_client/nbclient/nbformat/nbconvert/IPython;" >&2
  echo "  install Jupyter for it (see above) or pass --python=/path/to/python-with-jupyter" >&2
  exit 1
fi
if [ "$CHROMIUM" = 1 ] && [ ! -x "${NNUNET_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "install.sh: note: no Chromium at ${NNUNET_CHROMIUM:-/usr/bin/chromium}; toPNG() will fail until one is installed" >&2
fi

# --- 3. the tslab kernel, registered in .jupyter/ only ----------------------------------------------------------------
if [ ! -x node_modules/.bin/tslab ]; then
  echo "install.sh: node_modules/.bin/tslab is missing; run 'npm ci' in $ROOT first" >&2
  exit 1
fi
WRAPPER="$ROOT/kernel-setup/tslab_kernel.sh"
KDIR="$ROOT/.jupyter/share/jupyter/kernels"
current="$("$PY" - "$KDIR" <<'PYEOF' 2>/dev/null || true
import json, sys
try:
    print(json.load(open(sys.argv[1] + "/tslab/kernel.json"))["argv"][0] + "|" + json.load(open(sys.argv[1] + "/jslab/kernel.json"))["argv"][0])
except Exception:
    print("")
PYEOF
)"
if [ "$current" = "$WRAPPER|$WRAPPER" ]; then
  echo "install.sh: tslab + jslab kernels already registered in .jupyter/"
else
  node_modules/.bin/tslab install --python="$PY" --binary="$WRAPPER" --prefix="$ROOT/.jupyter"
fi

# --- 4. the SDK as a package ------------------------------------------------------------------------------------------
kernel-setup/build_sdk.sh

cat <<MSG
install.sh: done. Kernels: $(ls "$KDIR" | tr '\n' ' ')(in $KDIR)
  open Jupyter on notebooks/:   kernel-setup/open.sh
  run every notebook headless:  $PY kernel-setup/run_notebooks.py
  in your own shell:            export JUPYTER_PATH="$ROOT/.jupyter/share/jupyter"
MSG
