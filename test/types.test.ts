// The published type declarations (dist/*.d.ts) compile for a strict consumer that has neither Node's
// types nor the DOM's: nothing in the public API may lean on them.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { root, runNode } from './helpers';

const dir = mkdtempSync(join(tmpdir(), 'turboformer-types-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('type declarations', () => {
  it('compile under strict TypeScript with types: [] and no DOM lib', () => {
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'turboformer'));
    writeFileSync(
      join(dir, 'consumer.ts'),
      [
        "import { Tensor, ops, info, openSafetensors, QuantizedTensor, type DType } from 'turboformer';",
        "const t: Tensor<'f32'> = Tensor.randn([2, 2], { seed: 1 });",
        'const d: DType = ops.matmul(t, t).dtype;',
        'const level: string = info().isa.active;',
        'export { d, level, openSafetensors, QuantizedTensor };',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { strict: true, module: 'Node16', moduleResolution: 'Node16', noEmit: true, types: [], lib: ['ES2022', 'ESNext.Disposable'] },
        files: ['consumer.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = runNode(`process.argv.splice(1, 0, ${JSON.stringify(tsc)}); process.argv.push('-p', ${JSON.stringify(join(dir, 'tsconfig.json'))}); require(${JSON.stringify(tsc)})`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
