import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { linear } from '../lib/ops/gemm';
import { permute } from '../lib/ops/layout';
import { linformerAttention, linformerAttentionAsync } from '../lib/ops/linformer';
import { Tensor } from '../lib/tensor';
import { expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/linformer';

const FIXTURE = join(__dirname, 'fixtures', 'kernels', 'linformer.safetensors');

describe('linformerAttention (Linformer)', () => {
  const f = openSafetensors(FIXTURE);
  const g = (name: string) => f.tensor(name) as Tensor<'f32'>;
  const heads = 4;
  const dh = 8;

  // LinformerSelfAttention.forward around the kernel: projections, head split and merge, output projection.
  function module(x: Tensor<'f32'>, p: string, oneKvHead: boolean, shareKv: boolean, attn = linformerAttention) {
    const [b, n] = x.shape;
    const Hkv = oneKvHead ? 1 : heads;
    const split = (t: Tensor<'f32'>, h: number) => permute(t.reshape([b, n, h, dh]), [0, 2, 1, 3]);
    const q = split(linear(x, g(`${p}.param.to_q.weight`)), heads);
    const k = split(linear(x, g(`${p}.param.to_k.weight`)), Hkv);
    const v = shareKv ? k : split(linear(x, g(`${p}.param.to_v.weight`)), Hkv);
    const out = attn(q, k, v, g(`${p}.param.proj_k`), shareKv ? null : g(`${p}.param.proj_v`));
    const merged = permute(out, [0, 2, 1, 3]).reshape([b, n, heads * dh]);
    return { q, k, v, out: linear(merged, g(`${p}.param.to_out.weight`), g(`${p}.param.to_out.bias`)) };
  }

  for (const level of levels) {
    it(`reproduces lucidrains LinformerSelfAttention: base, shorter input (sliced projections), shared kv with one kv head (${level})`, () => {
      withIsa(level, () => {
        const base = module(g('base.x'), 'base', false, false);
        expect(base.out.shape).toEqual([2, 16, 32]);
        expect(relError(base.out.data, g('base.out').data)).toBeLessThan(1e-5);
        const short = module(g('short.x'), 'base', false, false);
        expect(short.out.shape).toEqual([2, 12, 32]);
        expect(relError(short.out.data, g('short.out').data)).toBeLessThan(1e-5);
        const shared = module(g('shared_kv_one_head.x'), 'shared_kv_one_head', true, true);
        expect(shared.k.shape).toEqual([2, 1, 16, 8]);
        expect(relError(shared.out.data, g('shared_kv_one_head.out').data)).toBeLessThan(1e-5);
      });
    });

    it(`matches the float64 oracle on odd shapes (${level})`, () => {
      withIsa(level, () => {
        // [B, H, Hkv, Nq, Nk, D, nMax, kp, shared]
        const cases: [number, number, number, number, number, number, number, number, boolean][] = [
          [2, 3, 3, 37, 37, 20, 50, 7, false],
          [1, 4, 1, 100, 100, 64, 100, 65, true],
          [1, 2, 2, 5, 9, 3, 9, 1, false],
          [1, 1, 1, 1, 1, 1, 4, 2, false],
        ];
        let seed = 40;
        for (const [B, H, Hkv, Nq, Nk, D, nMax, kp, shared] of cases) {
          const q = Tensor.randn([B, H, Nq, D], { seed: seed++ });
          const k = Tensor.randn([B, Hkv, Nk, D], { seed: seed++ });
          const v = Tensor.randn([B, Hkv, Nk, D], { seed: seed++ });
          const pk = Tensor.randn([nMax, kp], { seed: seed++, std: 1 / Math.sqrt(kp) });
          const pv = Tensor.randn([nMax, kp], { seed: seed++, std: 1 / Math.sqrt(kp) });
          const out = linformerAttention(q, k, v, pk, shared ? null : pv);
          expect(out.shape).toEqual([B, H, Nq, D]);
          const want = ref.linformerAttention(q.data, k.data, v.data, pk.data, shared ? null : pv.data, B, H, Hkv, Nq, Nk, D, kp);
          expect(relError(out.data, want), `${[B, H, Hkv, Nq, Nk, D, nMax, kp, shared]}`).toBeLessThan(1e-5);
        }
        const q = Tensor.randn([1, 2, 10, 8], { seed: 1 });
        const pk = Tensor.randn([10, 4], { seed: 2 });
        const scaled = linformerAttention(q, q, q, pk, null, { scale: 0.3 });
        expect(relError(scaled.data, ref.linformerAttention(q.data, q.data, q.data, pk.data, null, 1, 2, 2, 10, 10, 8, 4, 0.3))).toBeLessThan(1e-5);
      });
    });
  }

  it('gives bitwise-equal results on 1 and N threads, and async equals sync', async () => {
    const q = Tensor.randn([2, 4, 300, 32], { seed: 5 });
    const k = Tensor.randn([2, 2, 300, 32], { seed: 6 });
    const v = Tensor.randn([2, 2, 300, 32], { seed: 7 });
    const pk = Tensor.randn([512, 64], { seed: 8, std: 0.1 });
    const pv = Tensor.randn([512, 64], { seed: 9, std: 0.1 });
    const one = withThreads(1, () => linformerAttention(q, k, v, pk, pv));
    const many = withThreads(4, () => linformerAttention(q, k, v, pk, pv));
    expect(sameBytes(one.data, many.data)).toBe(true);
    expect(sameBytes((await linformerAttentionAsync(q, k, v, pk, pv)).data, one.data)).toBe(true);
    // the fixture module through the async form
    const fx = module(g('base.x'), 'base', false, false);
    const q2 = fx.q, k2 = fx.k, v2 = fx.v;
    const a = await linformerAttentionAsync(q2, k2, v2, g('base.param.proj_k'), g('base.param.proj_v'));
    expect(sameBytes(a.data, linformerAttention(q2, k2, v2, g('base.param.proj_k'), g('base.param.proj_v')).data)).toBe(true);
  });

  it('writes into opts.out (prefilled with NaN: the same bits, the same tensor back), async too', async () => {
    const q = Tensor.randn([2, 4, 300, 32], { seed: 15 });
    const k = Tensor.randn([2, 2, 300, 32], { seed: 16 });
    const v = Tensor.randn([2, 2, 300, 32], { seed: 17 });
    const pk = Tensor.randn([512, 64], { seed: 18, std: 0.1 });
    const pv = Tensor.randn([512, 64], { seed: 19, std: 0.1 });
    await expectOutReuse('projV', q.shape, (out) => linformerAttention(q, k, v, pk, pv, { out }));
    await expectOutReuse('shared', q.shape, (out) => linformerAttention(q, k, v, pk, null, { scale: 0.2, out }));
    await expectOutReuse('async', q.shape, (out) => linformerAttentionAsync(q, k, v, pk, pv, { out }));
    const e = Tensor.zeros([1, 2, 3, 32]);
    const ke = Tensor.zeros([1, 2, 0, 32]);
    await expectOutReuse('empty keys', e.shape, (out) => linformerAttention(e, ke, ke, pk, pv, { out }));
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (projections too)', async () => {
    const q = Tensor.randn([1, 2, 20, 8], { seed: 21 });
    const k = Tensor.randn([1, 1, 24, 8], { seed: 22 });
    const v = Tensor.randn([1, 1, 24, 8], { seed: 23 });
    const projK = Tensor.randn([32, 6], { seed: 24 });
    const projV = Tensor.randn([32, 6], { seed: 25 });
    expectOutErrors(q.shape, { q, k, v, projK, projV }, (out, x) =>
      linformerAttention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, x.projK as Tensor<'f32'>, x.projV as Tensor<'f32'>, { out: out as Tensor<'f32'> }),
    );
    await expect(linformerAttentionAsync(q, k, v, projK, projV, { out: q })).rejects.toThrow(/opts\.out must not share memory with an input/);
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const q = Tensor.randn([1, 4, 8, 4], { seed: 1 });
    const kv = Tensor.randn([1, 2, 8, 4], { seed: 2 });
    const pk = Tensor.randn([8, 3], { seed: 3 });
    const raw = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => linformerAttention(Tensor.randn([4, 8, 4]), kv, kv, pk)).toThrow(/^q must have 4 dimensions/);
    expect(() => linformerAttention(q, kv, Tensor.randn([1, 2, 7, 4]), pk)).toThrow(/k and v must have the same shape/);
    expect(() => linformerAttention(q, Tensor.randn([1, 3, 8, 4]), Tensor.randn([1, 3, 8, 4]), pk)).toThrow(/multiple of k's and v's heads/);
    expect(() => linformerAttention(q, Tensor.randn([1, 2, 8, 5]), Tensor.randn([1, 2, 8, 5]), pk)).toThrow(/head dim/);
    expect(() => linformerAttention(q, kv, kv, Tensor.randn([7, 3]))).toThrow(/projK has 7 rows/);
    expect(() => linformerAttention(q, kv, kv, Tensor.randn([24]))).toThrow(/projK must have 2 dimensions/);
    expect(() => linformerAttention(q, kv, kv, Tensor.zeros([8, 0]))).toThrow(/projK/);
    expect(() => linformerAttention(q, kv, kv, pk, Tensor.randn([8, 4]))).toThrow(/projV/);
    expect(() => linformerAttention(q, kv, kv, pk, null, { scale: NaN })).toThrow(/scale/);
    expect(() => linformerAttention(q, kv, kv, pk, null, { scale: '1' as unknown as number })).toThrow(TypeError);
    expect(() => raw.linformerAttention(q, kv, kv, pk, null, 5)).toThrow(/opts must be an object/);
    expect(() => raw.linformerAttention(q, kv, kv, undefined)).toThrow(/projK/);
    expect(() => raw.linformerAttention(q, kv, kv.to('f16'), pk)).toThrow(TypeError);
    expect(() => linformerAttention(Tensor.randn([1, 1, 2, 300]), Tensor.randn([1, 1, 2, 300]), Tensor.randn([1, 1, 2, 300]), pk)).toThrow(RangeError);
  });

  it('handles empty inputs', () => {
    const pk = Tensor.randn([4, 2], { seed: 3 });
    expect(linformerAttention(Tensor.zeros([1, 2, 0, 4]), Tensor.zeros([1, 2, 3, 4]), Tensor.zeros([1, 2, 3, 4]), pk).shape).toEqual([1, 2, 0, 4]);
    const out = linformerAttention(Tensor.randn([1, 1, 2, 4], { seed: 1 }), Tensor.zeros([1, 1, 0, 4]), Tensor.zeros([1, 1, 0, 4]), pk);
    expect(Array.from(out.data)).toEqual(new Array(8).fill(0));
  });
});
