// Every TypeScript example in the README runs as written (against the compiled package in dist/).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

import { root, runNode } from './helpers';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
const work = mkdtempSync(join(tmpdir(), 'turboformer-readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * The example as CommonJS: imports of 'turboformer' become a require of dist/, the body an async function,
 * and TypeScript syntax is stripped by the compiler.
 */
function toScript(code: string): string {
  const dist = JSON.stringify(join(root, 'dist', 'index.js'));
  const body = code.replace(/import\s*\{([^}]*)\}\s*from\s*'turboformer';/g, (_m, names: string) => {
    const plain = names.split(',').map((n) => n.trim()).filter((n) => n && !n.startsWith('type '));
    return `const { ${plain.join(', ')} } = require(${dist});`;
  });
  const script = `process.chdir(${JSON.stringify(work)});\n(async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1); });`;
  return ts.transpileModule(script, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS } }).outputText;
}

describe('README examples', () => {
  it('has examples to run', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });
  blocks.forEach((code, i) => {
    const first = code.split('\n').find((l) => l.trim() && !l.startsWith('import')) ?? '';
    it(`example ${i + 1} runs: ${first.slice(0, 60)}`, () => {
      const r = runNode(toScript(code));
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    });
  });
});
