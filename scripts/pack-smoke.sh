#!/usr/bin/env bash
# Packaging proof: `npm pack` (its prepack compiles the TypeScript and builds the prebuild), then install
# the tarball into a fresh folder with no compiler on PATH and run a smoke test there. Nothing may compile:
# the PATH holds only node, npm and a shell, and the installed package must contain no build/ folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/turboformer-pack.XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$root"
rm -f turboformer-*.tgz
npm pack --silent >"$work/pack.log"
tarball="$root/$(tail -n 1 "$work/pack.log")"
echo "packed: $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB)"
listing="$(tar -tzf "$tarball")"
grep -q '^package/prebuilds/.*\.node$' <<<"$listing" || { echo "the tarball has no prebuilt binary" >&2; exit 1; }
grep -q '^package/dist/index.d.ts$' <<<"$listing" || { echo "the tarball has no type declarations" >&2; exit 1; }

# A PATH with only node, npm (and npx) and a POSIX shell: no cc, c++, make, python, cmake.
bin="$work/bin"
mkdir -p "$bin"
ln -s "$(command -v node)" "$bin/node"
ln -s "$(command -v sh)" "$bin/sh"
npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
printf '#!%s\nexec "%s" "%s" "$@"\n' "$(command -v sh)" "$(command -v node)" "$npm_cli" >"$bin/npm"
chmod +x "$bin/npm"
for tool in cc gcc g++ c++ make python3 cmake; do
  if PATH="$bin" command -v "$tool" >/dev/null 2>&1; then echo "PATH still has $tool" >&2; exit 1; fi
done

app="$work/app"
mkdir -p "$app"
cd "$app"
printf '{"name":"smoke-app","version":"1.0.0","private":true}\n' >package.json
env -i HOME="$work" PATH="$bin" npm_config_cache="$work/npm-cache" npm_config_update_notifier=false \
  npm install --no-audit --no-fund --offline "$tarball" >"$work/install.log" 2>&1 ||
  env -i HOME="$work" PATH="$bin" npm_config_cache="$work/npm-cache" npm_config_update_notifier=false \
    npm install --no-audit --no-fund "$tarball" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
[ ! -d node_modules/turboformer/build ] || { echo "installing compiled something (build/ exists)" >&2; exit 1; }

cat >smoke.cjs <<'JS'
const tf = require('turboformer');
const a = tf.Tensor.from([1, 2, 3], [3]);
const sum = tf.ops.add(a, a);
if (Array.from(sum.data).join() !== '2,4,6') throw new Error('wrong sum ' + Array.from(sum.data));
const i = tf.info();
console.log(`require: ok (${i.isa.active}, ${i.threads.count} threads, ${i.build.system}, cuda compiled: ${i.cuda.compiled})`);
tf.ops.addAsync(a, a).then((r) => console.log('async: ' + Array.from(r.data).join(',')));
JS
cat >smoke.mjs <<'JS'
import tf, { Tensor, ops } from 'turboformer';
const h = Tensor.from([1.5, -2], [2]).to('f16');
if (Array.from(h.to('f32').data).join() !== '1.5,-2') throw new Error('f16 round trip');
console.log(`import: ok (default export ${typeof tf.ops.add}, named ${typeof ops.add})`);
JS
cat >smoke.ts <<'TS'
import { Tensor, ops, info, type DType } from 'turboformer';
const t: Tensor<'f32'> = Tensor.randn([2, 2], { seed: 1 });
const d: DType = ops.add(t, t).dtype;
const level: string = info().isa.active;
export { d, level };
TS
printf '{"compilerOptions":{"strict":true,"module":"Node16","moduleResolution":"Node16","noEmit":true,"types":[],"lib":["ES2022","ESNext.Disposable"]},"files":["smoke.ts"]}\n' >tsconfig.json
env -i HOME="$work" PATH="$bin" node smoke.cjs
env -i HOME="$work" PATH="$bin" node smoke.mjs
node "$root/node_modules/typescript/bin/tsc" -p tsconfig.json
echo "types: ok (a strict TypeScript consumer without @types/node compiles)"
env -i HOME="$work" PATH="$bin" node node_modules/turboformer/dist/cli.js info | head -3
echo "packaging proof passed"
