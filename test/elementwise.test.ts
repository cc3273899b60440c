import { describe, expect, it } from 'vitest';

import { add, addAsync } from '../lib/ops/elementwise';
import { Tensor } from '../lib/tensor';
import { levels, withIsa } from './helpers';

describe('add', () => {
  // Lengths around every SIMD width and the per-thread grain.
  const sizes = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 127, 129, 16383, 16384, 16385, 100_003];
  for (const level of levels) {
    it(`equals the float64 sum rounded to f32 for every length (${level})`, () => {
      withIsa(level, () => {
        for (const n of sizes) {
          const a = Tensor.randn([n], { seed: n });
          const b = Tensor.randn([n], { seed: n + 1 });
          const out = add(a, b).data;
          for (let i = 0; i < n; i++) {
            const want = Math.fround(a.data[i] + b.data[i]);
            if (out[i] !== want) expect([n, i, out[i]]).toEqual([n, i, want]);
          }
        }
      });
    });
  }

  it('keeps the shape, handles inf/nan, and the async form agrees', async () => {
    const a = Tensor.from([Infinity, -Infinity, NaN, 1, -0], [5, 1]);
    const b = Tensor.from([1, Infinity, 0, -1, -0], [5, 1]);
    const r = add(a, b);
    expect(r.shape).toEqual([5, 1]);
    expect(Array.from(r.data)).toEqual([Infinity, NaN, NaN, 0, -0]);
    expect(Array.from((await addAsync(a, b)).data)).toEqual(Array.from(r.data));
  });

  it('works on views at any byte offset (unaligned)', () => {
    const big = Tensor.randn([101], { seed: 3 });
    const a = big.slice(1, 100);
    const b = big.slice(2, 101);
    const out = add(a, b).data;
    for (let i = 0; i < 99; i++) expect(out[i]).toBe(Math.fround(big.data[i + 1] + big.data[i + 2]));
  });
});
