#!/usr/bin/env bash
# The GPU check, as the lent GPU machine runs it (no Node.js, no node_modules, no network): from the repo root,
#   bash bench/gpu/run.sh [--quick] [--iters N]
# with bench/gpu/dist (bash bench/gpu/build.sh) carried along. It unpacks Node.js and dawn.node to a temp folder,
# supplies the Vulkan loader and NVIDIA's ICD when the machine lacks them in the standard places, runs the nnunet-ts
# side (dist/check.js on webgpu) and the PyTorch side (torch_step.py), then the ratio table (summary.py). Every figure
# goes to stdout; with $OUT set also $OUT/gpu_check.json (both sides merged) and $OUT/gpu_check.log (this whole log).
# Time limits (seconds) per side: GPU_CHECK_NODE_S (default 300, --quick 240), GPU_CHECK_TORCH_S (150, --quick 90).
# --quick: toy sizes for a CPU test run (software GL through Mesa, torch on the CPU): correctness only.
set -uo pipefail
cd "$(dirname "$0")/../.."
D=bench/gpu/dist
QUICK=0
for a in "$@"; do [[ $a == --quick ]] && QUICK=1; done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nnunet-gpu-check.XXXXXX")
LOG=$TMP/gpu_check.log
if [[ -n ${OUT:-} ]]; then mkdir -p "$OUT"; LOG=$OUT/gpu_check.log; fi
exec > >(tee "$LOG") 2>&1
NODE_S=${GPU_CHECK_NODE_S:-$([[ $QUICK == 1 ]] && echo 240 || echo 300)}
TORCH_S=${GPU_CHECK_TORCH_S:-$([[ $QUICK == 1 ]] && echo 90 || echo 150)}
echo "== nnunet-ts GPU check $(date -u +%FT%TZ) on ${HOSTNAME:-$(uname -n)} ($(nproc) cores)$([[ $QUICK == 1 ]] && echo ', QUICK')"
[[ -f $D/manifest.txt ]] && sed 's/^/  dist: /' "$D/manifest.txt" | head -6

# ---- Python: one with torch (plain python3 first, else the system's)
PY=python3
if ! "$PY" -c 'import torch' >/dev/null 2>&1; then PY=/usr/bin/python3; fi
"$PY" -c 'import torch' >/dev/null 2>&1 || echo "WARNING: no Python with torch found (tried python3, /usr/bin/python3)"

unxz_to() { # SRC DST
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1" > "$2"
  else
    "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"), 1 << 20)' "$1" "$2"
  fi
}
# time limits through coreutils' timeout where the machine has it
limit() { # SECONDS CMD...
  local s=$1
  shift
  if command -v timeout >/dev/null 2>&1; then timeout -k 10 "$s" "$@"; else "$@"; fi
}
t0=$(date +%s)
unxz_to "$D/node.xz" "$TMP/node" && chmod +x "$TMP/node"
unxz_to "$D/dawn.node.xz" "$TMP/dawn.node"
echo "unpacked node $("$TMP/node" --version 2>&1) and dawn.node in $(( $(date +%s) - t0 )) s to $TMP"

# ---- GPU, Vulkan loader and ICD
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
else
  echo "nvidia-smi: not found"
fi
echo "GPU device nodes: $(ls /dev/nvidia* /dev/dri/renderD* 2>/dev/null | tr '\n' ' ')"
[[ -n ${NVIDIA_DRIVER_CAPABILITIES:-} ]] && echo "NVIDIA_DRIVER_CAPABILITIES=$NVIDIA_DRIVER_CAPABILITIES (Vulkan needs 'graphics' or 'all')"
LDCONFIG=$(command -v ldconfig || ls /sbin/ldconfig /usr/sbin/ldconfig 2>/dev/null | head -1)
if [[ -n $LDCONFIG ]] && "$LDCONFIG" -p 2>/dev/null | grep -q 'libvulkan.so.1'; then
  echo "Vulkan loader: the machine's ($("$LDCONFIG" -p | grep -m1 'libvulkan.so.1' | sed 's/.*=> //'))"
elif [[ -f $D/libvulkan.so.1 ]]; then
  mkdir -p "$TMP/lib" && cp "$D/libvulkan.so.1" "$TMP/lib/"
  export LD_LIBRARY_PATH=$TMP/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "Vulkan loader: the bundled one ($(cat "$D/libvulkan.txt" 2>/dev/null || echo libvulkan.so.1)) on LD_LIBRARY_PATH"
else
  echo "Vulkan loader: none (neither the machine's nor bench/gpu/dist/libvulkan.so.1)"
fi
icds=$(ls /usr/local/etc/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | tr '\n' ' ')
if [[ -n ${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-} ]]; then
  echo "Vulkan ICD: from the environment (${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-})"
elif [[ -n $icds ]]; then
  echo "Vulkan ICD: $icds"
else
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
    if [[ -f $f ]]; then export VK_ICD_FILENAMES=$f VK_DRIVER_FILES=$f; break; fi
  done
  echo "Vulkan ICD: none in the standard places; VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-(none found)}"
fi
for f in ${VK_ICD_FILENAMES:-$icds}; do
  lib=$(grep -o '"library_path"[^,}]*' "$f" 2>/dev/null | sed 's/.*: *"//; s/"$//')
  [[ -n $lib ]] && echo "  $f -> $lib $([[ $lib == /* ]] && { [[ -e $lib ]] && echo '(present)' || echo '(MISSING)'; } || { [[ -n $LDCONFIG ]] && "$LDCONFIG" -p | grep -q "$lib" && echo '(found by ldconfig)' || echo "(not in ldconfig's cache: Vulkan starts only if LD_LIBRARY_PATH finds it)"; })"
done

# ---- nnunet-ts side (webgpu)
echo
echo "== nnunet-ts side: $TMP/node $D/check.js (time limit ${NODE_S} s)"
NNUNET_DAWN_NODE=$TMP/dawn.node NNUNET_BACKEND=webgpu limit "$((NODE_S + 30))" \
  "$TMP/node" "$D/check.js" "$@" --budget-s "$NODE_S" --json "$TMP/node.json"
rc_node=$?
echo "nnunet-ts side exit status $rc_node$([[ $rc_node == 124 || $rc_node == 137 ]] && echo ' (time limit: figures so far are kept)')"

# ---- PyTorch side
echo
echo "== PyTorch side: $PY bench/gpu/torch_step.py (time limit ${TORCH_S} s)"
limit "$((TORCH_S + 30))" "$PY" bench/gpu/torch_step.py "$@" --budget-s "$TORCH_S" --json "$TMP/torch.json"
rc_torch=$?
echo "PyTorch side exit status $rc_torch"

# ---- both sides: the ratio table and the merged JSON
"$PY" bench/gpu/summary.py "$TMP/node.json" "$TMP/torch.json" ${OUT:+"$OUT/gpu_check.json"}
echo "done in $(( $(date +%s) - t0 )) s"
rm -f "$TMP/node" "$TMP/dawn.node"
[[ $rc_node == 0 || $rc_torch == 0 ]]
