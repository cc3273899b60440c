#!/usr/bin/env bash
# Proves the node-gyp fallback build (what node-gyp-build compiles when no prebuild matches): builds
# binding.gyp in a scratch copy of the sources, loads the result through TURBOFORMER_ADDON and runs the
# self-check with it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/turboformer-gyp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$root/native" "$root/binding.gyp" "$root/package.json" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
nodedir="$(dirname "$(dirname "$(command -v node)")")"
cd "$work"
jobs="${TURBOFORMER_BUILD_JOBS:-$(node -p 'require("os").availableParallelism()')}"
# The node-gyp that npm bundles (what `npm install` uses for the fallback build).
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
node "$gyp" rebuild --nodedir="$nodedir" --jobs="$jobs" >"$work/gyp.log" 2>&1 || { tail -50 "$work/gyp.log"; exit 1; }
addon="$work/build/Release/turboformer.node"
TURBOFORMER_ADDON="$addon" node -e "const i=require('$root/dist/runtime.js').info(); if (i.build.system !== 'node-gyp') throw new Error('loaded ' + i.build.system); console.log('node-gyp build loaded: ' + i.build.compiler + ', ' + i.build.type)"
TURBOFORMER_ADDON="$addon" node "$root/dist/cli.js" selfcheck
echo "node-gyp fallback build passed"
