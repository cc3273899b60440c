#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (build-asan/, CPU only) and runs the boundary fuzzer against it, so
# that out-of-bounds reads and writes that do not crash are caught too. Needs gcc's libasan.
#   bash scripts/fuzz/asan.sh [first-seed] [last-seed] [fuzz.mjs options...]
#   bash scripts/fuzz/asan.sh 1 20 --isa scalar
set -euo pipefail
cd "$(dirname "$0")/../.."
first=${1:-1}
last=${2:-10}
shift $(( $# > 2 ? 2 : $# ))
cmd=build
[ -f build-asan/CMakeCache.txt ] || cmd=rebuild
node node_modules/cmake-js/bin/cmake-js "$cmd" --log-level warn --out build-asan --CDTURBOFORMER_CUDA=OFF \
  "--CDCMAKE_CXX_FLAGS=-fsanitize=address -fno-omit-frame-pointer -g" \
  "--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address" --parallel "${TURBOFORMER_BUILD_JOBS:-$(nproc)}"
[ -f dist/native.js ] || npm run build:ts
export TURBOFORMER_ADDON="$PWD/build-asan/Release/turboformer.node"
LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export LD_PRELOAD
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
failed=0
for seed in $(seq "$first" "$last"); do
  if ! node scripts/fuzz/fuzz.mjs --seed "$seed" --iterations "${FUZZ_ITERATIONS:-5000}" "$@" > "build-asan/fuzz-$seed.log" 2>&1; then
    echo "seed $seed failed: $(grep -m1 -E 'ERROR: AddressSanitizer|FAIL' "build-asan/fuzz-$seed.log" || tail -1 "build-asan/fuzz-$seed.log")"
    echo "  rerun with --verbose to name the call: node scripts/fuzz/fuzz.mjs --seed $seed --verbose $*"
    failed=1
  fi
done
[ "$failed" = 0 ] && echo "seeds $first..$last: no crash, no AddressSanitizer report"
exit "$failed"
