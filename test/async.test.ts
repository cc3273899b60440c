// Async forms run off the main thread: the event loop keeps turning while they compute.
import { describe, expect, it } from 'vitest';

import { add, addAsync } from '../lib/ops/elementwise';
import { Tensor } from '../lib/tensor';
import { sameBytes } from './helpers';

const n = 1 << 22; // 16 MiB per operand: each call takes milliseconds
const a = Tensor.randn([n], { seed: 1 });
const b = Tensor.randn([n], { seed: 2 });

async function ticksDuring(work: () => Promise<void>): Promise<{ ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(timer);
  return { ticks, ms };
}

describe('async ops', () => {
  it('resolve with the same values as the sync form', async () => {
    expect(sameBytes((await addAsync(a, b)).data, add(a, b).data)).toBe(true);
  });

  it('leave the event loop responsive, unlike the sync form', async () => {
    const rounds = 30;
    const sync = await ticksDuring(async () => {
      for (let i = 0; i < rounds; i++) add(a, b);
    });
    const asyncRun = await ticksDuring(async () => {
      for (let i = 0; i < rounds; i++) await addAsync(a, b);
    });
    // The sync loop never yields, so the interval cannot fire inside it.
    expect(sync.ticks).toBe(0);
    // Async: the interval keeps firing while the work runs (one tick per round at the very least).
    expect(asyncRun.ticks).toBeGreaterThanOrEqual(rounds);
  });

  it('reject with the native error message', async () => {
    const bad = Tensor.zeros([3]) as unknown as Tensor<'f32'>;
    await expect(addAsync(a, bad)).rejects.toThrow(/same shape/);
  });
});
