// The `turboformer` command (dist/cli.js): info, the self-check that `npm start` runs, and bad usage.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { root } from './helpers';

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8', timeout: 120_000 });

describe('cli', () => {
  it('`turboformer info` prints the features, level, threads, build and CUDA status', () => {
    const r = cli('info');
    expect(r.status).toBe(0);
    for (const label of ['CPU features', 'kernel level', 'threads', 'build', 'CUDA']) expect(r.stdout).toContain(label);
  });

  it('`turboformer info --json` prints info() as JSON', () => {
    const r = cli('info', '--json');
    expect(JSON.parse(r.stdout).isa.supported).toContain('scalar');
  });

  it('with no command prints info and a passing self-check (what npm start runs)', () => {
    const r = cli();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kernel level');
    expect(r.stdout).toMatch(/all \d+ checks passed/);
    expect(r.stdout).not.toContain('FAIL');
  });

  it('an unknown command exits 2 with a hint', () => {
    const r = cli('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});
