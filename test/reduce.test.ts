import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { mean, meanAsync, sum, sumAsync, topk, topkAsync } from '../lib/ops/reduce';
import { Tensor } from '../lib/tensor';
import { levels, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/reduce';
import { ulpF32 } from './reference/elementwise';

/** Every element within 1 ulp of the float64 result rounded to f32 (double accumulation, one rounding). */
function within1Ulp(out: Float32Array, want: Float64Array): boolean {
  if (out.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]) ? !Number.isNaN(out[i]) : Math.abs(out[i] - want[i]) > ulpF32(want[i])) return false;
  }
  return true;
}

describe('sum and mean', () => {
  const shapes = [[1], [7], [3, 17], [5, 63, 3], [2, 65, 129], [4, 1, 31], [257, 7]];
  for (const level of levels) {
    it(`match float64 within 1 ulp over every axis, with keepdim (${level})`, () => {
      withIsa(level, () => {
        let seed = 0;
        for (const shape of shapes) {
          const x = Tensor.randn(shape, { seed: seed++, mean: 0.1 });
          for (let axis = -shape.length; axis < shape.length; axis++) {
            for (const [f, isMean] of [[sum, false], [mean, true]] as const) {
              const out = f(x, axis);
              const a = axis < 0 ? axis + shape.length : axis;
              expect(out.shape).toEqual(shape.filter((_, i) => i !== a));
              expect(f(x, axis, { keepdim: true }).shape).toEqual(shape.map((d, i) => (i === a ? 1 : d)));
              expect([shape, axis, isMean, within1Ulp(out.data, ref.reduce(x.data, shape, axis, isMean))]).toEqual([shape, axis, isMean, true]);
            }
          }
          expect(within1Ulp(sum(x).data, ref.reduce(x.data, shape, null, false))).toBe(true);
          expect(within1Ulp(mean(x).data, ref.reduce(x.data, shape, null, true))).toBe(true);
        }
      });
    });
  }

  it('sums long rows in fixed blocks (beyond 32K elements) accurately, even with cancellation', () => {
    const x = Tensor.randn([3, 100_003], { seed: 4 });
    for (const level of levels) {
      withIsa(level, () => {
        expect(within1Ulp(sum(x, -1).data, ref.reduce(x.data, [3, 100_003], -1, false))).toBe(true);
        expect(within1Ulp(mean(x).data, ref.reduce(x.data, [3, 100_003], null, true))).toBe(true);
        // 1e8 + 1 - 1e8 ... : an f32 accumulator would lose the ones
        const c = Tensor.from([1e8, 1, 1, 1, -1e8, 1], [6]);
        expect(sum(c).data[0]).toBe(4);
      });
    }
  });

  it('shapes: all elements gives [], keepdim all ones; scalars; empty axes (sum 0, mean NaN)', () => {
    const x = Tensor.randn([2, 3, 4], { seed: 1 });
    expect(sum(x).shape).toEqual([]);
    expect(sum(x, null, { keepdim: true }).shape).toEqual([1, 1, 1]);
    expect(sum(Tensor.from([5], [])).data[0]).toBe(5);
    expect(sum(Tensor.from([5], []), 0).shape).toEqual([]);
    expect(Array.from(sum(Tensor.zeros([2, 0]), 1).data)).toEqual([0, 0]);
    expect(Number.isNaN(mean(Tensor.zeros([2, 0]), 1).data[0])).toBe(true);
    expect(sum(Tensor.zeros([0, 3]), 1).shape).toEqual([0]);
    expect(Array.from(mean(Tensor.from([1, NaN, Infinity, 2], [2, 2]), 1).data)).toEqual([NaN, Infinity]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const x = Tensor.randn([37, 65_537], { seed: 9 });
    const y = Tensor.randn([7, 301, 129], { seed: 10 });
    const run = () => [sum(x, 1), mean(x), sum(y, 1), mean(y, 0), sum(y, 2)];
    const one = withThreads(1, run);
    const three = withThreads(3, run);
    one.forEach((t, i) => expect(sameBytes(t.data, three[i].data)).toBe(true));
    expect(sameBytes((await sumAsync(x, 1)).data, one[0].data)).toBe(true);
    expect(sameBytes((await meanAsync(y, 0)).data, one[3].data)).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => sum(x, 2)).toThrow(/axis must be in \[-2, 1\] for x with 2 dimensions, got 2/);
    expect(() => mean(x, -3)).toThrow(RangeError);
    expect(() => sum(x, 0.5)).toThrow(TypeError);
    expect(() => binding.sum(x, 0, 'yes' as never)).toThrow(/keepdim must be a boolean/);
    expect(() => sum(Tensor.zeros([2], 'i32') as never)).toThrow(/x must have dtype f32, got i32/);
    expect(() => binding.meanAsync(x, 5)).toThrow(RangeError);
  });
});

