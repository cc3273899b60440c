#!/usr/bin/env node
// Runs vitest, then prints one plain summary line `N passed, N failed, N skipped` for log readers.
// Arguments are passed to vitest (e.g. a file filter: `npm test -- tensor`).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.test-results');
const outFile = join(outDir, 'vitest.json');
mkdirSync(outDir, { recursive: true });
rmSync(outFile, { force: true });
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${outFile}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit', env: process.env },
);
let summary = 'no test results were written';
try {
  const j = JSON.parse(readFileSync(outFile, 'utf8'));
  const skipped = (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0);
  summary = `${j.numPassedTests} passed, ${j.numFailedTests} failed, ${skipped} skipped`;
  if (j.numFailedTestSuites) summary += ` (${j.numFailedTestSuites} test files failed to run)`;
} catch {
  // vitest crashed before writing its report; its own output above says why
}
console.log(summary);
process.exit(r.status ?? 1);
