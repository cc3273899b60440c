import { describe, expect, it } from 'vitest';

import { Rng } from '../lib/random';
import { attention, longformerAttention, longformerAttentionAsync, type LongformerAttentionOptions } from '../lib/ops/attention';
import { Tensor } from '../lib/tensor';
import { expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import { encoderLayer, fixture, worstExcess } from './encoder-layer';
import * as ref from './reference/longformer-attention';

interface Case {
  B: number;
  H: number;
  N: number;
  D: number;
  window: number;
  layout?: 'bhnd' | 'bnhd';
  /** per batch row: the number of padded tokens at the end */
  pad?: number[];
  /** per batch row: how many global tokens (drawn at random among the unpadded ones) */
  globals?: number[];
}

let seed = 9100;
function inputs(c: Case) {
  const shape = c.layout === 'bnhd' ? [c.B, c.N, c.H, c.D] : [c.B, c.H, c.N, c.D];
  const t = () => Tensor.randn(shape, { seed: seed++ });
  const opts: LongformerAttentionOptions = { window: c.window, layout: c.layout };
  if (c.pad) {
    const m = new BigInt64Array(c.B * c.N);
    for (let b = 0; b < c.B; b++) for (let i = 0; i < c.N - c.pad[b]; i++) m[b * c.N + i] = 1n;
    opts.attentionMask = Tensor.from(m, [c.B, c.N], 'i64');
  }
  if (c.globals) {
    const rng = new Rng(seed++);
    const g = new Uint8Array(c.B * c.N);
    for (let b = 0; b < c.B; b++) {
      const n = c.N - (c.pad?.[b] ?? 0);
      for (let k = 0; k < c.globals[b]; k++) g[b * c.N + rng.int(n)] = 1;
    }
    if (c.pad) g[c.B * c.N - 1] = 1; // a padded token marked global stays padding (upstream merges the masks)
    opts.globalAttentionMask = Tensor.from(g, [c.B, c.N], 'u8');
    opts.globalQ = t();
    opts.globalK = t();
    opts.globalV = t();
  }
  return { q: t(), k: t(), v: t(), shape, opts };
}

function check(c: Case) {
  const { q, k, v, shape, opts } = inputs(c);
  const got = longformerAttention(q, k, v, opts);
  const want = ref.longformerAttention(q.data, k.data, v.data, shape, {
    window: c.window,
    layout: c.layout,
    attentionMask: opts.attentionMask?.data as BigInt64Array | undefined,
    globalAttentionMask: opts.globalAttentionMask?.data as Uint8Array | undefined,
    globalQ: opts.globalQ?.data,
    globalK: opts.globalK?.data,
    globalV: opts.globalV?.data,
  });
  expect(got.shape).toEqual(shape);
  return { err: relError(got.data, want), nanFree: got.data.every((x) => !Number.isNaN(x)) };
}

const cases: Case[] = [
  { B: 2, H: 2, N: 22, D: 16, window: 4, pad: [0, 5], globals: [2, 1] },
  { B: 3, H: 3, N: 100, D: 7, window: 10, pad: [0, 17, 60], globals: [4, 0, 2] }, // a row with no global token
  { B: 1, H: 2, N: 200, D: 64, window: 32, layout: 'bnhd', globals: [5] },
  { B: 2, H: 1, N: 130, D: 33, window: 64, pad: [3, 0] }, // no global token at all
  { B: 1, H: 2, N: 9, D: 8, window: 40, globals: [3] }, // window wider than the sequence
  { B: 2, H: 2, N: 300, D: 32, window: 2, pad: [100, 0], globals: [70, 1], layout: 'bnhd' }, // many globals (> one tile)
  { B: 1, H: 1, N: 1, D: 5, window: 2 },
];

const label = (c: Case) => `B${c.B} H${c.H} N${c.N} D${c.D} w${c.window}${c.layout ? ' ' + c.layout : ''}${c.pad ? ' pad' : ''}${c.globals ? ' globals ' + c.globals.join(',') : ''}`;

describe('longformerAttention', () => {
  for (const level of levels) {
    it(`matches the float64 oracle of upstream's LongformerSelfAttention within 1e-5 (${level})`, () => {
      withIsa(level, () => {
        for (const c of cases) {
          const r = check(c);
          expect(r.err, label(c)).toBeLessThanOrEqual(1e-5);
          expect(r.nanFree, label(c)).toBe(true);
        }
      });
    });
  }

  it('with no global token equals windowed flash attention (padded queries zeroed)', () => {
    const q = Tensor.randn([2, 3, 150, 32], { seed: 1 });
    const k = Tensor.randn([2, 3, 150, 32], { seed: 2 });
    const v = Tensor.randn([2, 3, 150, 32], { seed: 3 });
    const m = new Uint8Array(300).fill(1);
    const a = longformerAttention(q, k, v, { window: 20, attentionMask: Tensor.from(m, [2, 150], 'u8') });
    const f = attention(q, k, v, { window: [10, 10] });
    expect(relError(a.data, f.data)).toBeLessThanOrEqual(1e-6);
    m.fill(0, 280);
    const ap = longformerAttention(q, k, v, { window: 20, attentionMask: Tensor.from(m, [2, 150], 'u8') });
    const fp = attention(q, k, v, { window: [10, 10], keyPaddingMask: Tensor.from(m, [2, 150], 'u8') }).data.slice();
    for (let h = 0; h < 3; h++) fp.fill(0, ((1 * 3 + h) * 150 + 130) * 32, ((1 * 3 + h) * 150 + 150) * 32);
    expect(relError(ap.data, fp)).toBeLessThanOrEqual(1e-6);
  });

  it('is bitwise the same on 1 and N threads, and async equals sync', async () => {
    const { q, k, v, opts } = inputs({ B: 2, H: 4, N: 333, D: 64, window: 64, pad: [0, 40], globals: [3, 2] });
    const one = withThreads(1, () => longformerAttention(q, k, v, opts));
    const many = withThreads(4, () => longformerAttention(q, k, v, opts));
    expect(sameBytes(one.data, many.data)).toBe(true);
    const asy = await longformerAttentionAsync(q, k, v, opts);
    expect(sameBytes(asy.data, one.data)).toBe(true);
  });

  it('writes into opts.out (prefilled with NaN: padded and global rows too; the same bits, the same tensor back), async too', async () => {
    for (const c of cases) {
      const { q, k, v, shape, opts } = inputs(c);
      await expectOutReuse(label(c), shape, (out) => longformerAttention(q, k, v, { ...opts, out }));
      await expectOutReuse(`${label(c)} async`, shape, (out) => longformerAttentionAsync(q, k, v, { ...opts, out }));
    }
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (masks, global projections)', async () => {
    const { q, k, v, shape, opts } = inputs({ B: 2, H: 2, N: 22, D: 16, window: 4, pad: [0, 5], globals: [2, 1] });
    const { attentionMask, globalAttentionMask, globalQ, globalK, globalV } = opts;
    expectOutErrors(shape, { q, k, v, attentionMask: attentionMask!, globalAttentionMask: globalAttentionMask!, globalQ: globalQ!, globalK: globalK!, globalV: globalV! }, (out, x) =>
      longformerAttention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, {
        window: 4,
        attentionMask: x.attentionMask as Tensor<'i64'>,
        globalAttentionMask: x.globalAttentionMask as Tensor<'u8'>,
        globalQ: x.globalQ as Tensor<'f32'>,
        globalK: x.globalK as Tensor<'f32'>,
        globalV: x.globalV as Tensor<'f32'>,
        out: out as Tensor<'f32'>,
      }),
    );
    await expect(longformerAttentionAsync(q, k, v, { ...opts, out: globalV })).rejects.toThrow(/opts\.out must not share memory/);
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const q = Tensor.randn([1, 2, 16, 8], { seed: 6 });
    const g = Tensor.from(new Uint8Array(16).fill(1, 0, 1), [1, 16], 'u8');
    const bad: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => longformerAttention(q, q, q, {} as LongformerAttentionOptions), TypeError, /opts.window/],
      [() => longformerAttention(q, q, q, undefined as unknown as LongformerAttentionOptions), TypeError, /opts/],
      [() => longformerAttention(q, q, q, { window: 3 }), RangeError, /opts.window must be even/],
      [() => longformerAttention(q, q, q, { window: 0 }), RangeError, /opts.window/],
      [() => longformerAttention(q, q, q, { window: 2.5 }), TypeError, /opts.window/],
      [() => longformerAttention(q, q, q, { window: 4, globalAttentionMask: g }), TypeError, /opts.globalQ is required/],
      [() => longformerAttention(q, q, q, { window: 4, globalAttentionMask: g, globalQ: q, globalK: q }), TypeError, /opts.globalV/],
      [() => longformerAttention(q, q, q, { window: 4, globalAttentionMask: g, globalQ: q, globalK: q, globalV: Tensor.randn([1, 2, 15, 8]) }), RangeError, /opts.globalV must have the shape/],
      [() => longformerAttention(q, q, q, { window: 4, globalAttentionMask: Tensor.from(new Uint8Array(15), [1, 15], 'u8') }), RangeError, /opts.globalAttentionMask must have shape/],
      [() => longformerAttention(q, q, q, { window: 4, globalAttentionMask: Tensor.zeros([1, 16]) as unknown as Tensor<'u8'> }), TypeError, /opts.globalAttentionMask must have dtype/],
      [() => longformerAttention(q, q, q, { window: 4, attentionMask: Tensor.from(new Uint8Array(15), [1, 15], 'u8') }), RangeError, /attentionMask must have shape/],
      [() => longformerAttention(q, Tensor.randn([1, 2, 12, 8]), Tensor.randn([1, 2, 12, 8]), { window: 4 }), RangeError, /same sequence length/],
      [() => longformerAttention(q, q, q, { window: 4, causal: true } as LongformerAttentionOptions), TypeError, /opts.causal is not an option/],
      [() => longformerAttention(q, q, q, { window: 4, layout: 'x' as 'bhnd' }), RangeError, /opts.layout/],
      [() => longformerAttention(Tensor.randn([2, 16, 8]), q, q, { window: 4 }), RangeError, /q must have 4 dimensions/],
    ];
    for (const [fn, type, re] of bad) {
      expect(fn).toThrow(type);
      expect(fn).toThrow(re);
    }
  });
});

