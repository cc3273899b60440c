import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { favorAttention, favorAttentionAsync, favorFeatures, favorFeaturesAsync, gaussianOrthogonalRandomMatrix, type FavorOptions } from '../lib/ops/favor';
import { Tensor } from '../lib/tensor';
import { expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/favor';

const FIXTURE = join(__dirname, 'fixtures', 'kernels', 'performer_favor.safetensors');

describe('favorAttention (Performer FAVOR+)', () => {
  const f = openSafetensors(FIXTURE);
  const g = (name: string) => f.tensor(name) as Tensor<'f32'>;
  const [B, H, N, D] = [2, 2, 16, 16];
  const m = 24;

  it('the float64 oracle reproduces the upstream fixture', () => {
    const q = g('q').data, k = g('k').data, v = g('v').data, P = g('projection_matrix').data;
    expect(relError(ref.featuresAll(q, B, H, N, D, P, m, true), g('q_prime').data)).toBeLessThan(1e-5);
    expect(relError(ref.featuresAll(k, B, H, N, D, P, m, false), g('k_prime').data)).toBeLessThan(1e-5);
    expect(relError(ref.featuresAll(q, B, H, N, D, P, m, true, { kernel: 'relu' }), g('q_prime_relu').data)).toBeLessThan(1e-5);
    expect(relError(ref.favorAttention(q, k, v, B, H, N, D, P, m, false), g('out_noncausal').data)).toBeLessThan(1e-5);
    expect(relError(ref.favorAttention(q, k, v, B, H, N, D, P, m, true), g('out_causal').data)).toBeLessThan(1e-5);
    expect(relError(ref.favorAttention(q, k, v, B, H, N, D, P, m, false, { kernel: 'relu' }), g('out_noncausal_relu').data)).toBeLessThan(1e-5);
    expect(relError(ref.softmaxAttention(q, k, v, B, H, N, D), g('exact_softmax_attention').data)).toBeLessThan(1e-5);
  });

  for (const level of levels) {
    it(`reproduces performer-pytorch softmax_kernel, generalized_kernel, linear_attention and causal_linear_attention_noncuda (${level})`, () => {
      withIsa(level, () => {
        const q = g('q'), k = g('k'), v = g('v'), P = g('projection_matrix');
        expect(relError(favorFeatures(q, P).data, g('q_prime').data)).toBeLessThan(1e-5);
        expect(relError(favorFeatures(k, P, { isQuery: false }).data, g('k_prime').data)).toBeLessThan(1e-5);
        expect(relError(favorFeatures(q, P, { kernel: 'relu' }).data, g('q_prime_relu').data)).toBeLessThan(1e-5);
        expect(relError(favorFeatures(k, P, { kernel: 'relu', isQuery: false }).data, g('k_prime_relu').data)).toBeLessThan(1e-5);
        const out = favorAttention(q, k, v, P);
        expect(out.shape).toEqual([B, H, N, D]);
        expect(relError(out.data, g('out_noncausal').data)).toBeLessThan(1e-5);
        expect(relError(favorAttention(q, k, v, P, { causal: true }).data, g('out_causal').data)).toBeLessThan(1e-5);
        expect(relError(favorAttention(q, k, v, P, { kernel: 'relu' }).data, g('out_noncausal_relu').data)).toBeLessThan(1e-5);
      });
    });

    it(`matches the float64 oracle on odd shapes across chunks; causal equals the step-by-step recurrence (${level})`, () => {
      withIsa(level, () => {
        const cases: [number, number, number, number, number, FavorOptions][] = [
          [1, 3, 150, 20, 37, { causal: true }],
          [2, 1, 131, 9, 13, {}],
          [1, 2, 70, 16, 40, { causal: true, kernel: 'relu' }],
          [1, 1, 1, 5, 3, { causal: true }],
          [1, 1, 65, 64, 96, {}],
        ];
        let seed = 10;
        for (const [b, h, n, d, mm, opts] of cases) {
          const q = Tensor.randn([b, h, n, d], { seed: seed++, std: 0.7 });
          const k = Tensor.randn([b, h, n, d], { seed: seed++, std: 0.7 });
          const v = Tensor.randn([b, h, n, d], { seed: seed++ });
          const P = gaussianOrthogonalRandomMatrix(mm, d, { seed: seed++ });
          const out = favorAttention(q, k, v, P, opts);
          const want = ref.favorAttention(q.data, k.data, v.data, b, h, n, d, P.data, mm, opts.causal ?? false, opts);
          expect(relError(out.data, want), `${b}x${h}x${n}x${d} m${mm} ${JSON.stringify(opts)}`).toBeLessThan(1e-5);
        }
      });
    });
  }

  it('approximates exact softmax attention better as the number of features grows (fixed seed)', () => {
    const [b, h, n, d] = [1, 4, 64, 16];
    const q = Tensor.randn([b, h, n, d], { seed: 1, std: 0.5 });
    const k = Tensor.randn([b, h, n, d], { seed: 2, std: 0.5 });
    const v = Tensor.randn([b, h, n, d], { seed: 3 });
    const exact = ref.softmaxAttention(q.data, k.data, v.data, b, h, n, d);
    const exactCausal = ref.softmaxAttention(q.data, k.data, v.data, b, h, n, d, true);
    const err = (mm: number, causal: boolean) => {
      let s = 0;
      for (let seed = 0; seed < 6; seed++) {
        const P = gaussianOrthogonalRandomMatrix(mm, d, { seed: 1000 + seed });
        s += relError(favorAttention(q, k, v, P, { causal }).data, causal ? exactCausal : exact);
      }
      return s / 6;
    };
    for (const causal of [false, true]) {
      const e = [16, 64, 256, 1024].map((mm) => err(mm, causal));
      if (process.env.FAVOR_LOG) console.log(`causal ${causal}: ${e.join(", ")}`);
      for (let i = 1; i < e.length; i++) expect(e[i], `causal ${causal}: ${e.join(', ')}`).toBeLessThan(e[i - 1]);
      expect(e[3], `causal ${causal}: ${e.join(", ")}`).toBeLessThan(e[0] / 3); // roughly 1/√m
      expect(e[3], `causal ${causal}: ${e.join(", ")}`).toBeLessThan(0.1);
    }
  });

  it('gives bitwise-equal results on 1 and N threads, and async equals sync', async () => {
    const q = Tensor.randn([2, 3, 200, 24], { seed: 5 });
    const k = Tensor.randn([2, 3, 200, 24], { seed: 6 });
    const v = Tensor.randn([2, 3, 200, 24], { seed: 7 });
    const P = gaussianOrthogonalRandomMatrix(50, 24, { seed: 8 });
    for (const opts of [{}, { causal: true }, { kernel: 'relu' as const, causal: true }]) {
      const one = withThreads(1, () => favorAttention(q, k, v, P, opts));
      const many = withThreads(4, () => favorAttention(q, k, v, P, opts));
      expect(sameBytes(one.data, many.data)).toBe(true);
      const a = await favorAttentionAsync(q, k, v, P, opts);
      expect(sameBytes(a.data, one.data)).toBe(true);
    }
    const fs = favorFeatures(k, P, { isQuery: false });
    expect(sameBytes((await favorFeaturesAsync(k, P, { isQuery: false })).data, fs.data)).toBe(true);
    // a projection spec draws the same matrix as the builder
    const spec = favorAttention(q, k, v, { nbFeatures: 50, seed: 8 });
    expect(sameBytes(spec.data, favorAttention(q, k, v, P).data)).toBe(true);
  });

  it('writes into opts.out (prefilled with NaN: the same bits, the same tensor back), causal and async too', async () => {
    const q = Tensor.randn([2, 3, 200, 24], { seed: 15 });
    const k = Tensor.randn([2, 3, 200, 24], { seed: 16 });
    const v = Tensor.randn([2, 3, 200, 24], { seed: 17 });
    const P = gaussianOrthogonalRandomMatrix(50, 24, { seed: 18 });
    for (const opts of [{}, { causal: true }, { kernel: 'relu' as const }, { kernel: 'relu' as const, causal: true }]) {
      await expectOutReuse(JSON.stringify(opts), q.shape, (out) => favorAttention(q, k, v, P, { ...opts, out }));
      await expectOutReuse(`${JSON.stringify(opts)} async`, q.shape, (out) => favorAttentionAsync(q, k, v, P, { ...opts, out }));
    }
    const e = Tensor.zeros([1, 2, 0, 24]);
    await expectOutReuse('empty', e.shape, (out) => favorAttention(e, e, e, P, { out }));
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (the projection too)', async () => {
    const q = Tensor.randn([1, 2, 20, 8], { seed: 21 });
    const k = Tensor.randn([1, 2, 20, 8], { seed: 22 });
    const v = Tensor.randn([1, 2, 20, 8], { seed: 23 });
    const projection = gaussianOrthogonalRandomMatrix(16, 8, { seed: 24 });
    expectOutErrors(q.shape, { q, k, v, projection }, (out, x) =>
      favorAttention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, x.projection as Tensor<'f32'>, { causal: true, out: out as Tensor<'f32'> }),
    );
    await expect(favorAttentionAsync(q, k, v, projection, { out: q })).rejects.toThrow(/opts\.out must not share memory with an input/);
  });

  it('builds seeded Gaussian orthogonal random matrices', () => {
    const a = gaussianOrthogonalRandomMatrix(40, 16, { seed: 3, scaling: 1 });
    expect(a.shape).toEqual([40, 16]);
    expect(sameBytes(a.data, gaussianOrthogonalRandomMatrix(40, 16, { seed: 3, scaling: 1 }).data)).toBe(true);
    expect(sameBytes(a.data, gaussianOrthogonalRandomMatrix(40, 16, { seed: 4, scaling: 1 }).data)).toBe(false);
    // rows of one block are orthogonal with squared length nbColumns (scaling 1)
    for (const [r0, r1] of [[0, 16], [16, 32], [32, 40]])
      for (let i = r0; i < r1; i++)
        for (let j = r0; j < r1; j++) {
          let dot = 0;
          for (let c = 0; c < 16; c++) dot += a.data[i * 16 + c] * a.data[j * 16 + c];
          expect(Math.abs(dot - (i === j ? 16 : 0))).toBeLessThan(1e-4);
        }
    // scaling 0: row lengths are those of Gaussian rows (chi with 16 degrees of freedom: mean about 3.9)
    const b = gaussianOrthogonalRandomMatrix(400, 16, { seed: 9 });
    let mean = 0;
    for (let i = 0; i < 400; i++) {
      let s = 0;
      for (let c = 0; c < 16; c++) s += b.data[i * 16 + c] ** 2;
      mean += Math.sqrt(s) / 400;
    }
    expect(Math.abs(mean - 3.94)).toBeLessThan(0.15);
    expect(() => gaussianOrthogonalRandomMatrix(0, 4)).toThrow(RangeError);
    expect(() => gaussianOrthogonalRandomMatrix(4, 2.5)).toThrow(/nbColumns/);
    expect(() => gaussianOrthogonalRandomMatrix(4, 4, { scaling: 2 as 0 })).toThrow(/scaling/);
    expect(() => gaussianOrthogonalRandomMatrix(4, 4, { seed: 0.5 })).toThrow(TypeError);
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const q = Tensor.randn([1, 2, 8, 4], { seed: 1 });
    const P = gaussianOrthogonalRandomMatrix(6, 4);
    const raw = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => favorAttention(Tensor.randn([2, 8, 4]), q, q, P)).toThrow(/^q must have 4 dimensions/);
    expect(() => favorAttention(q, Tensor.randn([1, 2, 7, 4]), q, P)).toThrow(RangeError);
    expect(() => favorAttention(q, q, Tensor.randn([1, 2, 8, 5]), P)).toThrow(/v/);
    expect(() => favorAttention(q, q, q, gaussianOrthogonalRandomMatrix(6, 5))).toThrow(/projection must have q's head dim/);
    expect(() => favorAttention(q, q, q, Tensor.randn([6]))).toThrow(/projection must have 2 dimensions/);
    expect(() => favorAttention(q, q, q, Tensor.zeros([0, 4]))).toThrow(/projection/);
    expect(() => favorAttention(q, q, q, P, { kernel: 'gelu' as 'relu' })).toThrow(/kernel must be/);
    expect(() => favorAttention(q, q, q, P, { eps: -1 })).toThrow(/eps/);
    expect(() => favorAttention(q, q, q, P, { causal: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => favorAttention(q, q, q, P, { causalEps: 0 })).toThrow(/causalEps/);
    expect(() => raw.favorAttention(q, q, q, P, 3)).toThrow(/opts must be an object/);
    expect(() => raw.favorAttention(q, q, q, null)).toThrow(/projection/);
    expect(() => raw.favorAttention({ data: new Float32Array(3), shape: [4], dtype: 'f32' }, q, q, P)).toThrow(/q/);
    expect(() => raw.favorAttention(q.to('f16'), q, q, P)).toThrow(TypeError);
    expect(() => favorFeatures(Tensor.randn([8, 4]), P)).toThrow(/^x must have 4 dimensions/);
    expect(() => favorFeatures(q, P, { isQuery: 'yes' as unknown as boolean })).toThrow(/isQuery/);
  });

  it('handles empty sequences', () => {
    const e = Tensor.zeros([1, 2, 0, 4]);
    expect(favorAttention(e, e, e, gaussianOrthogonalRandomMatrix(3, 4), { causal: true }).shape).toEqual([1, 2, 0, 4]);
  });
});