describe('topk', () => {
  for (const level of levels) {
    it(`matches a stable sort for every length and k, largest and smallest (${level})`, () => {
      withIsa(level, () => {
        for (const n of [1, 3, 7, 17, 31, 65, 129, 1031]) {
          // small integers: many ties
          const x = Tensor.from(Array.from(Tensor.randn([3, n], { seed: n, std: 3 }).data, Math.round), [3, n]);
          for (const k of new Set([0, 1, Math.min(5, n), n >> 1, n])) {
            for (const largest of [true, false]) {
              const r = topk(x, k, { largest });
              const want = ref.topk(x.data, n, k, largest);
              expect(r.values.shape).toEqual([3, k]);
              expect(r.indices.dtype).toBe('i32');
              expect([n, k, largest, Array.from(r.indices.data)]).toEqual([n, k, largest, want.indices]);
              expect(Array.from(r.values.data)).toEqual(want.values);
            }
          }
        }
      });
    });
  }

  it('ranks NaN above everything, ties -0 with +0, and keeps the values as they were', () => {
    const x = Tensor.from([1, NaN, -0, Infinity, 0, NaN, -Infinity, 2], [8]);
    const top = topk(x, 8);
    expect(Array.from(top.indices.data)).toEqual([1, 5, 3, 7, 0, 2, 4, 6]);
    expect(Object.is(top.values.data[5], -0)).toBe(true);
    const bottom = topk(x, 8, { largest: false });
    expect(Array.from(bottom.indices.data)).toEqual([6, 2, 4, 0, 7, 3, 1, 5]);
  });

  it('returns i64 indices on request, and async equals sync', async () => {
    const x = Tensor.randn([4, 50_001], { seed: 3 });
    const r = topk(x, 50, { indexDtype: 'i64' });
    expect(r.indices.dtype).toBe('i64');
    const r32 = topk(x, 50);
    expect(Array.from(r.indices.data, Number)).toEqual(Array.from(r32.indices.data));
    const ra = await topkAsync(x, 50, { indexDtype: 'i64' });
    expect(sameBytes(ra.indices.data, r.indices.data)).toBe(true);
    expect(sameBytes(ra.values.data, r.values.data)).toBe(true);
    const one = withThreads(1, () => topk(x, 7));
    const three = withThreads(3, () => topk(x, 7));
    expect(sameBytes(one.indices.data, three.indices.data)).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([2, 5]);
    expect(() => topk(x, 6)).toThrow(/k must be in \[0, 5\], got 6/);
    expect(() => topk(x, -1)).toThrow(RangeError);
    expect(() => topk(x, 1.5)).toThrow(/k must be an integer/);
    expect(() => topk(x, 1, { indexDtype: 'i8' as never })).toThrow(/indexDtype must be 'i32' or 'i64', got 'i8'/);
    expect(() => topk(x, 1, { indexDtype: 'x' as never })).toThrow(TypeError);
    expect(() => binding.topk(x, 1, 1 as never)).toThrow(/largest must be a boolean/);
    expect(() => topk(Tensor.zeros([]), 0)).toThrow(/x must have at least 1 dimension/);
    expect(() => binding.topkAsync(x, 9)).toThrow(RangeError);
    expect(topk(Tensor.zeros([0, 5]), 2).values.shape).toEqual([0, 2]);
  });
});
