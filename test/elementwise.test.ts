import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import {
  activation,
  activationAsync,
  add,
  addAsync,
  div,
  divAsync,
  gelu,
  geluTanh,
  mul,
  mulAsync,
  relu,
  relu6,
  relu2,
  sigmoid,
  silu,
  softplus,
  sub,
  subAsync,
  tanh,
  type ActivationName,
} from '../lib/ops/elementwise';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import { activations, binary, type BinaryName, ulpF32 } from './reference/elementwise';

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

const ops = { add, sub, mul, div } as const;
const asyncOps = { add: addAsync, sub: subAsync, mul: mulAsync, div: divAsync } as const;
const names = Object.keys(ops) as BinaryName[];

/** Index of the first element where out differs from fround(ref) (NaN equal to NaN), or -1. */
function firstMismatch(out: Float32Array, ref: Float64Array): number {
  if (out.length !== ref.length) return 0;
  for (let i = 0; i < ref.length; i++) {
    const want = Math.fround(ref[i]);
    if (out[i] !== want && !(Number.isNaN(out[i]) && Number.isNaN(want))) return i;
  }
  return -1;
}

describe('add / sub / mul / div with broadcasting', () => {
  // [a shape, b shape]: same shapes, scalars, the bias row, columns, both sides broadcasting, rank changes,
  // and sizes off the SIMD width.
  const cases: [number[], number[]][] = [
    [[129], [129]],
    [[7, 33], [33]],
    [[33], [7, 33]],
    [[7, 33], [7, 1]],
    [[7, 1], [7, 33]],
    [[1, 33], [7, 1]],
    [[5], []],
    [[], [5]],
    [[], []],
    [[3, 1, 5], [4, 1]],
    [[2, 3, 4, 17], [3, 1, 17]],
    [[2, 1, 17], [2, 17, 1]],
    [[4, 63, 65], [65]],
    [[1, 1, 31], [3, 1, 1]],
    [[0, 3], [3]],
    [[2, 0, 3], [1, 3]],
    [[257, 129], [129]],
  ];
  for (const level of levels) {
    it(`equals the float64 result rounded to f32, every op and shape (${level})`, () => {
      withIsa(level, () => {
        let seed = 10;
        for (const [sa, sb] of cases) {
          const a = Tensor.randn(sa, { seed: seed++ });
          const b = Tensor.rand(sb, { seed: seed++, low: 0.5, high: 2 });
          for (const op of names) {
            const out = ops[op](a, b);
            const ref = binary(op, a.data, sa, b.data, sb);
            expect(out.shape).toEqual(ref.shape);
            expect([op, sa, sb, firstMismatch(out.data, ref.data)]).toEqual([op, sa, sb, -1]);
          }
        }
      });
    });
  }

  it('takes plain numbers as scalars on either side', () => {
    const x = Tensor.randn([3, 5], { seed: 1 });
    expect(firstMismatch(mul(x, 0.125).data, binary('mul', x.data, [3, 5], [0.125], []).data)).toBe(-1);
    expect(firstMismatch(sub(1, x).data, binary('sub', [1], [], x.data, [3, 5]).data)).toBe(-1);
    expect(firstMismatch(div(x, 3).data, binary('div', x.data, [3, 5], [3], []).data)).toBe(-1);
    expect(add(2, 3).shape).toEqual([]);
    expect(add(2, 3).data[0]).toBe(5);
  });

  it('follows IEEE for division by zero and special values', () => {
    const a = Tensor.from([1, -1, 0, Infinity, NaN], [5]);
    expect(Array.from(div(a, 0).data)).toEqual([Infinity, -Infinity, NaN, Infinity, NaN]);
    expect(Array.from(mul(a, Infinity).data)).toEqual([Infinity, -Infinity, NaN, Infinity, NaN]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const a = Tensor.randn([301, 257], { seed: 5 });
    const b = Tensor.randn([257], { seed: 6 });
    const c = Tensor.randn([301, 1], { seed: 7 });
    for (const op of names) {
      const one = withThreads(1, () => [ops[op](a, b), ops[op](c, a), ops[op](a, a)]);
      const three = withThreads(3, () => [ops[op](a, b), ops[op](c, a), ops[op](a, a)]);
      for (let i = 0; i < 3; i++) expect(sameBytes(one[i].data, three[i].data)).toBe(true);
      expect(sameBytes((await asyncOps[op](a, b)).data, one[0].data)).toBe(true);
      expect(sameBytes((await asyncOps[op](c, a)).data, one[1].data)).toBe(true);
    }
  });

  it('rejects shapes that do not broadcast and wrong dtypes, naming the arguments', () => {
    const a = Tensor.zeros([2, 3]);
    expect(() => add(a, Tensor.zeros([3, 2]))).toThrow(RangeError);
    expect(() => sub(a, Tensor.zeros([4]))).toThrow(/a and b must have the same shape, got \[2, 3\] and \[4\], or shapes that broadcast \(axis -1: 3 vs 4\)/);
    expect(() => mul(Tensor.zeros([5, 2, 3]), Tensor.zeros([4, 1, 1]))).toThrow(/axis -3: 5 vs 4/);
    expect(() => div(a, Tensor.zeros([2, 3], 'i32') as never)).toThrow(/b must have dtype f32, got i32/);
    expect(() => add('x' as never, a)).toThrow(TypeError);
    expect(() => binding.sub(a, undefined as never)).toThrow(/b must be a tensor/);
    expect(() => binding.mulAsync({ ...a, dtype: 'i8' } as never, a)).toThrow(TypeError);
  });
});

type Act = keyof typeof activations;
const actNames = Object.keys(activations) as Act[];
const single: Record<Act, (x: Tensor<'f32'>) => Tensor<'f32'>> = {
  gelu,
  gelu_tanh: geluTanh,
  silu,
  relu,
  relu6,
  relu2,
  sigmoid,
  tanh,
  softplus,
};

// Largest error allowed, in ulp of the float64 result (measured maxima over dense sweeps are about half):
// exp-based functions pay ~1.3 ulp for exp plus a division and a product; gelu adds erfc's polynomial.
const maxUlp: Record<Act, number> = { gelu: 8, gelu_tanh: 8, silu: 5, relu: 0, relu6: 0, relu2: 0.5, sigmoid: 4, tanh: 3, softplus: 5 };

/** The largest finite float32 plus half an ulp: float64 values at or above it round to infinity. */
const F32_MAX = (2 - 2 ** -24) * 2 ** 127;

/** Inputs: a dense sweep of [-lo, hi], random normals (odd length) and special values. */
function inputs(): Float32Array {
  const sweep = Array.from({ length: 20001 }, (_, i) => -14 + (28 * i) / 20000);
  const rnd = Array.from(Tensor.randn([4099], { seed: 9, std: 4 }).data);
  const special = [0, -0, 1e-30, -1e-30, 1e-40, -1e-40, 20, 20.5, -20, 88, -88, 100, -100, 3e38, -3e38];
  return Float32Array.from([...sweep, ...rnd, ...special]);
}

/** gelu_tanh's conditioning: fp32 rounding of u = sqrt(2/pi)(x + 0.044715x^3) moves the result by |2u| times it. */
function conditioning(act: Act, x: number): number {
  return act === 'gelu_tanh' ? 1 + Math.abs(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)) / 2 : 1;
}

