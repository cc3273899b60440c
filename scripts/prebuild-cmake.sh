#!/bin/sh
# prebuildify calls this in place of node-gyp (its --backend cmake-js flag is ignored); arguments are
# node-gyp's and are not needed: the cmake-js build writes build/Release/turboformer.node.
set -e
cd "$(dirname "$0")/.."
rm -rf build
exec node scripts/build-native.mjs
