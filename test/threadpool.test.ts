// The addon's own pool: results independent of the thread count, concurrent async callers, resizing.
import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { add, addAsync } from '../lib/ops/elementwise';
import { Tensor } from '../lib/tensor';
import { sameBytes, withThreads } from './helpers';

describe('thread pool', () => {
  const n = (1 << 20) + 13;
  const a = Tensor.randn([n], { seed: 11 });
  const b = Tensor.randn([n], { seed: 12 });

  it('gives the same results with 1, 2, 3 and 8 threads', () => {
    const one = withThreads(1, () => ({ sum: add(a, b).data, half: a.to('f16').data }));
    for (const t of [2, 3, 8]) {
      withThreads(t, () => {
        expect(sameBytes(add(a, b).data, one.sum)).toBe(true);
        expect(sameBytes(a.to('f16').data, one.half)).toBe(true);
      });
    }
  });

  it('serves many concurrent async callers correctly', async () => {
    const expected = add(a, b).data;
    const results = await Promise.all(Array.from({ length: 24 }, () => addAsync(a, b)));
    for (const r of results) expect(sameBytes(r.data, expected)).toBe(true);
  });

  it('can be resized repeatedly, including while async work is queued', async () => {
    const expected = add(a, b).data;
    const pending = [addAsync(a, b), addAsync(a, b)];
    for (const t of [1, 4, 2, 7, 1, 2]) binding.setNumThreads(t);
    for (const r of await Promise.all(pending)) expect(sameBytes(r.data, expected)).toBe(true);
    binding.setNumThreads(binding.info().threads.hardware);
  });
});
