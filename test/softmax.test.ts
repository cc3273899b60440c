import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { logSoftmax, logSoftmaxAsync, softmax, softmaxAsync } from '../lib/ops/softmax';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/softmax';

const sizes = [1, 3, 7, 17, 31, 63, 65, 127, 129, 257, 1031];

function worstRowError(out: Float32Array, want: Float64Array, n: number): number {
  let worst = 0;
  for (let r = 0; r * n < want.length; r++) {
    worst = Math.max(worst, relError(out.subarray(r * n, (r + 1) * n), want.subarray(r * n, (r + 1) * n)));
  }
  return worst;
}

describe('softmax and logSoftmax', () => {
  for (const level of levels) {
    it(`match float64 within 1e-5 per row for every length (${level})`, () => {
      withIsa(level, () => {
        for (const n of sizes) {
          const x = Tensor.randn([4, n], { seed: n, std: 4 });
          const p = softmax(x).data;
          expect([n, worstRowError(p, ref.softmax(x.data, [4, n]), n) < 1e-5]).toEqual([n, true]);
          const lp = logSoftmax(x).data;
          expect([n, worstRowError(lp, ref.softmax(x.data, [4, n], null, [], true), n) < 1e-5]).toEqual([n, true]);
          for (let r = 0; r < 4; r++) {
            let s = 0;
            for (let i = 0; i < n; i++) s += p[r * n + i];
            expect(Math.abs(s - 1)).toBeLessThan(1e-5);
          }
        }
      });
    });

    it(`apply broadcast additive masks (${level})`, () => {
      withIsa(level, () => {
        const cases: [number[], number[]][] = [
          [[2, 3, 5, 17], [2, 1, 1, 17]], // padding mask
          [[2, 3, 17, 17], [17, 17]], // causal
          [[2, 3, 5, 65], [65]],
          [[2, 3, 5, 9], [2, 3, 5, 1]], // one value per row
          [[3, 33], [3, 33]],
          [[3, 33], []],
        ];
        let seed = 1;
        for (const [xs, ms] of cases) {
          const x = Tensor.randn(xs, { seed: seed++, std: 2 });
          const m = Tensor.randn(ms, { seed: seed++, std: 3 });
          // drop about a third of the entries with -inf, as attention masks do
          const md = m.data;
          for (let i = 0; i < md.length; i++) if (md[i] > 1.3) md[i] = -Infinity;
          const n = xs[xs.length - 1];
          for (const log of [false, true]) {
            const out = (log ? logSoftmax : softmax)(x, m).data;
            const want = ref.softmax(x.data, xs, m.data, ms, log);
            // rows the mask empties entirely are exact (0 or -inf); compare the others
            let worst = 0;
            for (let r = 0; r * n < want.length; r++) {
              const o = out.subarray(r * n, (r + 1) * n);
              const w = want.subarray(r * n, (r + 1) * n);
              if (w.every((v) => v === (log ? -Infinity : 0))) {
                expect(Array.from(o)).toEqual(Array.from(w));
                continue;
              }
              if (log) {
                for (let i = 0; i < n; i++) if (w[i] === -Infinity) expect(o[i]).toBe(-Infinity);
                const keep = Array.from(w.keys()).filter((i) => w[i] !== -Infinity);
                worst = Math.max(worst, relError(keep.map((i) => o[i]), keep.map((i) => w[i])));
              } else {
                worst = Math.max(worst, relError(o, w));
              }
            }
            expect([xs, ms, log, worst < 1e-5]).toEqual([xs, ms, log, true]);
          }
        }
      });
    });
  }

  it('gives zeros (log: -inf) for fully masked rows, never NaN, and a finite mask like finfo.min gives uniform', () => {
    const x = Tensor.randn([3, 19], { seed: 1 });
    const mask = Tensor.from([...new Array<number>(19).fill(-Infinity), ...new Array<number>(19).fill(0), ...new Array<number>(19).fill(-3.4028234663852886e38)], [3, 19]);
    for (const level of levels) {
      withIsa(level, () => {
        const p = softmax(x, mask).data;
        expect(Array.from(p.subarray(0, 19))).toEqual(new Array<number>(19).fill(0));
        expect(p.every((v) => !Number.isNaN(v))).toBe(true);
        // x + finfo.min rounds to finfo.min for every entry: uniform, as in PyTorch
        for (const v of p.subarray(38)) expect(Math.abs(v - 1 / 19)).toBeLessThan(1e-7);
        const lp = logSoftmax(x, mask).data;
        expect(Array.from(lp.subarray(0, 19))).toEqual(new Array<number>(19).fill(-Infinity));
        // an all -inf input without a mask, too
        expect(Array.from(softmax(Tensor.full([1, 5], -Infinity)).data)).toEqual([0, 0, 0, 0, 0]);
      });
    }
  });

  it('handles inf and NaN inputs like float64 softmax', () => {
    const x = Tensor.from([0, -Infinity, 1, -Infinity, 2, NaN, 3, 4, 1, Infinity, 2, 3], [3, 4]);
    const p = Array.from(softmax(x).data);
    const want = Array.from(ref.softmax(x.data, [3, 4]));
    expect(p.slice(0, 4).map((v, i) => Math.abs(v - want[i]) < 1e-7)).toEqual([true, true, true, true]);
    expect(p[1]).toBe(0);
    expect(p.slice(4, 8).every(Number.isNaN)).toBe(true); // a NaN poisons its row
    expect(p.slice(8).every(Number.isNaN)).toBe(true); // +inf: inf - inf
    // a NaN in a row that is otherwise -inf is NaN too, not zeros
    expect(Number.isNaN(softmax(Tensor.from([-Infinity, NaN], [2])).data[1])).toBe(true);
  });

  it('handles length 1, empty rows and extreme values', () => {
    expect(Array.from(softmax(Tensor.from([5, -7], [2, 1])).data)).toEqual([1, 1]);
    expect(Array.from(logSoftmax(Tensor.from([5], [1])).data)).toEqual([0]);
    expect(softmax(Tensor.zeros([0, 5])).shape).toEqual([0, 5]);
    expect(softmax(Tensor.zeros([3, 0])).shape).toEqual([3, 0]);
    const big = Tensor.from([1e30, -1e30, 3e38, 0], [2, 2]);
    expect(Array.from(softmax(big).data)).toEqual([1, 0, 1, 0]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const x = Tensor.randn([2, 4, 37, 129], { seed: 5 });
    const m = Tensor.randn([2, 1, 1, 129], { seed: 6 });
    for (const [f, fa] of [[softmax, softmaxAsync], [logSoftmax, logSoftmaxAsync]] as const) {
      const one = withThreads(1, () => f(x, m));
      const three = withThreads(3, () => f(x, m));
      expect(sameBytes(one.data, three.data)).toBe(true);
      expect(sameBytes((await fa(x, m)).data, one.data)).toBe(true);
      expect(sameBytes((await fa(x)).data, f(x).data)).toBe(true);
    }
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([2, 3, 4]);
    expect(() => softmax(x, Tensor.zeros([3, 5]))).toThrow(/mask of shape \[3, 5\] does not broadcast to x of shape \[2, 3, 4\] \(axis -1: 5 vs 4\)/);
    expect(() => softmax(x, Tensor.zeros([1, 2, 3, 4]))).toThrow(/more dimensions than x/);
    expect(() => softmax(x, Tensor.zeros([3, 1, 1]))).toThrow(/axis -3: 3 vs 2/);
    expect(softmax(x, Tensor.zeros([2, 1, 1])).shape).toEqual([2, 3, 4]);
    expect(() => softmax(x, Tensor.zeros([4], 'i32') as never)).toThrow(/mask must have dtype f32, got i32/);
    expect(() => softmax(Tensor.zeros([])).data).toThrow(/x must have at least 1 dimension/);
    expect(() => logSoftmax(Tensor.zeros([3], 'f16') as never)).toThrow(/x must have dtype f32/);
    expect(() => binding.softmaxAsync(x, { data: new Float32Array(1), shape: [2], dtype: 'f32' })).toThrow(/mask\.data has 1 elements/);
  });
});
