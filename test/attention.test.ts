import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { attention, attentionAsync, type AttentionOptions } from '../lib/ops/attention';
import { permute } from '../lib/ops/layout';
import { Tensor } from '../lib/tensor';
import { compareAttention, expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/attention';

interface Case {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  opts?: AttentionOptions;
  biasShape?: number[];
  /** Batch rows of the key padding mask that are entirely padding. */
  padAll?: number[];
  /** Batch row 0's keys from this position on are padding (right padding: whole key tiles of padding). */
  padFrom?: number;
  std?: number;
}

function label(c: Case): string {
  const o = c.opts ?? {};
  const parts = [`B${c.B} Hq${c.Hq} Hkv${c.Hkv} Nq${c.Nq} Nk${c.Nk} D${c.D}`];
  if (o.layout) parts.push(o.layout);
  if (o.causal) parts.push('causal');
  if (o.window) parts.push(`window[${o.window.join(',')}]`);
  if (o.scale !== undefined) parts.push(`scale ${o.scale}`);
  if (c.biasShape) parts.push(`bias[${c.biasShape.join(',')}]`);
  if (o.keyPaddingMask !== undefined || c.padAll || c.padFrom !== undefined) parts.push('padding');
  return parts.join(' ');
}

let seed = 100;
function inputs(c: Case) {
  const bnhd = c.opts?.layout === 'bnhd';
  const qs = bnhd ? [c.B, c.Nq, c.Hq, c.D] : [c.B, c.Hq, c.Nq, c.D];
  const ks = bnhd ? [c.B, c.Nk, c.Hkv, c.D] : [c.B, c.Hkv, c.Nk, c.D];
  const std = c.std ?? 1;
  const q = Tensor.randn(qs, { seed: seed++, std });
  const k = Tensor.randn(ks, { seed: seed++, std });
  const v = Tensor.randn(ks, { seed: seed++ });
  const opts: AttentionOptions = { ...c.opts };
  if (c.biasShape) {
    const b = Tensor.randn(c.biasShape, { seed: seed++, std: 2 });
    for (let i = 0; i < b.data.length; i += 7) b.data[i] = -Infinity; // some masked entries
    opts.bias = b;
  }
  if (c.opts?.keyPaddingMask === undefined && (c.padAll || c.padFrom !== undefined)) {
    const m = new Uint8Array(c.B * c.Nk);
    for (let i = 0; i < m.length; i++) m[i] = (i * 2654435761) % 5 === 0 ? 0 : 1;
    for (const b of c.padAll ?? []) m.fill(0, b * c.Nk, (b + 1) * c.Nk);
    if (c.padFrom !== undefined) m.fill(0, c.padFrom, c.Nk);
    opts.keyPaddingMask = Tensor.from(m, [c.B, c.Nk], 'u8');
  }
  return { q, k, v, opts };
}

function oracle(c: Case, q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: AttentionOptions) {
  return ref.attention(q.data, q.shape, k.data, v.data, k.shape, {
    layout: opts.layout,
    causal: opts.causal,
    scale: opts.scale,
    window: opts.window,
    keyPaddingMask: opts.keyPaddingMask ? (opts.keyPaddingMask.data as ArrayLike<number | bigint>) : null,
    bias: opts.bias ? opts.bias.data : null,
    biasShape: c.biasShape,
  });
}

/** Out rel. error; lse rel. error over finite entries, and whether the -inf entries agree exactly. */
function check(c: Case) {
  const { q, k, v, opts } = inputs(c);
  const got = attention(q, k, v, { ...opts, returnLse: true });
  const want = oracle(c, q, k, v, opts);
  return { ...compareAttention(got, want), shape: got.out.shape };
}

const oracleCases: Case[] = [
  { B: 1, Hq: 1, Hkv: 1, Nq: 1, Nk: 1, D: 1 },
  { B: 2, Hq: 4, Hkv: 1, Nq: 3, Nk: 17, D: 7 }, // MQA
  { B: 1, Hq: 4, Hkv: 1, Nq: 64, Nk: 129, D: 32, opts: { layout: 'bnhd' } },
  { B: 1, Hq: 4, Hkv: 2, Nq: 129, Nk: 64, D: 64, opts: { causal: true } }, // Nq > Nk: first rows see nothing
  { B: 1, Hq: 2, Hkv: 2, Nq: 17, Nk: 300, D: 80, opts: { causal: true } }, // decoding: bottom-right
  { B: 1, Hq: 4, Hkv: 1, Nq: 300, Nk: 300, D: 96, opts: { causal: true, layout: 'bnhd' } },
  { B: 2, Hq: 2, Hkv: 1, Nq: 64, Nk: 300, D: 128, padAll: [1] }, // a fully padded batch row
  { B: 1, Hq: 2, Hkv: 2, Nq: 17, Nk: 129, D: 256, biasShape: [1, 2, 17, 129] },
  { B: 2, Hq: 4, Hkv: 4, Nq: 3, Nk: 1, D: 64, opts: { scale: 0.3 } },
  { B: 1, Hq: 8, Hkv: 2, Nq: 1, Nk: 300, D: 64, opts: { causal: true } }, // one-token decode, GQA
];

const optionCases: Case[] = [
  // bias broadcast shapes
  { B: 2, Hq: 3, Hkv: 3, Nq: 17, Nk: 65, D: 32, biasShape: [2, 1, 17, 65] },
  { B: 2, Hq: 3, Hkv: 1, Nq: 17, Nk: 65, D: 32, biasShape: [2, 1, 1, 65] },
  { B: 2, Hq: 3, Hkv: 3, Nq: 17, Nk: 65, D: 16, biasShape: [17, 65] },
  { B: 2, Hq: 3, Hkv: 3, Nq: 17, Nk: 65, D: 16, biasShape: [2, 3, 17, 1] },
  { B: 1, Hq: 2, Hkv: 1, Nq: 129, Nk: 129, D: 64, biasShape: [1, 2, 129, 129], opts: { causal: true, layout: 'bnhd' } },
  // windows (local attention), alone, with causal, with Nq < Nk and Nq > Nk
  { B: 1, Hq: 2, Hkv: 2, Nq: 129, Nk: 129, D: 64, opts: { window: [16, 8] } },
  { B: 1, Hq: 2, Hkv: 1, Nq: 300, Nk: 300, D: 32, opts: { window: [70, 70] } },
  { B: 1, Hq: 2, Hkv: 2, Nq: 64, Nk: 300, D: 32, opts: { window: [5, Infinity], causal: true } },
  { B: 1, Hq: 2, Hkv: 2, Nq: 129, Nk: 17, D: 8, opts: { window: [0, 3] } },
  { B: 1, Hq: 1, Hkv: 1, Nq: 65, Nk: 65, D: 24, opts: { window: [Infinity, 0] } },
  // key padding with causal and window, i32 and i64 masks
  { B: 3, Hq: 2, Hkv: 1, Nq: 65, Nk: 65, D: 40, padAll: [2], opts: { causal: true } },
  { B: 2, Hq: 2, Hkv: 2, Nq: 17, Nk: 129, D: 33, padAll: [0], opts: { window: [20, 20], layout: 'bnhd' } },
  { B: 2, Hq: 4, Hkv: 2, Nq: 70, Nk: 300, D: 48, padFrom: 100 }, // right padding: whole key tiles skipped
  { B: 2, Hq: 2, Hkv: 1, Nq: 300, Nk: 300, D: 16, padFrom: 40, opts: { causal: true } },
  // large scores (> 100): the running maximum must be subtracted
  { B: 1, Hq: 2, Hkv: 2, Nq: 33, Nk: 200, D: 64, std: 4, opts: { scale: 1 } },
];

describe('attention (flash) against the float64 oracle', () => {
  for (const level of levels) {
    it(`matches within 1e-5 for head dims 1..256, GQA/MQA, both layouts, causal (${level})`, () => {
      withIsa(level, () => {
        for (const c of oracleCases) {
          const r = check(c);
          expect([label(c), r.out <= 1e-5, r.lse <= 1e-5, r.infOk, r.nanFree]).toEqual([label(c), true, true, true, true]);
        }
      });
    });

    it(`handles bias broadcasts, windows, key padding and large scores (${level})`, () => {
      withIsa(level, () => {
        for (const c of optionCases) {
          const r = check(c);
          expect([label(c), r.out <= 1e-5, r.lse <= 1e-5, r.infOk, r.nanFree]).toEqual([label(c), true, true, true, true]);
        }
      });
    });
  }

  it('accepts u8, i8, i32 and i64 key padding masks (nonzero = attend) alike', () => {
    const c: Case = { B: 2, Hq: 2, Hkv: 1, Nq: 9, Nk: 70, D: 16 };
    const { q, k, v } = inputs(c);
    const bits = Array.from({ length: 140 }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const u8 = attention(q, k, v, { keyPaddingMask: Tensor.from(bits, [2, 70], 'u8') });
    const want = oracle(c, q, k, v, { keyPaddingMask: Tensor.from(bits, [2, 70], 'u8') });
    expect(relError(u8.data, want.out)).toBeLessThan(1e-5);
    for (const m of [
      Tensor.from(bits.map((b) => b * 5), [2, 70], 'i32'),
      Tensor.from(bits.map((b) => -b), [2, 70], 'i8'),
      Tensor.from(bits.map((b) => BigInt(b)), [2, 70], 'i64'),
    ]) {
      expect(sameBytes(attention(q, k, v, { keyPaddingMask: m }).data, u8.data)).toBe(true);
    }
  });

  it('gives zeros and lse = -Infinity for rows with no visible key, never NaN', () => {
    for (const level of levels) {
      withIsa(level, () => {
        // causal with Nq > Nk: the first Nq - Nk queries see nothing
        const q = Tensor.randn([1, 2, 70, 8], { seed: 1 });
        const k = Tensor.randn([1, 2, 20, 8], { seed: 2 });
        const v = Tensor.randn([1, 2, 20, 8], { seed: 3 });
        const r = attention(q, k, v, { causal: true, returnLse: true });
        for (const h of [0, 1]) {
          const rows = r.out.data.subarray(h * 70 * 8, (h * 70 + 50) * 8);
          expect(rows.every((x) => x === 0)).toBe(true);
          expect(r.lse.data.subarray(h * 70, h * 70 + 50).every((x) => x === -Infinity)).toBe(true);
          expect(r.lse.data.subarray(h * 70 + 50, h * 70 + 70).every(Number.isFinite)).toBe(true);
        }
        // a bias of -Infinity over a whole row, and an all-padding mask
        const bias = Tensor.zeros([1, 1, 70, 20]);
        bias.data.fill(-Infinity, 3 * 20, 4 * 20);
        const rb = attention(q, k, v, { bias, returnLse: true });
        expect(rb.out.data.subarray(3 * 8, 4 * 8).every((x) => x === 0)).toBe(true);
        expect(rb.lse.data[3]).toBe(-Infinity);
        expect(rb.out.data.every((x) => !Number.isNaN(x))).toBe(true);
        const rp = attention(q, k, v, { keyPaddingMask: Tensor.zeros([1, 20], 'u8'), returnLse: true });
        expect(rp.out.data.every((x) => x === 0)).toBe(true);
        expect(rp.lse.data.every((x) => x === -Infinity)).toBe(true);
      });
    }
    // no keys at all, and no queries
    const q = Tensor.randn([1, 2, 3, 4], { seed: 4 });
    const e = attention(q, Tensor.zeros([1, 1, 0, 4]), Tensor.zeros([1, 1, 0, 4]), { returnLse: true });
    expect(e.out.data.every((x) => x === 0)).toBe(true);
    expect(e.lse.data.every((x) => x === -Infinity)).toBe(true);
    expect(attention(Tensor.zeros([1, 2, 0, 4]), Tensor.zeros([1, 1, 5, 4]), Tensor.zeros([1, 1, 5, 4])).shape).toEqual([1, 2, 0, 4]);
  });

  it('grouped-query heads give the same bits as multi-head attention on repeated key/value heads', () => {
    // GQA rows of several query heads share tiles; each row's arithmetic must not change
    const q = Tensor.randn([2, 8, 37, 24], { seed: 31 });
    const k = Tensor.randn([2, 2, 50, 24], { seed: 32 });
    const v = Tensor.randn([2, 2, 50, 24], { seed: 33 });
    const rep = (t: Tensor<'f32'>) => {
      const out = Tensor.zeros([2, 8, 50, 24]);
      const n = 50 * 24;
      for (let b = 0; b < 2; b++) for (let h = 0; h < 8; h++) out.data.set(t.data.subarray((b * 2 + (h >> 2)) * n, (b * 2 + (h >> 2) + 1) * n), (b * 8 + h) * n);
      return out;
    };
    const bias = Tensor.randn([1, 8, 37, 50], { seed: 34 });
    for (const level of levels) {
      withIsa(level, () => {
        for (const opts of [{ causal: true }, { window: [9, 3] as const, bias }, { keyPaddingMask: Tensor.from(Array.from({ length: 100 }, (_, i) => (i % 7 ? 1 : 0)), [2, 50], 'u8') }]) {
          const g = attention(q, k, v, { ...opts, returnLse: true });
          const m = attention(q, rep(k), rep(v), { ...opts, returnLse: true });
          expect([level, sameBytes(g.out.data, m.out.data), sameBytes(g.lse.data, m.lse.data)]).toEqual([level, true, true]);
        }
      });
    }
  });

  it("'bnhd' (keys and values repacked once) gives the same bits as 'bhnd' on permuted inputs", () => {
    const q = Tensor.randn([2, 3, 77, 40], { seed: 11 }); // bhnd
    const k = Tensor.randn([2, 1, 90, 40], { seed: 12 });
    const v = Tensor.randn([2, 1, 90, 40], { seed: 13 });
    const a = attention(q, k, v, { causal: true });
    const p = (t: Tensor<'f32'>) => permute(t, [0, 2, 1, 3]);
    const b = attention(p(q), p(k), p(v), { causal: true, layout: 'bnhd' });
    expect(b.shape).toEqual([2, 77, 3, 40]);
    expect(sameBytes(p(b).data, a.data)).toBe(true);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const q = Tensor.randn([2, 4, 150, 64], { seed: 21 });
    const k = Tensor.randn([2, 2, 170, 64], { seed: 22 });
    const v = Tensor.randn([2, 2, 170, 64], { seed: 23 });
    const bias = Tensor.randn([1, 4, 150, 170], { seed: 24 });
    const opts: AttentionOptions = { causal: true, bias, window: [100, 10], keyPaddingMask: Tensor.full([2, 170], 1, 'u8') };
    for (const level of levels) {
      withIsa(level, () => {
        const one = withThreads(1, () => attention(q, k, v, { ...opts, returnLse: true }));
        const three = withThreads(3, () => attention(q, k, v, { ...opts, returnLse: true }));
        expect(sameBytes(one.out.data, three.out.data)).toBe(true);
        expect(sameBytes(one.lse.data, three.lse.data)).toBe(true);
      });
    }
    const sync = attention(q, k, v, { ...opts, returnLse: true });
    const asy = await attentionAsync(q, k, v, { ...opts, returnLse: true });
    expect(sameBytes(asy.out.data, sync.out.data)).toBe(true);
    expect(sameBytes(asy.lse.data, sync.lse.data)).toBe(true);
    expect(sameBytes((await attentionAsync(q, k, v)).data, attention(q, k, v).data)).toBe(true);
  });

  it('writes into opts.out (prefilled with NaN: the same bits as a fresh output, the same tensor back), async too', async () => {
    const empty: Case[] = [{ B: 1, Hq: 2, Hkv: 1, Nq: 3, Nk: 0, D: 4 }, { B: 1, Hq: 2, Hkv: 2, Nq: 0, Nk: 5, D: 4 }];
    for (const c of [...oracleCases, ...optionCases, ...empty]) {
      const { q, k, v, opts } = inputs(c);
      await expectOutReuse(label(c), q.shape, (out) => attention(q, k, v, { ...opts, out }));
      await expectOutReuse(`${label(c)} lse`, q.shape, (out) => attention(q, k, v, { ...opts, returnLse: true, out }));
      await expectOutReuse(`${label(c)} async`, q.shape, (out) => attentionAsync(q, k, v, { ...opts, returnLse: true, out }));
    }
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input', async () => {
    const q = Tensor.randn([1, 4, 5, 8], { seed: 31 });
    const k = Tensor.randn([1, 2, 6, 8], { seed: 32 });
    const v = Tensor.randn([1, 2, 6, 8], { seed: 33 });
    const bias = Tensor.randn([1, 4, 5, 6], { seed: 34 });
    const keyPaddingMask = Tensor.full([1, 6], 1, 'u8');
    for (const layout of ['bhnd', 'bnhd'] as const) {
      const [qs, ks, vs] = layout === 'bhnd' ? [q, k, v] : [q.reshape([1, 5, 4, 8]), k.reshape([1, 6, 2, 8]), v.reshape([1, 6, 2, 8])];
      expectOutErrors(qs.shape, { q: qs, k: ks, v: vs, bias, keyPaddingMask }, (out, x) =>
        attention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, {
          layout,
          bias: x.bias as Tensor<'f32'>,
          keyPaddingMask: x.keyPaddingMask as Tensor<'u8'>,
          returnLse: true,
          out: out as Tensor<'f32'>,
        }),
      );
    }
    await expect(attentionAsync(q, k, v, { out: Tensor.zeros([1, 4, 5, 7]) })).rejects.toThrow(/opts\.out must have shape/);
    await expect(attentionAsync(q, k, v, { out: q })).rejects.toThrow(/opts\.out must not share memory with an input/);
  });

  it('rejects bad arguments with TypeError/RangeError naming them', () => {
    const q = Tensor.zeros([1, 4, 5, 8]);
    const k = Tensor.zeros([1, 2, 6, 8]);
    const v = Tensor.zeros([1, 2, 6, 8]);
    const bad = (fn: () => unknown, type: ErrorConstructor, re: RegExp) => {
      expect(fn).toThrow(type);
      expect(fn).toThrow(re);
    };
    bad(() => attention(Tensor.zeros([4, 5, 8]), k, v), RangeError, /q must have 4 dimensions/);
    bad(() => attention(q, k, Tensor.zeros([1, 2, 7, 8])), RangeError, /k and v must have the same shape/);
    bad(() => attention(q, Tensor.zeros([2, 2, 6, 8]), Tensor.zeros([2, 2, 6, 8])), RangeError, /batch size/);
    bad(() => attention(q, Tensor.zeros([1, 3, 6, 8]), Tensor.zeros([1, 3, 6, 8])), RangeError, /heads \(4\) must be a multiple of k's and v's heads \(3\)/);
    bad(() => attention(q, Tensor.zeros([1, 2, 6, 9]), Tensor.zeros([1, 2, 6, 9])), RangeError, /head dim D = 8, got 9/);
    const big = Tensor.zeros([1, 1, 1, 257]);
    bad(() => attention(big, big, big), RangeError, /D must be in \[1, 256\], got 257/);
    bad(() => attention(q, Tensor.zeros([1, 2, 6, 8], 'i32') as never, v), TypeError, /k must have dtype f32/);
    bad(() => attention(q, k, v, { layout: 'nhd' as never }), RangeError, /layout must be 'bhnd'/);
    bad(() => attention(q, k, v, { window: [1] as never }), TypeError, /window must be an array/);
    bad(() => attention(q, k, v, { window: [-1, 2] }), RangeError, /window\[0\] must be a non-negative integer/);
    bad(() => attention(q, k, v, { window: [1, 2.5] }), TypeError, /window\[1\]/);
    bad(() => attention(q, k, v, { keyPaddingMask: Tensor.zeros([1, 5], 'u8') }), RangeError, /keyPaddingMask must have shape \[B, Nk\] = \[1, 6\], got \[1, 5\]/);
    bad(() => attention(q, k, v, { keyPaddingMask: Tensor.zeros([1, 6]) as never }), TypeError, /keyPaddingMask must have dtype u8, i8, i32 or i64/);
    bad(() => attention(q, k, v, { bias: Tensor.zeros([1, 3, 5, 6]) }), RangeError, /bias of shape \[1, 3, 5, 6\] does not broadcast to \[B, Hq, Nq, Nk\] = \[1, 4, 5, 6\] \(axis -3: 3 vs 4\)/);
    bad(() => attention(q, k, v, { bias: Tensor.zeros([1, 1, 1, 5, 6]) }), RangeError, /more than 4 dimensions/);
    bad(() => attention(q, k, v, { bias: Tensor.zeros([6], 'i32') as never }), TypeError, /bias must have dtype f32/);
    bad(() => attention(q, k, v, { scale: NaN }), RangeError, /scale must be a finite number/);
    bad(() => attention(q, k, v, { causal: 1 as never }), TypeError, /causal must be a boolean/);
    bad(() => binding.attention(q, k, v, 5 as never), TypeError, /opts must be an object/);
    bad(() => binding.attentionAsync(q, k, { data: new Float32Array(3), shape: [1, 2, 6, 8], dtype: 'f32' }), RangeError, /v\.data has 3 elements/);
  });
});
