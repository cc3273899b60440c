import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { layerNorm, layerNormAsync, rmsNorm, rmsNormAsync } from '../lib/ops/norm';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/norm';

const sizes = [1, 3, 7, 17, 31, 63, 65, 127, 129, 257, 1031];

/** Largest relative error of a row against the oracle (each row judged on its own). */
function worstRowError(out: Float32Array, want: Float64Array, n: number): number {
  let worst = 0;
  for (let r = 0; r * n < want.length; r++) {
    const e = relError(out.subarray(r * n, (r + 1) * n), want.subarray(r * n, (r + 1) * n));
    worst = Math.max(worst, e);
  }
  return worst;
}

describe('layerNorm', () => {
  for (const level of levels) {
    it(`matches float64 within 1e-5 per row, with and without weight/bias (${level})`, () => {
      withIsa(level, () => {
        for (const n of sizes) {
          const rows = n > 200 ? 3 : 5;
          const x = Tensor.randn([rows, n], { seed: n, mean: 0.5, std: 2 });
          const w = Tensor.randn([n], { seed: n + 1 });
          const b = Tensor.randn([n], { seed: n + 2 });
          for (const [wt, bt] of [[w, b], [w, null], [null, b], [null, null]] as const) {
            const out = layerNorm(x, wt, bt, 1e-5).data;
            const want = ref.layerNorm(x.data, n, wt?.data ?? null, bt?.data ?? null, 1e-5);
            if (n === 1 && !bt) {
              expect(Array.from(out, (v) => v + 0)).toEqual(Array.from(want)); // x - mean = 0 exactly (sign aside)
              continue;
            }
            expect([n, !!wt, !!bt, worstRowError(out, want, n) < 1e-5]).toEqual([n, !!wt, !!bt, true]);
          }
        }
      });
    });
  }

  it('stays accurate for rows with a large mean (1e3, 1e4) and tiny spread', () => {
    for (const level of levels) {
      withIsa(level, () => {
        for (const [mean, std] of [[1000, 1], [1e4, 1], [-3e4, 0.5], [100, 1e-3]]) {
          const n = 769;
          const x = Tensor.randn([4, n], { seed: 3, mean, std });
          const out = layerNorm(x, null, null, 1e-12).data;
          const want = ref.layerNorm(x.data, n, null, null, 1e-12);
          expect([level, mean, worstRowError(out, want, n) < 1e-5]).toEqual([level, mean, true]);
        }
      });
    }
  });

  it('uses eps as given (a constant row gives bias; BERT eps 1e-12)', () => {
    const x = Tensor.full([2, 8], 3);
    const b = Tensor.randn([8], { seed: 1 });
    expect(sameBytes(layerNorm(x, null, b).data.subarray(0, 8), b.data)).toBe(true);
    const y = Tensor.randn([3, 16], { seed: 2, std: 1e-4 });
    const big = layerNorm(y, null, null, 1).data;
    expect(relError(big, ref.layerNorm(y.data, 16, null, null, 1))).toBeLessThan(1e-5);
  });

  it('handles empty tensors and keeps the shape', () => {
    expect(layerNorm(Tensor.zeros([0, 5])).shape).toEqual([0, 5]);
    expect(layerNorm(Tensor.zeros([5, 0]), Tensor.zeros([0]), Tensor.zeros([0])).shape).toEqual([5, 0]);
    expect(layerNorm(Tensor.randn([2, 3, 4, 9], { seed: 1 })).shape).toEqual([2, 3, 4, 9]);
  });

  it('propagates NaN and inf within the row only', () => {
    const x = Tensor.from([1, NaN, 3, 1, 2, 3], [2, 3]);
    const out = Array.from(layerNorm(x).data);
    expect(out.slice(0, 3).every(Number.isNaN)).toBe(true);
    expect(out.slice(3).every(Number.isFinite)).toBe(true);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const x = Tensor.randn([301, 257], { seed: 5 });
    const w = Tensor.randn([257], { seed: 6 });
    const b = Tensor.randn([257], { seed: 7 });
    const one = withThreads(1, () => layerNorm(x, w, b));
    const three = withThreads(3, () => layerNorm(x, w, b));
    expect(sameBytes(one.data, three.data)).toBe(true);
    expect(sameBytes((await layerNormAsync(x, w, b)).data, one.data)).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([2, 5]);
    expect(() => layerNorm(x, Tensor.zeros([4]))).toThrow(/weight must have shape \[5\] \(the last dim of x\), got \[4\]/);
    expect(() => layerNorm(x, null, Tensor.zeros([1, 5]))).toThrow(RangeError);
    expect(() => layerNorm(x, null, Tensor.zeros([1, 5]))).toThrow(/bias must have shape \[5\]/);
    expect(() => layerNorm(x, null, null, 0)).toThrow(/eps must be a positive finite number, got 0/);
    expect(() => layerNorm(x, null, null, -1)).toThrow(RangeError);
    expect(() => layerNorm(x, null, null, NaN)).toThrow(/eps must be a positive finite number/);
    expect(() => binding.layerNorm(x, null, null, '1' as never)).toThrow(/eps must be a number/);
    expect(() => layerNorm(Tensor.zeros([2, 5], 'i32') as never)).toThrow(/x must have dtype f32, got i32/);
    expect(() => layerNorm(Tensor.zeros([]))).toThrow(/x must have at least 1 dimension/);
    expect(() => layerNorm(x, Tensor.zeros([5], 'f16') as never)).toThrow(/weight must have dtype f32, got f16/);
    expect(() => binding.layerNormAsync(x, null, null, 0)).toThrow(RangeError);
  });
});

