// vitest setup file used only by `node scripts/fuzz/record.mjs`: wraps every function of the raw binding so
// that the arguments of the calls the test suite makes are written to a corpus (one JSON file per test
// process, merged by record.mjs). The boundary fuzzer (test/fuzz.test.ts) mutates these real calls.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll } from 'vitest';

import { binding } from '../../lib/native';
import { encodeValue, signature } from './codec.mjs';

const outDir = process.env.TURBOFORMER_FUZZ_RECORD;
if (!outDir) throw new Error('TURBOFORMER_FUZZ_RECORD must name the folder for the recorded calls');
const SKIP = new Set(['info', 'getNumThreads', 'memoryStats', 'alloc', 'detach', 'mapFile', 'peakProbe', 'bandwidthProbe', 'expProbe', 'cudaAdd']);
const PER_FN = 24;
const calls: Record<string, unknown[]> = {};
const seen = new Set<string>();
const b = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
for (const name of Object.keys(b)) {
  const fn = b[name];
  if (typeof fn !== 'function' || SKIP.has(name) || name.endsWith('Async')) continue;
  b[name] = function recorded(...args: unknown[]) {
    const list = (calls[name] ??= []);
    if (list.length < PER_FN) {
      const enc = encodeValue(args, 64 * 1024);
      if (enc !== undefined) {
        const sig = `${name}:${signature(args)}`;
        if (!seen.has(sig)) {
          seen.add(sig);
          list.push(enc);
        }
      }
    }
    return fn.apply(this, args);
  };
}
// After each test file (its forked process may be ended without an 'exit' event).
afterAll(() => {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `calls-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.json`), JSON.stringify(calls));
});
