/** Shared test helpers: running every kernel level and thread count, and child processes. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { binding, type IsaLevel } from '../lib/native';

export const root = join(__dirname, '..');

/** Kernel levels this machine supports (scalar always), lowest first. */
export const levels: IsaLevel[] = binding.info().isa.supported;

/** Runs fn with the kernel level switched, restoring the automatic choice afterwards. */
export function withIsa<T>(level: IsaLevel, fn: () => T): T {
  binding.setIsa(level);
  try {
    return fn();
  } finally {
    binding.setIsa('auto');
  }
}

/** Runs fn with n pool threads, restoring the previous count afterwards. */
export function withThreads<T>(n: number, fn: () => T): T {
  const before = binding.getNumThreads();
  binding.setNumThreads(n);
  try {
    return fn();
  } finally {
    binding.setNumThreads(before);
  }
}

/** Runs a Node script (CommonJS, cwd = repository root) with extra environment; returns its output. */
export function runNode(code: string, env: Record<string, string | undefined> = {}, args: string[] = []) {
  const r = spawnSync(process.execPath, [...args, '-e', code], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Relative error ||out - ref|| / ||ref|| in float64. */
export function relError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Bitwise equality of two typed arrays (fast, unlike toEqual on millions of elements). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Attention output against an oracle: relative error of out, relative error of lse over the oracle's
 * finite entries, whether the oracle's -Infinity entries are exactly -Infinity, and whether out has no NaN.
 */
export function compareAttention(
  got: { out: { data: Float32Array }; lse: { data: Float32Array } },
  want: { out: ArrayLike<number>; lse: ArrayLike<number> },
) {
  const lf: number[] = [];
  const lw: number[] = [];
  let infOk = true;
  for (let i = 0; i < want.lse.length; i++) {
    if (want.lse[i] === -Infinity) infOk &&= got.lse.data[i] === -Infinity;
    else {
      lf.push(got.lse.data[i]);
      lw.push(want.lse[i]);
    }
  }
  const nanFree = got.out.data.every((x) => !Number.isNaN(x));
  return { out: relError(got.out.data, want.out), lse: relError(lf, lw), infOk, nanFree };
}