describe('rmsNorm', () => {
  for (const level of levels) {
    it(`matches float64 within 1e-5 per row, with and without weight (${level})`, () => {
      withIsa(level, () => {
        for (const n of sizes) {
          const x = Tensor.randn([5, n], { seed: n, mean: 0.3, std: 3 });
          const w = Tensor.randn([n], { seed: n + 1 });
          for (const wt of [w, null]) {
            const out = rmsNorm(x, wt, 1e-6).data;
            const want = ref.rmsNorm(x.data, n, wt?.data ?? null, 1e-6);
            expect([n, !!wt, worstRowError(out, want, n) < 1e-5]).toEqual([n, !!wt, true]);
          }
        }
        // large values and a zero row (eps keeps it finite: zeros out)
        const z = Tensor.from([...new Array<number>(9).fill(0), ...Array.from(Tensor.randn([9], { seed: 1, std: 1e4 }).data)], [2, 9]);
        const out = rmsNorm(z).data;
        expect(Array.from(out.subarray(0, 9))).toEqual(new Array<number>(9).fill(0));
        expect(relError(out, ref.rmsNorm(z.data, 9, null, 1e-6))).toBeLessThan(1e-6);
      });
    });
  }

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const x = Tensor.randn([301, 255], { seed: 5 });
    const w = Tensor.randn([255], { seed: 6 });
    const one = withThreads(1, () => rmsNorm(x, w));
    const three = withThreads(3, () => rmsNorm(x, w));
    expect(sameBytes(one.data, three.data)).toBe(true);
    expect(sameBytes((await rmsNormAsync(x, w)).data, one.data)).toBe(true);
  });

  it('handles empty and one-element rows', () => {
    expect(rmsNorm(Tensor.zeros([0, 3])).shape).toEqual([0, 3]);
    const one = rmsNorm(Tensor.from([4, -2], [2, 1]), null, 1e-6).data;
    expect(Math.abs(one[0] - 1)).toBeLessThan(1e-6);
    expect(Math.abs(one[1] + 1)).toBeLessThan(1e-6);
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([2, 5]);
    expect(() => rmsNorm(x, Tensor.zeros([6]))).toThrow(/weight must have shape \[5\]/);
    expect(() => rmsNorm(x, null, 0)).toThrow(/eps must be a positive finite number/);
    expect(() => rmsNorm(x, null, Infinity)).toThrow(RangeError);
    expect(() => rmsNorm('x' as never)).toThrow(/x must be a tensor/);
  });
});