/**
 * Max error in ulp, with gelu_tanh's inherent conditioning taken out.
 * Results below 2^-120 count in units of 2^-143: there e^x itself is subnormal (few significant bits) before
 * it is scaled by x, as in every fp32 x·sigmoid(x).
 */
function maxUlpError(act: Act, x: Float32Array, out: Float32Array): { ulp: number; at: number } {
  let worst = 0;
  let at = NaN;
  for (let i = 0; i < x.length; i++) {
    const ref = activations[act](x[i]);
    if (Math.abs(ref) > F32_MAX) {
      // beyond float32's range (relu2 of x > ~1.8e19): the result must be the infinity of ref's sign
      if (out[i] !== Math.sign(ref) * Infinity) return { ulp: Infinity, at: x[i] };
      continue;
    }
    const err = Math.abs(out[i] - ref) / Math.max(ulpF32(ref), 2 ** -143) / conditioning(act, x[i]);
    if (err > worst) {
      worst = err;
      at = x[i];
    }
  }
  return { ulp: worst, at };
}

describe('activations', () => {
  const x = Tensor.from(inputs(), [inputs().length]);
  for (const level of levels) {
    it(`match float64 within a few ulp everywhere (${level})`, () => {
      withIsa(level, () => {
        for (const act of actNames) {
          const out = single[act](x).data;
          const { ulp, at } = maxUlpError(act, x.data, out);
          expect({ act, ok: ulp <= maxUlp[act], ulp, at }).toEqual({ act, ok: true, ulp, at });
          const finite = (_: number, i: number) => Math.abs(activations[act](x.data[i])) <= F32_MAX;
          const ref = Array.from(x.data, activations[act]).filter(finite);
          expect(relError(out.filter(finite), ref)).toBeLessThan(1e-6);
        }
      });
    });
  }

  it('give the same results at every level within the ulp budget, and exact relu/relu6', () => {
    const y = Tensor.randn([1031], { seed: 4, std: 3 });
    const base = withIsa('scalar', () => actNames.map((a) => single[a](y).data));
    for (const level of levels) {
      withIsa(level, () => {
        actNames.forEach((a, k) => {
          const out = single[a](y).data;
          for (let i = 0; i < y.size; i++) {
            const diff = Math.abs(out[i] - base[k][i]) / ulpF32(base[k][i]) / conditioning(a, y.data[i]);
            if (diff > 2 * maxUlp[a] + 1) expect([a, level, y.data[i], out[i], base[k][i]]).toBe('close');
          }
        });
      });
    }
  });

  it('handle special values like PyTorch, with the limits at -inf', () => {
    const s = Tensor.from([Infinity, -Infinity, NaN, 0, -0], [5]);
    const v = (t: Tensor<'f32'>) => Array.from(t.data);
    expect(v(gelu(s))).toEqual([Infinity, -0, NaN, 0, -0]);
    expect(v(geluTanh(s))).toEqual([Infinity, -0, NaN, 0, -0]);
    expect(v(silu(s))).toEqual([Infinity, -0, NaN, 0, -0]);
    expect(v(relu(s)).map((z) => z + 0)).toEqual([Infinity, 0, NaN, 0, 0]);
    expect(v(relu6(s)).map((z) => z + 0)).toEqual([6, 0, NaN, 0, 0]);
    expect(v(relu2(s))).toEqual([Infinity, 0, NaN, 0, 0]);
    // squared once from the float32 relu: 3 -> 9, 1e19 -> 1e38 (rounded once), 2e19 -> Infinity
    expect(v(relu2(Tensor.from([3, -3, 1e19, 2e19], [4])))).toEqual([9, 0, Math.fround(Math.fround(1e19) ** 2), Infinity]);
    expect(v(sigmoid(s))).toEqual([1, 0, NaN, 0.5, 0.5]);
    expect(v(tanh(s))).toEqual([1, -1, NaN, 0, -0]);
    expect(v(softplus(s))).toEqual([Infinity, 0, NaN, Math.fround(Math.LN2), Math.fround(Math.LN2)]);
    // softplus is linear above the threshold 20, exactly
    expect(v(softplus(Tensor.from([20.5, 1e30], [2])))).toEqual([20.5, Math.fround(1e30)]);
  });

  it('accept the Hugging Face hidden_act names and reject others', () => {
    const y = Tensor.randn([37], { seed: 2 });
    const same = (a: ActivationName, b: ActivationName) => expect(sameBytes(activation(y, a).data, activation(y, b).data)).toBe(true);
    same('gelu_new', 'gelu_tanh');
    same('gelu_pytorch_tanh', 'gelu_tanh');
    same('gelu_fast', 'gelu_tanh');
    same('swish', 'silu');
    expect(() => activation(y, 'mish' as never)).toThrow(TypeError);
    expect(() => activation(y, 'mish' as never)).toThrow(/activation must be one of gelu, .*softplus, relu2, got 'mish'/);
    expect(() => binding.activation(y, 3 as never)).toThrow(/activation must be a string/);
    expect(() => gelu(Tensor.zeros([2], 'i32') as never)).toThrow(/x must have dtype f32, got i32/);
    expect(() => binding.activationAsync(y, 'nope' as never)).toThrow(TypeError);
  });

  it('handle empty and one-element tensors, keep the shape', () => {
    expect(gelu(Tensor.zeros([0, 3])).shape).toEqual([0, 3]);
    expect(Array.from(relu(Tensor.from([-2], [1, 1])).data)).toEqual([0]);
    expect(silu(Tensor.zeros([2, 3, 5])).shape).toEqual([2, 3, 5]);
  });

  it('give the same bits with 1 and 3 threads, and async equals sync', async () => {
    const y = Tensor.randn([100_003], { seed: 8, std: 3 });
    for (const act of actNames) {
      const one = withThreads(1, () => activation(y, act));
      const three = withThreads(3, () => activation(y, act));
      expect(sameBytes(one.data, three.data)).toBe(true);
      expect(sameBytes((await activationAsync(y, act)).data, one.data)).toBe(true);
    }
  });
});
