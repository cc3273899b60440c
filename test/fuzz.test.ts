// Boundary fuzzing: real calls recorded from this suite (test/fixtures/fuzz/corpus.json, rebuilt by
// scripts/fuzz/record.mjs), mutated at random (shapes, dtypes, contents, option values, argument lists) by
// scripts/fuzz/fuzz.mjs in a child process. Every mutated call must return or throw an Error with a
// message: a crash, an abort or a hang kills the child, and its last line names the call.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';

const root = join(__dirname, '..');
const script = join(root, 'scripts', 'fuzz', 'fuzz.mjs');
const corpus = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'fuzz', 'corpus.json'), 'utf8')) as Record<string, unknown[]>;

function fuzz(seed: number, iterations: number, extra: string[]) {
  const r = spawnSync(process.execPath, [script, '--seed', String(seed), '--iterations', String(iterations), ...extra], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  const lines = (r.stdout ?? '').trim().split('\n');
  return { status: r.status, signal: r.signal, last: lines.slice(-3).join('\n'), stderr: (r.stderr ?? '').slice(-2000), stdout: r.stdout ?? '' };
}

describe('calls the fuzzer found crashing (fixed)', () => {
  it('causalConv1d with an empty sequence and a kernel of width 1 (was SIGFPE: a division by L + k - 1 = 0)', () => {
    const x = { data: new Float32Array(0), shape: [1, 1, 0], dtype: 'f32' as const };
    const w = { data: new Float32Array([2]), shape: [1, 1], dtype: 'f32' as const };
    const r = binding.causalConv1d(x, w);
    expect(r.out.shape).toEqual([1, 1, 0]);
    expect(r.state.shape).toEqual([1, 1, 0]);
  });
});

describe('boundary fuzzing of the raw binding', () => {
  it('the corpus covers the ops of the binding', () => {
    // every op family has recorded calls to mutate (a new op without tests would be missing here)
    for (const fn of ['add', 'matmul', 'linear', 'layerNorm', 'softmax', 'attention', 'blockSparseAttention', 'lshAttention', 'favorAttention', 'linformerAttention', 'selectiveScan', 'retention', 'wkv', 'tokenShift', 'qlinear', 'moe']) {
      expect(corpus[fn]?.length ?? 0, fn).toBeGreaterThan(0);
    }
  });

  const runs: [number, string[]][] = [
    [1, []],
    [2, ['--isa', 'scalar']],
    [3, ['--threads', '1']],
  ];
  for (const [seed, extra] of runs) {
    it(`seed ${seed} ${extra.join(' ')}: every mutated call returns or throws an Error`, () => {
      const r = fuzz(seed, 4000, extra);
      const context = `exit ${r.status} signal ${r.signal}; last lines:\n${r.last}\nstderr:\n${r.stderr}`;
      expect(r.signal, context).toBeNull();
      expect(r.status, context).toBe(0);
      expect(r.stdout).toMatch(/done 4000 calls, \d+ threw, 0 failures/);
    }, 150_000);
  }
});