describe('longformerAttention in layer 0 of the Hugging Face fixture (test/fixtures/hf/longformer)', () => {
  it('reproduces output.hidden_states.1 from output.hidden_states.0 (atol/rtol 1e-4)', () => {
    const { model, io } = fixture('longformer');
    const x = io.tensor('output.hidden_states.0') as Tensor<'f32'>;
    const attentionMask = io.tensor('input.attention_mask') as Tensor<'i64'>;
    const globalAttentionMask = io.tensor('input.global_attention_mask') as Tensor<'i64'>;
    // global tokens differ per batch row, and the fixture has padding
    expect(Array.from(globalAttentionMask.data).some((g) => g !== 0n)).toBe(true);
    expect(Array.from(attentionMask.data).some((m) => m === 0n)).toBe(true);
    const y = encoderLayer(model, 0, x, 2, 'gelu', (p) =>
      longformerAttention(p('query'), p('key'), p('value'), {
        window: 4,
        layout: 'bnhd',
        attentionMask,
        globalAttentionMask,
        globalQ: p('query_global'),
        globalK: p('key_global'),
        globalV: p('value_global'),
      }),
    );
    const want = io.tensor('output.hidden_states.1') as Tensor<'f32'>;
    expect(y.shape).toEqual(want.shape);
    expect(worstExcess(y.data, want.data)).toBeLessThanOrEqual(0);
  });
});
