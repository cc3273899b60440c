// What every benchmark script shares: the repository root, a require() for dist/ and the peers, loading
// the compiled package (with a clear message when it is not built), the command-line flags and seeded inputs.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const require = createRequire(import.meta.url);

/** Modules of the compiled package, e.g. `const [{ binding }, favor] = loadDist('native', 'ops/favor')`. */
export function loadDist(...names) {
  try {
    return names.map((n) => require(join(root, 'dist', `${n}.js`)));
  } catch (e) {
    console.error(`cannot load dist/ (${e.message.split('\n')[0]}): run \`npm run build\` first`);
    process.exit(1);
  }
}

export const args = process.argv.slice(2);
/** Whether a flag such as --quick is present. */
export const flag = (name) => args.includes(name);
/** The value after an option such as --threads, or the default. */
export const option = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};

/**
 * A seeded f32 input {data, shape, dtype}: uniform in [center - span/2, center + span/2) from a 32-bit LCG
 * (the same values for the same seed in every run, so suites and reruns compare like with like).
 */
export function randomTensor(shape, seed, span = 1, center = 0) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[i] = (x / 4294967296 - 0.5) * span + center;
  }
  return { data, shape, dtype: 'f32' };
}
