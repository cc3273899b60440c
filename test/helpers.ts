/** Shared test helpers: running every kernel level and thread count, and child processes. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { expect } from 'vitest';

import { binding, type IsaLevel } from '../lib/native';
import { Tensor } from '../lib/tensor';

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

/**
 * Element-wise closeness as numpy's allclose with atol = rtol = tol: |got - want| <= tol + tol |want| everywhere, and the
 * same length (`what` names the comparison in the failure).
 */
export function expectAllClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 1e-5): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) - tol * Math.abs(want[i]));
  expect(worst, what).toBeLessThan(tol);
}

/** Bitwise equality of two typed arrays (fast, unlike toEqual on millions of elements). */
/** What `fn` throws, as "ErrorClass: message" ("no error" when it returns): compares two paths' errors. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  return 'no error';
}

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

type OutResult = Tensor<'f32'> | { out: Tensor<'f32'> };

/**
 * opts.out: `run(out)` with an out of `shape` prefilled with NaN (a kernel that skips or accumulates into an element
 * leaves NaN there) must return that very tensor (as the result, or its `out` field) with the bits of `run()` (a
 * fresh output); the other tensors of a result object (lse, buckets) must be the same too. Twice: on a reused out.
 */
export async function expectOutReuse(
  label: string,
  shape: readonly number[],
  run: (out?: Tensor<'f32'>) => OutResult | Promise<OutResult>,
): Promise<void> {
  const outOf = (r: OutResult) => (r instanceof Tensor ? r : r.out);
  const fresh = await run();
  const out = Tensor.full(shape, NaN);
  for (let round = 0; round < 2; round++) {
    const got = await run(out);
    const extras = fresh instanceof Tensor ? [] : Object.keys(fresh).filter((key) => key !== 'out');
    const sameExtras = extras.every((key) => {
      const a = (fresh as Record<string, unknown>)[key];
      const b = (got as Record<string, unknown>)[key];
      return a instanceof Tensor && b instanceof Tensor ? sameBytes(a.data, b.data) : a === b;
    });
    expect([label, round, outOf(got) === out, sameBytes(out.data, outOf(fresh).data), sameExtras]).toEqual([label, round, true, true, true]);
  }
}

/**
 * opts.out errors: a wrong shape (RangeError naming opts.out and the result's shape), a wrong dtype (TypeError), and,
 * for each of `inputs`, an f32 out over the same memory as a copy of that input (RangeError: must not share memory).
 * `run(out, x)` calls the op with the given out and the inputs `x` (`inputs` with one of them replaced).
 */
export function expectOutErrors(
  shape: readonly number[],
  inputs: Record<string, Tensor>,
  run: (out: Tensor, x: Record<string, Tensor>) => unknown,
): void {
  const wrong = [...shape];
  wrong[wrong.length - 1] += 1;
  const message = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return `${(e as Error).constructor.name}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  expect(message(() => run(Tensor.zeros(wrong), inputs))).toMatch(
    new RegExp(`^RangeError: opts\\.out must have shape \\[${shape.join(', ')}\\] \\(the result's\\)`),
  );
  expect(message(() => run(Tensor.zeros(shape, 'i32'), inputs))).toMatch(/^TypeError: opts\.out must have dtype f32/);
  const n = shape.reduce((a, b) => a * b, 1);
  for (const [name, t] of Object.entries(inputs)) {
    const buffer = new ArrayBuffer(Math.max(n * 4, t.nbytes));
    const Ctor = t.data.constructor as new (b: ArrayBuffer, offset: number, length: number) => typeof t.data;
    const copy = new Ctor(buffer, 0, t.data.length);
    new Uint8Array(buffer, 0, t.nbytes).set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.nbytes));
    const out = new Tensor(new Float32Array(buffer, 0, n), shape, 'f32');
    expect([name, message(() => run(out, { ...inputs, [name]: new Tensor(copy, t.shape, t.dtype) }))]).toEqual([
      name,
      'RangeError: opts.out must not share memory with an input',
    ]);
  }
}
