import { describe, expect, it } from 'vitest';

import { Rng } from '../lib/random';
import { attention, blockSparseAttention, blockSparseAttentionAsync, type BlockSparseAttentionOptions } from '../lib/ops/attention';
import { bigbirdLayout, bslongformerLayout } from '../lib/ops/layouts';
import { Tensor } from '../lib/tensor';
import { compareAttention, expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/blocksparse';

interface Case {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  block: number;
  /** Layout heads: 1 (shared) or Hq. */
  lh: number;
  /** Probability that a block is present. */
  density: number;
  opts?: Omit<BlockSparseAttentionOptions, 'block'>;
  pad?: boolean;
}

let seed = 7000;
function randomLayout(lh: number, nqb: number, nkb: number, density: number, s: number): Tensor<'u8'> {
  const rng = new Rng(s);
  const l = new Uint8Array(lh * nqb * nkb);
  for (let i = 0; i < l.length; i++) l[i] = rng.next() < density ? 1 : 0;
  // an empty query-block row when there are several, to check the zero-row convention
  if (nqb > 2) l.fill(0, nkb, 2 * nkb);
  return Tensor.from(l, [lh, nqb, nkb], 'u8');
}

function inputs(c: Case) {
  const bnhd = c.opts?.layout === 'bnhd';
  const qs = bnhd ? [c.B, c.Nq, c.Hq, c.D] : [c.B, c.Hq, c.Nq, c.D];
  const ks = bnhd ? [c.B, c.Nk, c.Hkv, c.D] : [c.B, c.Hkv, c.Nk, c.D];
  const q = Tensor.randn(qs, { seed: seed++ });
  const k = Tensor.randn(ks, { seed: seed++ });
  const v = Tensor.randn(ks, { seed: seed++ });
  const layout = randomLayout(c.lh, c.Nq / c.block, c.Nk / c.block, c.density, seed++);
  const opts: BlockSparseAttentionOptions = { block: c.block, ...c.opts };
  if (c.pad) {
    const m = new Uint8Array(c.B * c.Nk);
    for (let i = 0; i < m.length; i++) m[i] = (i * 2654435761) % 5 === 0 ? 0 : 1;
    opts.keyPaddingMask = Tensor.from(m, [c.B, c.Nk], 'u8');
  }
  return { q, k, v, layout, opts };
}

function check(c: Case) {
  const { q, k, v, layout, opts } = inputs(c);
  const got = blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true });
  const want = ref.blockSparseAttention(q.data, q.shape, k.data, v.data, k.shape, layout.data, c.lh, {
    block: c.block,
    layout: opts.layout,
    causal: opts.causal,
    scale: opts.scale,
    keyPaddingMask: opts.keyPaddingMask ? (opts.keyPaddingMask.data as ArrayLike<number>) : null,
  });
  return compareAttention(got, want);
}

const cases: Case[] = [
  { B: 1, Hq: 2, Hkv: 2, Nq: 32, Nk: 32, D: 8, block: 8, lh: 2, density: 0.5 },
  { B: 2, Hq: 3, Hkv: 1, Nq: 48, Nk: 64, D: 7, block: 16, lh: 3, density: 0.6, opts: { causal: true } },
  { B: 1, Hq: 4, Hkv: 2, Nq: 128, Nk: 128, D: 64, block: 32, lh: 4, density: 0.4, opts: { layout: 'bnhd' } },
  { B: 1, Hq: 2, Hkv: 2, Nq: 128, Nk: 192, D: 32, block: 64, lh: 1, density: 0.7, opts: { causal: true }, pad: true },
  { B: 1, Hq: 2, Hkv: 1, Nq: 256, Nk: 256, D: 80, block: 128, lh: 2, density: 0.6, opts: { causal: true, layout: 'bnhd' } },
  { B: 1, Hq: 2, Hkv: 2, Nq: 120, Nk: 120, D: 16, block: 24, lh: 2, density: 0.5, opts: { scale: 0.3 } }, // odd block
  { B: 1, Hq: 1, Hkv: 1, Nq: 80, Nk: 80, D: 128, block: 40, lh: 1, density: 0.8, opts: { causal: true }, pad: true },
  { B: 2, Hq: 2, Hkv: 1, Nq: 64, Nk: 32, D: 1, block: 16, lh: 2, density: 0.9, opts: { causal: true } }, // Nq > Nk: first rows see nothing
  { B: 1, Hq: 2, Hkv: 2, Nq: 16, Nk: 256, D: 96, block: 16, lh: 1, density: 0.5, opts: { causal: true, layout: 'bnhd' } }, // decode-like
];

