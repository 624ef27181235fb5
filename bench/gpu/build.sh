#!/usr/bin/env bash
# Builds bench/gpu/dist/ (git-ignored), everything the GPU check needs on a machine without Node.js or node_modules:
#   node.xz          this machine's Node.js binary (v20), xz -9
#   check.js         one esbuild bundle of bench/gpu/check.ts (tfjs, tfjs-backend-webgpu, tfjs-backend-cpu and the
#                    project code; the optional tfjs-node*, the wasm backend and the `webgpu` package stay out)
#   dawn.node.xz     Dawn for Node (npm `webgpu`, dist/linux-x64/dawn.node), loaded by path via NNUNET_DAWN_NODE
#   libvulkan.so.1   the Vulkan loader from Debian's libvulkan1, used only where the GPU machine has none
#   manifest.txt     versions and checksums
# Idempotent: the xz files are remade only when their source changed. Prints the sizes and fails above 60 MiB.
# Usage (repo root or anywhere): bash bench/gpu/build.sh; then carry bench/gpu/dist to the GPU machine and run
# bash bench/gpu/run.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=bench/gpu/dist
mkdir -p "$D"
LIMIT=$((60 * 1024 * 1024))

# ---- node binary (stamp: path, size, mtime, version)
NODE_SRC=$(readlink -f "${NODE_BIN:-$(command -v node)}")
node_stamp="$NODE_SRC $(stat -c '%s %Y' "$NODE_SRC") $("$NODE_SRC" --version)"
if [[ ! -s $D/node.xz || "$(cat "$D/node.stamp" 2>/dev/null)" != "$node_stamp" ]]; then
  echo "compressing $NODE_SRC ($("$NODE_SRC" --version)) with xz -9 (a minute or two)..."
  xz -9 -T1 -c "$NODE_SRC" > "$D/node.xz.tmp" && mv "$D/node.xz.tmp" "$D/node.xz"
  echo "$node_stamp" > "$D/node.stamp"
fi

# ---- dawn.node
DAWN_SRC=$(readlink -f node_modules/webgpu/dist/linux-x64/dawn.node)
dawn_stamp="$DAWN_SRC $(stat -c '%s %Y' "$DAWN_SRC")"
if [[ ! -s $D/dawn.node.xz || "$(cat "$D/dawn.stamp" 2>/dev/null)" != "$dawn_stamp" ]]; then
  echo "compressing $DAWN_SRC with xz -9..."
  xz -9 -T1 -c "$DAWN_SRC" > "$D/dawn.node.xz.tmp" && mv "$D/dawn.node.xz.tmp" "$D/dawn.node.xz"
  echo "$dawn_stamp" > "$D/dawn.stamp"
fi

# ---- the Vulkan loader (Debian libvulkan1), only fetched once
if [[ ! -s $D/libvulkan.so.1 ]]; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && apt-get download libvulkan1 >/dev/null 2>&1); then
    dpkg-deb -x "$tmp"/libvulkan1_*.deb "$tmp/x"
    so=$(find "$tmp/x" -name 'libvulkan.so.1.*' -type f | head -1)
    cp "$so" "$D/libvulkan.so.1"
    echo "libvulkan.so.1 from $(basename "$tmp"/libvulkan1_*.deb) ($(basename "$so"))" > "$D/libvulkan.txt"
  else
    echo "WARNING: apt-get download libvulkan1 failed: dist/ has no Vulkan loader (run.sh then needs the GPU machine's own)"
  fi
  rm -rf "$tmp"
fi

# ---- the bundle (cheap: always rebuilt)
node_modules/.bin/esbuild bench/gpu/check.ts --bundle --platform=node --target=node20 --format=cjs \
  --outfile="$D/check.js" --log-level=error \
  --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:@tensorflow/tfjs-backend-wasm \
  --external:webgpu

{
  echo "built $(date -u +%FT%TZ) from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "node $("$NODE_SRC" --version) from $NODE_SRC"
  echo "webgpu (dawn.node) $(node -p "require('./node_modules/webgpu/package.json').version")"
  echo "tfjs $(node -p "require('./node_modules/@tensorflow/tfjs/package.json').version"), tfjs-backend-webgpu $(node -p "require('./node_modules/@tensorflow/tfjs-backend-webgpu/package.json').version")"
  [[ -f $D/libvulkan.txt ]] && cat "$D/libvulkan.txt"
  (cd "$D" && sha256sum check.js node.xz dawn.node.xz libvulkan.so.1 2>/dev/null)
} > "$D/manifest.txt"

total=0
echo "bench/gpu/dist:"
for f in node.xz dawn.node.xz check.js libvulkan.so.1; do
  [[ -f $D/$f ]] || continue
  s=$(stat -c %s "$D/$f")
  total=$((total + s))
  printf '  %-16s %6.1f MiB\n' "$f" "$(echo "$s / 1048576" | bc -l)"
done
printf '  %-16s %6.1f MiB (limit 60 MiB)\n' total "$(echo "$total / 1048576" | bc -l)"
if ((total > LIMIT)); then
  echo "ERROR: bench/gpu/dist is over 60 MiB"
  exit 1
fi
