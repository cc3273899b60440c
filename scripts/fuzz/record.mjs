#!/usr/bin/env node
// Rebuilds the boundary fuzzer's corpus (test/fixtures/fuzz/corpus.json): runs the test suite with every raw
// binding function wrapped, keeps up to 24 structurally different calls per function (small tensors only),
// and merges them. Run after adding ops or options:  npm run build && node scripts/fuzz/record.mjs
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tf-fuzz-record-'));
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', '--config', 'scripts/fuzz/vitest.record.config.ts', '--exclude', 'test/fuzz.test.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TURBOFORMER_FUZZ_RECORD: dir },
});
if (r.status !== 0) console.warn(`the test run exited with ${r.status}; keeping what was recorded`);
const PER_FN = 24;
// Round-robin over the test processes, so that every test file that calls a function contributes.
const perFile = readdirSync(dir).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
const merged = {};
for (let i = 0; i < PER_FN; ++i) {
  for (const calls of perFile) {
    for (const [name, list] of Object.entries(calls)) {
      const into = (merged[name] ??= []);
      if (i < list.length && into.length < PER_FN) into.push(list[i]);
    }
  }
}
rmSync(dir, { recursive: true, force: true });
const out = join(root, 'test', 'fixtures', 'fuzz', 'corpus.json');
mkdirSync(dirname(out), { recursive: true });
const sorted = Object.fromEntries(Object.keys(merged).sort().map((k) => [k, merged[k]]));
writeFileSync(out, JSON.stringify(sorted));
const counts = Object.entries(sorted).map(([k, v]) => `${k} ${v.length}`);
console.log(`wrote ${out}: ${counts.length} functions (${counts.join(', ')})`);