function label(c: Case) {
  const o = c.opts ?? {};
  return `B${c.B} Hq${c.Hq} Hkv${c.Hkv} Nq${c.Nq} Nk${c.Nk} D${c.D} block${c.block} lh${c.lh}${o.layout ? ' ' + o.layout : ''}${o.causal ? ' causal' : ''}${c.pad ? ' padding' : ''}`;
}

describe('blockSparseAttention', () => {
  for (const level of levels) {
    it(`matches the float64 masked oracle within 1e-5 (block 8..128, per-head layouts, causal, GQA) (${level})`, () => {
      withIsa(level, () => {
        for (const c of cases) {
          const r = check(c);
          expect(r.out, label(c)).toBeLessThanOrEqual(1e-5);
          expect(r.lse, label(c)).toBeLessThanOrEqual(1e-5);
          expect(r.infOk, label(c)).toBe(true);
          expect(r.nanFree, label(c)).toBe(true);
        }
      });
    });

    it(`with every block present equals flash attention (${level})`, () => {
      withIsa(level, () => {
        for (const [block, causal, layout] of [
          [16, false, 'bhnd'],
          [64, true, 'bnhd'],
          [8, true, 'bhnd'],
        ] as const) {
          const N = 128;
          const [qs, ks] = layout === 'bnhd' ? [[2, N, 4, 64], [2, N, 2, 64]] : [[2, 4, N, 64], [2, 2, N, 64]];
          const q = Tensor.randn(qs, { seed: seed++ });
          const k = Tensor.randn(ks, { seed: seed++ });
          const v = Tensor.randn(ks, { seed: seed++ });
          const all = Tensor.full([1, N / block, N / block], 1, 'u8');
          const a = blockSparseAttention(q, k, v, all, { block, causal, layout, returnLse: true });
          const f = attention(q, k, v, { causal, layout, returnLse: true });
          expect(relError(a.out.data, f.out.data), `block ${block}`).toBeLessThanOrEqual(1e-6);
          expect(relError(a.lse.data, f.lse.data), `block ${block}`).toBeLessThanOrEqual(1e-6);
        }
      });
    });
  }

  // The benchmark's layouts: runs of consecutive present blocks (window), scattered ones (global column, random
  // blocks), a global row of every block, and causal diagonal blocks (per-query-group staircase), at every
  // block size; rows not a multiple of the query tile, in both modes.
  it('BigBird and BSLongformer layouts at blocks 8..128 match the oracle, causal or not, bitwise on 1 and 3 threads', () => {
    for (const block of [8, 16, 24, 32, 64, 128]) {
      const N = block * 6;
      const H = 2;
      const q = Tensor.randn([1, H, N, 64], { seed: seed++ });
      const k = Tensor.randn([1, H, N, 64], { seed: seed++ });
      const v = Tensor.randn([1, H, N, 64], { seed: seed++ });
      for (const build of [bigbirdLayout, bslongformerLayout]) {
        for (const causal of [false, true]) {
          const layout = build({ numHeads: H, block, seqLen: N, seed: 3, attention: causal ? 'unidirectional' : 'bidirectional' });
          const what = `${build.name} block ${block}${causal ? ' causal' : ''}`;
          const got = withThreads(1, () => blockSparseAttention(q, k, v, layout, { block, causal, returnLse: true }));
          const want = ref.blockSparseAttention(q.data, q.shape, k.data, v.data, k.shape, layout.data, H, { block, causal });
          const r = compareAttention(got, want);
          expect([what, r.out <= 1e-5, r.lse <= 1e-5, r.infOk, r.nanFree]).toEqual([what, true, true, true, true]);
          const many = withThreads(3, () => blockSparseAttention(q, k, v, layout, { block, causal }));
          expect(sameBytes(got.out.data, many.data), what).toBe(true);
        }
      }
    }
  });

  // Small blocks, where an item is one short block row: O rows are set by their first update (never zeroed up
  // front; rows that see no key are zeroed at the end, even in an output prefilled with NaN), the next item's
  // query rows are prefetched, and on causal diagonal blocks the staircase's later query groups take at least two
  // vectors of columns in Q·Kᵀ. Blocks 8..32 (9, 12 and 20: not whole vectors), an odd number of block rows (and an
  // odd N), per-head random layouts with empty rows, causal with Nq = Nk and Nq > Nk (first rows see nothing), both
  // tensor layouts, GQA, D not a multiple of 8; 1 and 2 threads bitwise, at every dispatch level.
  it('small blocks (8..40, odd row counts, causal diagonals, per-head layouts) match the oracle, bitwise on 1 and 2 threads, NaN-prefilled out', async () => {
    const small: Case[] = [
      { B: 1, Hq: 2, Hkv: 2, Nq: 56, Nk: 56, D: 64, block: 8, lh: 2, density: 0.5, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 1, Nq: 63, Nk: 63, D: 20, block: 9, lh: 2, density: 0.6, opts: { causal: true } }, // odd N
      { B: 2, Hq: 2, Hkv: 2, Nq: 84, Nk: 60, D: 33, block: 12, lh: 2, density: 0.7, opts: { causal: true, layout: 'bnhd' } },
      { B: 1, Hq: 3, Hkv: 3, Nq: 112, Nk: 112, D: 64, block: 16, lh: 3, density: 0.4, opts: { causal: true }, pad: true },
      { B: 1, Hq: 2, Hkv: 2, Nq: 112, Nk: 80, D: 48, block: 16, lh: 1, density: 0.8, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 140, Nk: 140, D: 40, block: 20, lh: 2, density: 0.5, opts: { causal: true, layout: 'bnhd' } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 168, Nk: 168, D: 64, block: 24, lh: 2, density: 0.5, opts: { causal: true } },
      { B: 1, Hq: 4, Hkv: 2, Nq: 224, Nk: 224, D: 64, block: 32, lh: 4, density: 0.3, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 224, Nk: 224, D: 64, block: 32, lh: 2, density: 0.3 },
      { B: 2, Hq: 2, Hkv: 2, Nq: 112, Nk: 112, D: 16, block: 16, lh: 2, density: 0.5, opts: { layout: 'bnhd' } },
      // Q read 8 rows x 8 at a time, scaled while transposed (AVX2): strided rows with GQA and padding; and block
      // rows of 24 and 40 (whole groups of 8, Nq > Nk) beside the fallback shapes above (9, 12, 20 rows; D 20, 33)
      { B: 2, Hq: 4, Hkv: 2, Nq: 96, Nk: 96, D: 32, block: 16, lh: 4, density: 0.5, opts: { causal: true, layout: 'bnhd' }, pad: true },
      { B: 1, Hq: 2, Hkv: 2, Nq: 120, Nk: 96, D: 24, block: 24, lh: 1, density: 0.6, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 1, Nq: 200, Nk: 200, D: 64, block: 40, lh: 2, density: 0.4 },
    ];
    for (const level of levels) {
      withIsa(level, () => {
        for (const c of small) {
          const what = `${label(c)} (${level})`;
          const r = check(c);
          expect([what, r.out <= 1e-5, r.lse <= 1e-5, r.infOk, r.nanFree]).toEqual([what, true, true, true, true]);
          const { q, k, v, layout, opts } = inputs(c);
          const one = withThreads(1, () => blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true }));
          const two = withThreads(2, () => blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true }));
          expect(sameBytes(one.out.data, two.out.data), what).toBe(true);
          expect(sameBytes(one.lse.data, two.lse.data), what).toBe(true);
        }
      });
    }
    for (const c of small) {
      const { q, k, v, layout, opts } = inputs(c);
      await expectOutReuse(label(c), q.shape, (out) => blockSparseAttention(q, k, v, layout, { ...opts, out }));
    }
  });

  // More small-block shapes (blocks 8..32): D 1..128 (not multiples of 8 too), Nq < Nk and Nq > Nk (rows that see
  // nothing), per-head and shared layouts with empty rows, GQA, both tensor layouts, dense rows of up to 512 keys
  // (several key batches per block row); 1, 2 and 3 threads bitwise, at every level.
  it('small blocks (8..32, GQA, Nq != Nk, several key batches a row) match the oracle, bitwise on 1, 2 and 3 threads', () => {
    const moreSmall: Case[] = [
      { B: 1, Hq: 2, Hkv: 2, Nq: 56, Nk: 56, D: 64, block: 8, lh: 2, density: 0.5, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 1, Nq: 64, Nk: 64, D: 1, block: 8, lh: 1, density: 0.9 },
      { B: 2, Hq: 4, Hkv: 2, Nq: 48, Nk: 96, D: 7, block: 16, lh: 4, density: 0.6, opts: { causal: true, layout: 'bnhd' } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 96, Nk: 48, D: 64, block: 16, lh: 2, density: 0.9, opts: { causal: true } }, // first rows see nothing
      { B: 1, Hq: 2, Hkv: 2, Nq: 448, Nk: 448, D: 64, block: 16, lh: 2, density: 0.95 }, // up to 448 keys a row
      { B: 1, Hq: 2, Hkv: 2, Nq: 448, Nk: 448, D: 32, block: 16, lh: 1, density: 0.95, opts: { causal: true, scale: 0.2 } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 120, Nk: 120, D: 33, block: 24, lh: 1, density: 0.5 },
      { B: 2, Hq: 2, Hkv: 1, Nq: 144, Nk: 144, D: 20, block: 24, lh: 2, density: 0.6, opts: { causal: true, layout: 'bnhd' } },
      { B: 1, Hq: 3, Hkv: 1, Nq: 160, Nk: 160, D: 80, block: 32, lh: 3, density: 0.5, opts: { causal: true, layout: 'bnhd' } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 64, Nk: 256, D: 128, block: 32, lh: 2, density: 0.7, opts: { causal: true } },
      { B: 1, Hq: 2, Hkv: 2, Nq: 512, Nk: 512, D: 64, block: 32, lh: 2, density: 1, opts: { causal: true } },
    ];
    for (const level of levels) {
      withIsa(level, () => {
        for (const c of moreSmall) {
          const what = `${label(c)} (${level})`;
          const r = check(c);
          expect([what, r.out <= 1e-5, r.lse <= 1e-5, r.infOk, r.nanFree]).toEqual([what, true, true, true, true]);
          const { q, k, v, layout, opts } = inputs(c);
          const one = withThreads(1, () => blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true }));
          for (const n of [2, 3]) {
            const more = withThreads(n, () => blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true }));
            expect([what, n, sameBytes(one.out.data, more.out.data), sameBytes(one.lse.data, more.lse.data)]).toEqual([what, n, true, true]);
          }
        }
      });
    }
  });

  it('small blocks (8..32, GQA, Nq != Nk, both layouts) with every block present equal flash attention within 1e-6', () => {
    for (const level of levels) {
      withIsa(level, () => {
        for (const [block, causal, layout, Nq, Nk, D] of [
          [8, true, 'bhnd', 64, 64, 64],
          [16, false, 'bnhd', 96, 96, 48],
          [16, true, 'bhnd', 64, 192, 64],
          [24, true, 'bnhd', 96, 144, 40],
          [32, false, 'bhnd', 256, 256, 64],
          [32, true, 'bhnd', 320, 320, 96],
        ] as const) {
          const [qs, ks] = layout === 'bnhd' ? [[1, Nq, 4, D], [1, Nk, 2, D]] : [[1, 4, Nq, D], [1, 2, Nk, D]];
          const q = Tensor.randn(qs, { seed: seed++ });
          const k = Tensor.randn(ks, { seed: seed++ });
          const v = Tensor.randn(ks, { seed: seed++ });
          const all = Tensor.full([1, Nq / block, Nk / block], 1, 'u8');
          const a = blockSparseAttention(q, k, v, all, { block, causal, layout, returnLse: true });
          const f = attention(q, k, v, { causal, layout, returnLse: true });
          const what = `block ${block}${causal ? ' causal' : ''} ${layout} Nq ${Nq} Nk ${Nk} (${level})`;
          expect([what, relError(a.out.data, f.out.data) <= 1e-6, relError(a.lse.data, f.lse.data) <= 1e-6]).toEqual([what, true, true]);
        }
      });
    }
  });

  it('a shared layout ([1, ...] or 2-D) equals the same layout repeated per head', () => {
    const c = { B: 1, Hq: 3, Hkv: 3, Nq: 64, Nk: 64, D: 16 };
    const q = Tensor.randn([1, 3, 64, 16], { seed: 1 });
    const k = Tensor.randn([1, 3, 64, 16], { seed: 2 });
    const v = Tensor.randn([1, 3, 64, 16], { seed: 3 });
    const l1 = randomLayout(1, 4, 4, 0.5, 4);
    const l3 = new Uint8Array(3 * 16);
    for (let h = 0; h < 3; h++) l3.set(l1.data, h * 16);
    const a = blockSparseAttention(q, k, v, l1, { block: 16 });
    const b = blockSparseAttention(q, k, v, Tensor.from(l3, [3, 4, 4], 'u8'), { block: 16 });
    const d = blockSparseAttention(q, k, v, Tensor.from(Int32Array.from(l1.data), [4, 4], 'i32'), { block: 16 });
    expect(sameBytes(a.data, b.data)).toBe(true);
    expect(sameBytes(a.data, d.data)).toBe(true);
    expect(c.Hq).toBe(3);
  });

  it('reads a sparse layout the same in every dtype and any nonzero value (rows not a multiple of 8 blocks)', () => {
    // 21 key blocks a row: whole 8-entry words of zeros are skipped, the rest entry by entry
    const nb = 21, block = 8, N = nb * block;
    const q = Tensor.randn([1, 2, N, 16], { seed: 11 });
    const k = Tensor.randn([1, 2, N, 16], { seed: 12 });
    const v = Tensor.randn([1, 2, N, 16], { seed: 13 });
    const rng = new Rng(5);
    const vals = [1, 7, 128, 255];
    const u8 = new Uint8Array(2 * nb * nb);
    for (let i = 0; i < u8.length; i++) if (rng.next() < 0.08) u8[i] = vals[i % vals.length];
    u8.fill(0, 0, nb - 1); // a row whose only block is its last: two zero words, then entries one by one
    u8[nb - 1] = 1;
    u8[2 * nb + 8] = 1; // the first entry of a row's second word
    const i8 = Int8Array.from(u8, (x) => (x ? -1 : 0));
    const i32 = Int32Array.from(u8, (x) => (x ? 1 << 30 : 0));
    const i64 = BigInt64Array.from(u8, (x) => (x ? -(1n << 40n) : 0n));
    const shape = [2, nb, nb];
    const base = blockSparseAttention(q, k, v, Tensor.from(Uint8Array.from(u8, (x) => (x ? 1 : 0)), shape, 'u8'), { block });
    const want = ref.blockSparseAttention(q.data, q.shape, k.data, v.data, k.shape, u8, 2, { block });
    expect(relError(base.data, want.out)).toBeLessThan(1e-5);
    for (const [name, l] of [
      ['u8', Tensor.from(u8, shape, 'u8')],
      ['i8', Tensor.from(i8, shape, 'i8')],
      ['i32', Tensor.from(i32, shape, 'i32')],
      ['i64', Tensor.from(i64, shape, 'i64')],
    ] as const) {
      expect([name, sameBytes(blockSparseAttention(q, k, v, l, { block }).data, base.data)]).toEqual([name, true]);
    }
  });

  it('is bitwise the same on 1 and N threads, and async equals sync', async () => {
    const c: Case = { B: 2, Hq: 4, Hkv: 2, Nq: 256, Nk: 256, D: 64, block: 32, lh: 4, density: 0.4, opts: { causal: true } };
    const { q, k, v, layout, opts } = inputs(c);
    const one = withThreads(1, () => blockSparseAttention(q, k, v, layout, opts));
    const many = withThreads(4, () => blockSparseAttention(q, k, v, layout, opts));
    expect(sameBytes(one.data, many.data)).toBe(true);
    const asy = await blockSparseAttentionAsync(q, k, v, layout, { ...opts, returnLse: true });
    const syn = blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true });
    expect(sameBytes(asy.out.data, syn.out.data)).toBe(true);
    expect(sameBytes(asy.lse.data, syn.lse.data)).toBe(true);
  });

  it('writes into opts.out (prefilled with NaN: the same bits as a fresh output, the same tensor back), async too', async () => {
    for (const c of cases) {
      const { q, k, v, layout, opts } = inputs(c);
      await expectOutReuse(label(c), q.shape, (out) => blockSparseAttention(q, k, v, layout, { ...opts, out }));
      await expectOutReuse(`${label(c)} lse`, q.shape, (out) => blockSparseAttention(q, k, v, layout, { ...opts, returnLse: true, out }));
      await expectOutReuse(`${label(c)} async`, q.shape, (out) => blockSparseAttentionAsync(q, k, v, layout, { ...opts, returnLse: true, out }));
    }
    // an empty layout (every row zeros) and an empty sequence
    const q = Tensor.randn([1, 2, 32, 8], { seed: 5 });
    await expectOutReuse('empty layout', q.shape, (out) => blockSparseAttention(q, q, q, Tensor.zeros([2, 2, 2], 'u8'), { block: 16, out }));
    const e = Tensor.zeros([1, 2, 0, 8]);
    await expectOutReuse('empty sequence', e.shape, (out) => blockSparseAttention(e, e, e, Tensor.zeros([2, 0, 0], 'u8'), { block: 16, out }));
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (layout and mask too)', async () => {
    const q = Tensor.randn([1, 2, 32, 8], { seed: 6 });
    const k = Tensor.randn([1, 2, 32, 8], { seed: 7 });
    const v = Tensor.randn([1, 2, 32, 8], { seed: 8 });
    const layout = Tensor.full([2, 2, 2], 1, 'u8');
    const keyPaddingMask = Tensor.full([1, 32], 1, 'u8');
    expectOutErrors(q.shape, { q, k, v, layout, keyPaddingMask }, (out, x) =>
      blockSparseAttention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, x.layout as Tensor<'u8'>, {
        block: 16,
        keyPaddingMask: x.keyPaddingMask as Tensor<'u8'>,
        out: out as Tensor<'f32'>,
      }),
    );
    await expect(blockSparseAttentionAsync(q, k, v, layout, { block: 16, out: k })).rejects.toThrow(/opts\.out must not share memory/);
  });

  it('an empty layout gives zeros and lse -Infinity', () => {
    const q = Tensor.randn([1, 2, 32, 8], { seed: 5 });
    const none = Tensor.zeros([2, 2, 2], 'u8');
    const r = blockSparseAttention(q, q, q, none, { block: 16, returnLse: true });
    expect(r.out.data.every((x) => x === 0)).toBe(true);
    expect(r.lse.data.every((x) => x === -Infinity)).toBe(true);
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const q = Tensor.randn([1, 2, 32, 8], { seed: 6 });
    const l = Tensor.full([2, 2, 2], 1, 'u8');
    const bad: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => blockSparseAttention(q, q, q, l, { block: 12 }), RangeError, /Nq = 32 must be a multiple of opts.block = 12/],
      [() => blockSparseAttention(q, q, q, l, { block: 4 }), RangeError, /opts.block/],
      [() => blockSparseAttention(q, q, q, l, { block: 256 }), RangeError, /opts.block/],
      [() => blockSparseAttention(q, q, q, l, { block: 16.5 }), TypeError, /opts.block/],
      [() => blockSparseAttention(q, q, q, l, {} as BlockSparseAttentionOptions), TypeError, /opts.block/],
      [() => blockSparseAttention(q, q, q, l, undefined as unknown as BlockSparseAttentionOptions), TypeError, /opts/],
      [() => blockSparseAttention(q, q, q, Tensor.full([2, 2, 3], 1, 'u8'), { block: 16 }), RangeError, /layout must have shape \[H, Nq\/block, Nk\/block\] = \[2, 2, 2\]/],
      [() => blockSparseAttention(q, q, q, Tensor.full([3, 2, 2], 1, 'u8'), { block: 16 }), RangeError, /layout must have shape/],
      [() => blockSparseAttention(q, q, q, Tensor.zeros([2, 2, 2]), { block: 16 }), TypeError, /layout must have dtype/],
      [() => blockSparseAttention(q, Tensor.randn([1, 2, 24, 8]), Tensor.randn([1, 2, 24, 8]), Tensor.full([2, 2, 3], 1, 'u8'), { block: 16 }), RangeError, /Nk = 24 must be a multiple/],
      [() => blockSparseAttention(q, Tensor.randn([1, 3, 32, 8]), Tensor.randn([1, 3, 32, 8]), l, { block: 16 }), RangeError, /multiple of k's and v's heads/],
      [() => blockSparseAttention(q, q, Tensor.randn([1, 2, 16, 8]), l, { block: 16 }), RangeError, /k and v must have the same shape/],
      [() => blockSparseAttention(q, q, q, l, { block: 16, keyPaddingMask: Tensor.full([1, 31], 1, 'u8') }), RangeError, /keyPaddingMask must have shape/],
      [() => blockSparseAttention(q, q, q, l, { block: 16, layout: 'nhbd' as 'bhnd' }), RangeError, /opts.layout/],
      [() => blockSparseAttention(q, q, q, l, { block: 16, causal: 1 as unknown as boolean }), TypeError, /opts.causal/],
      [() => blockSparseAttention(Tensor.randn([2, 32, 8]), q, q, l, { block: 16 }), RangeError, /q must have 4 dimensions/],
    ];
    for (const [fn, type, re] of bad) {
      expect(fn).toThrow(type);
      expect(fn).toThrow(re);
    }
  });
});
