import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { add, relu } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import { concat, permute } from '../lib/ops/layout';
import { layerNorm } from '../lib/ops/norm';
import { localAttention, localAttentionAsync, lshAttention, lshAttentionAsync, lshRandomRotations } from '../lib/ops/lsh';
import { Tensor } from '../lib/tensor';
import { expectAllClose, expectOutErrors, expectOutReuse, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/lsh';

// A padding mask [B, N]: row b has its last pad[b] positions padded.
function padMask(B: number, N: number, pad: number[]): Tensor<'u8'> {
  const m = new Uint8Array(B * N).fill(1);
  for (let b = 0; b < B; b++) for (let i = N - pad[b]; i < N; i++) m[b * N + i] = 0;
  return Tensor.from(m, [B, N]);
}

// [B, H, N, D, chunk, before, after, hashes, numBuckets, causal, pad per row]
type Case = [number, number, number, number, number, number, number, number, number | number[], boolean, number[] | null];
const lshCases: Case[] = [
  [2, 3, 48, 13, 8, 1, 1, 3, 6, false, [0, 5]],
  [1, 2, 40, 16, 8, 2, 0, 2, [2, 4], true, null],
  [1, 1, 21, 7, 7, 1, 0, 1, 4, false, null], // odd N, a multiple of the chunk
  [2, 2, 64, 64, 16, 1, 0, 2, 8, true, [3, 0]],
  [1, 2, 9, 5, 12, 1, 0, 2, 4, false, [0]], // N <= chunk: standard attention
  [1, 1, 8, 4, 4, 3, 2, 1, 2, false, null], // neighbour offsets of whole rounds or more: no shift
  [1, 2, 96, 33, 32, 0, 1, 4, [4, 2, 2], true, [10]], // three factors, look ahead only
  [1, 1, 130, 8, 65, 1, 0, 2, 4, false, null], // chunks longer than one query tile
  [1, 2, 8, 6, 2, 1, 1, 2, [64, 32], false, [3]], // more buckets than positions: the comparison sort
  // chunks of a whole number of 64-key steps: the values are read in place (no copy); 2 and 3 rounds
  [1, 2, 256, 24, 64, 1, 0, 2, 8, false, [17]],
  [2, 1, 384, 16, 128, 1, 1, 3, [2, 4], true, [0, 40]],
  [1, 2, 128, 12, 128, 1, 0, 2, 4, true, [9]], // N = chunk: standard attention over 128 keys in place
];

function runLshCase(c: Case, seed: number, attn = lshAttention) {
  const [B, H, N, D, C, before, after, R, nb, causal, pad] = c;
  const qk = Tensor.randn([B, H, N, D], { seed });
  const v = Tensor.randn([B, H, N, D], { seed: seed + 1 });
  const rotations = lshRandomRotations(H, D, R, nb, { seed: seed + 2 });
  const mask = pad ? padMask(B, N, pad) : null;
  const opts = { numBuckets: nb, numHashes: R, chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, rotations, attentionMask: mask };
  return { qk, v, rotations, mask, opts, res: attn(qk, v, { ...opts, returnBuckets: true }) };
}

describe('lshAttention (Reformer LSHSelfAttention)', () => {
  for (const level of levels) {
    it(`matches the float64 oracle: rounds, factorised buckets, neighbours, causal, padding (${level})`, () => {
      withIsa(level, () => {
        let seed = 100;
        for (const c of lshCases) {
          const [B, H, N, D, C, before, after, R, nb, causal, pad] = c;
          const { qk, v, rotations, mask, res } = runLshCase(c, seed);
          seed += 3;
          expect(res.out.shape).toEqual([B, H, N, D]);
          let buckets: Int32Array | null = null;
          if (N <= C) {
            expect(res.buckets).toBeNull();
          } else {
            expect(res.buckets!.shape).toEqual([B, H, R, N]);
            buckets = res.buckets!.data;
            // the kernel hashes in float32: it must agree with the float64 hash wherever the decision is clear
            const h = ref.lshHash(qk.data, B, H, N, D, rotations.data, R, typeof nb === 'number' ? [nb] : nb, mask?.data);
            let clear = 0;
            for (let i = 0; i < buckets.length; i++)
              if (h.margin[i] > 1e-4) {
                clear++;
                expect(buckets[i], `${c} bucket ${i}`).toBe(h.buckets[i]);
              }
            expect(clear).toBeGreaterThan(buckets.length * 0.9);
          }
          const want = ref.lshAttention(qk.data, v.data, B, H, N, D, {
            chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, mask: mask?.data, numHashes: R, buckets,
          });
          expect(relError(res.out.data, want), `${c}`).toBeLessThan(1e-5);
          if (pad && pad.some((p) => p > 0) && buckets) {
            // one padded row anywhere adds the padding bucket for every row: round r's offset is r·(nb + 1)
            const count = (typeof nb === 'number' ? nb : nb.reduce((a, f) => a * f, 1)) + 1;
            expect(buckets[(0 * H * R + (R - 1)) * N] >= (R - 1) * count).toBe(true);
            expect(Math.max(...buckets)).toBeLessThan(R * count);
          }
        }
      });
    });
  }

  it('with one bucket and chunks that together span the sequence equals full shared-QK attention with the self mask', () => {
    for (const causal of [false, true]) {
      const [B, H, N, D] = [2, 2, 32, 16];
      const qk = Tensor.randn([B, H, N, D], { seed: 7 });
      const v = Tensor.randn([B, H, N, D], { seed: 8 });
      const want = ref.sharedQkAttention(qk.data, v.data, B, H, N, D, causal);
      // (causal: the first query can only attend itself, and with several rounds upstream's float32 round
      // weights of such rows are off by ~0.2%, see below: one round there)
      for (const R of causal ? [1] : [1, 3]) {
        const chunked = lshAttention(qk, v, { numBuckets: 1, numHashes: R, chunkLength: 8, numChunksBefore: 3, causal });
        expect(relError(chunked.data, want), `causal ${causal}, ${R} rounds`).toBeLessThan(1e-5);
      }
      const whole = lshAttention(qk, v, { chunkLength: N, causal });
      expect(relError(whole.data, want)).toBeLessThan(1e-5);
    }
  });

  it('reproduces upstream quirks: self-only rows, buckets of padded positions, seeded rotations', () => {
    // causal, one bucket, chunk 4, no look-back: the first token of each chunk can only attend itself, so its
    // output is its own value (all rounds agree, weights 1/R after float32 rounding of the log-sum-exp)
    const [N, D] = [16, 4];
    const qk = Tensor.randn([1, 1, N, D], { seed: 3 });
    const v = Tensor.randn([1, 1, N, D], { seed: 4 });
    const out = lshAttention(qk, v, { numBuckets: 1, chunkLength: 4, numChunksBefore: 0, causal: true });
    for (const i of [0, 4, 8, 12]) for (let d = 0; d < D; d++) expect(out.data[i * D + d]).toBeCloseTo(v.data[i * D + d], 5);
    // two rounds: each self-only row weighs e^(−1e5 − fl(−1e5 + log 2)) per round, upstream's float32 ~0.2% loss
    const two = lshAttention(qk, v, { numBuckets: 1, numHashes: 2, chunkLength: 4, numChunksBefore: 0, causal: true });
    const w = Math.exp(-1e5 - Math.fround(-1e5 + Math.log(2)));
    expect(w).toBeLessThan(0.4995);
    for (let d = 0; d < D; d++) expect(two.data[d]).toBeCloseTo(2 * w * v.data[d], 5);
    // padded positions land in bucket numBuckets (offset per round by numBuckets + 1)
    const mask = padMask(2, N, [0, 3]);
    const res = lshAttention(Tensor.randn([2, 1, N, D], { seed: 5 }), Tensor.randn([2, 1, N, D], { seed: 6 }),
      { numBuckets: 4, numHashes: 2, chunkLength: 4, seed: 9, attentionMask: mask, returnBuckets: true });
    const bk = res.buckets!.data; // [2, 1, 2, N]
    for (let r = 0; r < 2; r++) for (let i = N - 3; i < N; i++) expect(bk[(1 * 2 + r) * N + i]).toBe(4 + r * 5);
    // the seed option equals passing lshRandomRotations with that seed
    const a = lshAttention(qk, v, { numBuckets: 4, numHashes: 2, chunkLength: 4, seed: 11 });
    const b = lshAttention(qk, v, { numBuckets: 4, numHashes: 2, chunkLength: 4, rotations: lshRandomRotations(1, D, 2, 4, { seed: 11 }) });
    expect(sameBytes(a.data, b.data)).toBe(true);
  });

  it('gives bitwise-equal results on 1 and N threads, and async equals sync', async () => {
    const c: Case = [2, 4, 256, 32, 32, 1, 1, 2, 8, true, [0, 17]];
    const one = withThreads(1, () => runLshCase(c, 1).res);
    const many = withThreads(4, () => runLshCase(c, 1).res);
    expect(sameBytes(one.out.data, many.out.data)).toBe(true);
    expect(sameBytes(one.buckets!.data, many.buckets!.data)).toBe(true);
    const { qk, v, opts } = runLshCase(c, 1);
    const a = await lshAttentionAsync(qk, v, { ...opts, returnBuckets: true });
    expect(sameBytes(a.out.data, one.out.data)).toBe(true);
    expect(sameBytes(a.buckets!.data, one.buckets!.data)).toBe(true);
    expect(sameBytes((await lshAttentionAsync(qk, v, opts)).data, one.out.data)).toBe(true);
  });

  it('gives the same bits when calls of several sizes run at once and again (scratch blocks reused across calls)', async () => {
    // the large scratch blocks of a call (over 256 KiB) are kept for later calls: concurrent async calls of
    // different sizes take and return them in any order; every result must equal its sync result
    const cases: Case[] = [
      [1, 2, 4096, 32, 64, 1, 0, 2, [8, 16], false, [33]],
      [1, 3, 2048, 48, 64, 1, 1, 3, 16, true, null],
      [2, 1, 1024, 64, 32, 1, 0, 2, 8, false, [0, 5]],
    ];
    const runs = cases.map((c, i) => runLshCase(c, 60 + i));
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all(runs.map(({ qk, v, opts }) => lshAttentionAsync(qk, v, opts)));
      got.forEach((g, i) => expect(sameBytes(g.data, runs[i].res.out.data), `case ${i}, round ${round}`).toBe(true));
      const again = runs.map(({ qk, v, opts }) => lshAttention(qk, v, opts));
      again.forEach((g, i) => expect(sameBytes(g.data, runs[i].res.out.data), `case ${i}, round ${round}, sync`).toBe(true));
    }
  });

  it('gathers long sequences a group of heads at a time: each head as computed alone', () => {
    // 2 heads × 2 rounds × 4096 × 64 rows (queries and values) in slot order exceed the 8 MiB gather budget of
    // lsh.cc: one head per group
    const [H, N, D, R] = [2, 4096, 64, 2];
    const qk = Tensor.randn([1, H, N, D], { seed: 21 });
    const v = Tensor.randn([1, H, N, D], { seed: 22 });
    const rot = lshRandomRotations(H, D, R, [8, 16], { seed: 23 });
    const mask = padMask(1, N, [100]);
    const opts = { numBuckets: [8, 16], numHashes: R, chunkLength: 64, attentionMask: mask, causal: true };
    const both = lshAttention(qk, v, { ...opts, rotations: rot });
    const head = (t: Tensor<'f32'>, h: number) => Tensor.from(t.data.slice(h * N * D, (h + 1) * N * D), [1, 1, N, D]);
    for (let h = 0; h < H; h++) {
      const rh = Tensor.from(rot.data.slice(h * D * R * 12, (h + 1) * D * R * 12), [1, D, R, 12]);
      const alone = lshAttention(head(qk, h), head(v, h), { ...opts, rotations: rh });
      expect(sameBytes(alone.data, both.data.subarray(h * N * D, (h + 1) * N * D)), `head ${h}`).toBe(true);
    }
  });

  it('gathers a head of more than 2 × 4096 slots in segments, interleaved with the items: as the oracle and as in one gather', () => {
    // one head whose R·N slots span more than two segments of lsh.cc (4096 slots each) takes the segmented path
    // (the last `before` chunks first for the wrap-around, then segment by segment); the same head next to a
    // second one (both fit one group) is gathered at once. Neighbour offsets of up to the whole sequence.
    const cases: { N: number; D: number; C: number; R: number; nb: number | number[]; before: number; after: number; causal: boolean; pad: number }[] = [
      { N: 4096, D: 8, C: 8, R: 3, nb: [4, 8], before: 2, after: 1, causal: false, pad: 37 },
      { N: 4096, D: 6, C: 16, R: 4, nb: 16, before: 1, after: 3, causal: true, pad: 0 },
      // ring mode (these two and the two above): only the chunks of the last segments are kept, besides the first
      // `after` and last `before` ones, and the window wraps around the ring several times
      { N: 8192, D: 8, C: 64, R: 2, nb: [8, 16], before: 1, after: 1, causal: true, pad: 11 },
      { N: 8192, D: 5, C: 32, R: 3, nb: 32, before: 3, after: 2, causal: false, pad: 0 },
      // 2 × 4160 slots in 130 chunks of 64: just over two segments (no ring: the neighbourhoods are too wide)
      { N: 4160, D: 4, C: 64, R: 2, nb: 8, before: 130, after: 0, causal: false, pad: 0 }, // before ≥ chunks
      { N: 4160, D: 4, C: 64, R: 2, nb: 8, before: 0, after: 129, causal: true, pad: 5 },
      { N: 4160, D: 4, C: 64, R: 2, nb: 8, before: 100, after: 7, causal: false, pad: 0 },
    ];
    let seed = 40;
    for (const c of cases) {
      const { N, D, C, R, nb, before, after, causal, pad } = c;
      const what = JSON.stringify(c);
      const H = 2;
      const qk = Tensor.randn([1, H, N, D], { seed: seed++ });
      const v = Tensor.randn([1, H, N, D], { seed: seed++ });
      const rot = lshRandomRotations(H, D, R, nb, { seed: seed++ });
      const mask = pad ? padMask(1, N, [pad]) : null;
      const opts = { numBuckets: nb, numHashes: R, chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, attentionMask: mask };
      const both = lshAttention(qk, v, { ...opts, rotations: rot, returnBuckets: true });
      const rs = rot.shape[3];
      const head = (t: Tensor<'f32'>) => Tensor.from(t.data.slice(0, N * D), [1, 1, N, D]);
      const rh = Tensor.from(rot.data.slice(0, D * R * rs), [1, D, R, rs]);
      const alone = withThreads(1, () => lshAttention(head(qk), head(v), { ...opts, rotations: rh, returnBuckets: true }));
      const aloneMany = withThreads(3, () => lshAttention(head(qk), head(v), { ...opts, rotations: rh }));
      expect(sameBytes(alone.out.data, both.out.data.subarray(0, N * D)), what).toBe(true);
      expect(sameBytes(aloneMany.data, alone.out.data), what).toBe(true);
      if (before + after + 1 <= 8) {
        const want = ref.lshAttention(head(qk).data, head(v).data, 1, 1, N, D, {
          chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, mask: mask?.data, numHashes: R, buckets: alone.buckets!.data,
        });
        expect(relError(alone.out.data, want), what).toBeLessThan(1e-5);
      }
    }
  });

  it('breaks exact ties of the bucket argmax as torch.argmax (the first maximum of [xR, −xR]), NaN rows in bucket 0', () => {
    // small integers: every rotated value is exact in float32 whatever the order of the sums, so the expected
    // buckets follow from a plain scan; many ties (zeros, ±equal values)
    const [H, N, D, R] = [2, 256, 3, 2];
    let s = 12345;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const nb of [8, [4, 6], [2, 2, 2], 64] as (number | number[])[]) {
      const factors = typeof nb === 'number' ? [nb] : nb;
      const rs = factors.reduce((a, f) => a + f / 2, 0);
      const qk = Tensor.from(Float32Array.from({ length: H * N * D }, () => Math.round((rnd() - 0.5) * 3)), [1, H, N, D]);
      for (let d = 0; d < D; d++) qk.data[5 * D + d] = NaN; // row 5 of head 0
      const rot = Tensor.from(Float32Array.from({ length: H * D * R * rs }, () => Math.round((rnd() - 0.5) * 3)), [H, D, R, rs]);
      const v = Tensor.randn([1, H, N, D], { seed: 3 });
      const got = lshAttention(qk, v, { rotations: rot, numBuckets: nb, numHashes: R, chunkLength: 16, returnBuckets: true }).buckets!.data;
      const count = factors.reduce((a, f) => a * f, 1);
      let ties = 0;
      for (let h = 0; h < H; h++)
        for (let r = 0; r < R; r++)
          for (let i = 0; i < N; i++) {
            let bucket = 0;
            let mult = 1;
            let at = 0;
            for (const f of factors) {
              const half = f / 2;
              const vals: number[] = [];
              for (let j = 0; j < half; j++) {
                let y = 0;
                for (let d = 0; d < D; d++) y += qk.data[(h * N + i) * D + d] * rot.data[((h * D + d) * R + r) * rs + at + j];
                vals.push(y);
              }
              const all = [...vals, ...vals.map((y) => -y)];
              let best = 0;
              for (let j = 1; j < f; j++) if (all[j] > all[best]) best = j;
              if (all.filter((y) => y === all[best]).length > 1) ties++;
              bucket += mult * best;
              mult *= f;
              at += half;
            }
            expect(got[(h * R + r) * N + i], `${JSON.stringify(nb)} head ${h} round ${r} row ${i}`).toBe(bucket + r * count);
          }
      expect(ties).toBeGreaterThan(N / 4);
      expect(got[5]).toBe(0); // the NaN row
    }
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const qk = Tensor.randn([1, 2, 16, 4], { seed: 1 });
    const rot = lshRandomRotations(2, 4, 1, 4);
    const raw = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
    const o = { numBuckets: 4, chunkLength: 4, rotations: rot };
    expect(() => lshAttention(Tensor.randn([2, 16, 4]), qk, o)).toThrow(/^qk must have 4 dimensions/);
    expect(() => lshAttention(qk, Tensor.randn([1, 2, 15, 4]), o)).toThrow(/qk and v must have the same shape/);
    expect(() => lshAttention(qk, qk, { ...o, chunkLength: 5 })).toThrow(/multiple of chunkLength = 5/);
    expect(() => lshAttention(qk, qk, { ...o, chunkLength: 5 })).toThrow(RangeError);
    expect(() => lshAttention(qk, qk, { ...o, numBuckets: 3 })).toThrow(/numBuckets must be even/);
    expect(() => lshAttention(qk, qk, { ...o, numBuckets: [4, 3] })).toThrow(/numBuckets\[1\] must be even/);
    expect(() => lshAttention(qk, qk, { ...o, numBuckets: [] })).toThrow(/numBuckets/);
    expect(() => lshAttention(qk, qk, { chunkLength: 4 })).toThrow(/numBuckets is required/);
    expect(() => lshAttention(qk, qk, { ...o, numBuckets: 8 })).toThrow(/rotations must have shape \[H, D, numHashes, numBuckets\/2\] = \[2, 4, 1, 4\]/);
    expect(() => lshAttention(qk, qk, { ...o, numHashes: 2 })).toThrow(/rotations must have shape/);
    expect(() => lshAttention(qk, qk, { ...o, numHashes: 0 })).toThrow(/numHashes/);
    expect(() => lshAttention(qk, qk, { ...o, numChunksBefore: -1 })).toThrow(/numChunksBefore/);
    expect(() => lshAttention(qk, qk, { ...o, numChunksAfter: 1.5 })).toThrow(/numChunksAfter/);
    expect(() => lshAttention(qk, qk, { ...o, chunkLength: 0 })).toThrow(/chunkLength/);
    expect(() => lshAttention(qk, qk, { ...o, causal: 1 as unknown as boolean })).toThrow(/causal must be a boolean/);
    expect(() => lshAttention(qk, qk, { ...o, attentionMask: Tensor.zeros([1, 15]) })).toThrow(/attentionMask must have dtype/);
    expect(() => lshAttention(qk, qk, { ...o, attentionMask: Tensor.from(new Uint8Array(15), [1, 15]) })).toThrow(/attentionMask must have shape \[B, N\] = \[1, 16\]/);
    expect(() => raw.lshAttention(qk, qk, null, { numBuckets: 4, chunkLength: 4 })).toThrow(/rotations are required/);
    expect(() => raw.lshAttention(qk, qk, rot.to('f16'), { numBuckets: 4, chunkLength: 4 })).toThrow(TypeError);
    expect(() => raw.lshAttention(qk, qk, rot, 5)).toThrow(/opts must be an object/);
    expect(() => raw.lshAttention(qk, qk, rot, { chunkLength: 32 })).toThrow(/numBuckets is required with rotations/);
    expect(() => lshAttention(qk.to('f16') as unknown as Tensor<'f32'>, qk, o)).toThrow(TypeError);
    expect(() => lshAttention(Tensor.zeros([1, 1, 4, 300]), Tensor.zeros([1, 1, 4, 300]), o)).toThrow(/head dim/);
    expect(() => lshRandomRotations(2, 0, 1, 4)).toThrow(/headDim/);
    expect(() => raw.lshAttention(qk, qk, null, { numBuckets: 2 ** 24, numHashes: 1000, chunkLength: 4 })).toThrow(/below 2\^31/);
  });

  it('writes into opts.out (prefilled with NaN: every round and padded row; the same bits, the same tensor back), async too', async () => {
    let seed = 700;
    for (const c of lshCases) {
      const { qk, v, opts } = runLshCase(c, seed);
      seed += 3;
      await expectOutReuse(`${c}`, qk.shape, (out) => lshAttention(qk, v, { ...opts, returnBuckets: true, out }));
      await expectOutReuse(`${c} plain`, qk.shape, (out) => lshAttention(qk, v, { ...opts, out }));
      await expectOutReuse(`${c} async`, qk.shape, (out) => lshAttentionAsync(qk, v, { ...opts, returnBuckets: true, out }));
    }
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (rotations and mask too)', async () => {
    const { qk, v, rotations, mask, opts } = runLshCase([2, 3, 48, 13, 8, 1, 1, 3, 6, false, [0, 5]], 1);
    expectOutErrors(qk.shape, { qk, v, rotations, attentionMask: mask! }, (out, x) =>
      lshAttention(x.qk as Tensor<'f32'>, x.v as Tensor<'f32'>, {
        ...opts,
        rotations: x.rotations as Tensor<'f32'>,
        attentionMask: x.attentionMask,
        out: out as Tensor<'f32'>,
      }),
    );
    await expect(lshAttentionAsync(qk, v, { ...opts, out: v })).rejects.toThrow(/opts\.out must not share memory with an input/);
  });

  it('handles empty inputs', () => {
    expect(lshAttention(Tensor.zeros([0, 2, 8, 4]), Tensor.zeros([0, 2, 8, 4]), { numBuckets: 2, chunkLength: 4 }).shape).toEqual([0, 2, 8, 4]);
    expect(lshAttention(Tensor.zeros([1, 2, 0, 4]), Tensor.zeros([1, 2, 0, 4]), { chunkLength: 4 }).shape).toEqual([1, 2, 0, 4]);
  });
});

// [B, H, N, D, chunk, before, after, causal, pad per row]
type LocalCase = [number, number, number, number, number, number, number, boolean, number[] | null];
const localCases: LocalCase[] = [
  [2, 3, 48, 13, 8, 1, 0, false, [0, 5]],
  [1, 2, 40, 16, 8, 2, 1, true, null],
  [1, 1, 21, 7, 7, 1, 0, false, null],
  [2, 2, 64, 64, 16, 1, 1, true, [3, 20]],
  [1, 2, 9, 5, 12, 1, 0, true, [4]], // standard
  [1, 1, 8, 4, 2, 5, 0, false, [4]], // offsets beyond the chunk count
  [2, 1, 8, 4, 2, 1, 0, false, [6, 0]], // rows whose keys are all masked (they sum the values)
  [1, 1, 130, 8, 65, 1, 0, false, null],
  [1, 2, 256, 20, 64, 1, 0, false, [30]], // chunks of 64 and 128: the values are read in place
  [2, 1, 384, 8, 128, 1, 1, true, [0, 3]],
  [1, 1, 64, 8, 128, 1, 0, true, [5]], // N ≤ chunk: standard attention over 64 keys in place
];

describe('localAttention (Reformer LocalSelfAttention)', () => {
  for (const level of levels) {
    it(`matches the float64 oracle (${level})`, () => {
      withIsa(level, () => {
        let seed = 300;
        for (const c of localCases) {
          const [B, H, N, D, C, before, after, causal, pad] = c;
          const q = Tensor.randn([B, H, N, D], { seed: seed++ });
          const k = Tensor.randn([B, H, N, D], { seed: seed++ });
          const v = Tensor.randn([B, H, N, D], { seed: seed++ });
          const mask = pad ? padMask(B, N, pad) : null;
          const out = localAttention(q, k, v, { chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, attentionMask: mask });
          expect(out.shape).toEqual([B, H, N, D]);
          const want = ref.localAttention(q.data, k.data, v.data, B, H, N, D, { chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, mask: mask?.data });
          expect(relError(out.data, want), `${c}`).toBeLessThan(1e-5);
        }
      });
    });
  }

  it('writes into opts.out (prefilled with NaN: the same bits, the same tensor back), async too', async () => {
    let seed = 800;
    for (const c of localCases) {
      const [B, H, N, D, C, before, after, causal, pad] = c;
      const q = Tensor.randn([B, H, N, D], { seed: seed++ });
      const k = Tensor.randn([B, H, N, D], { seed: seed++ });
      const v = Tensor.randn([B, H, N, D], { seed: seed++ });
      const opts = { chunkLength: C, numChunksBefore: before, numChunksAfter: after, causal, attentionMask: pad ? padMask(B, N, pad) : null };
      await expectOutReuse(`${c}`, q.shape, (out) => localAttention(q, k, v, { ...opts, out }));
      await expectOutReuse(`${c} async`, q.shape, (out) => localAttentionAsync(q, k, v, { ...opts, out }));
    }
  });

  it('refuses an opts.out of the wrong shape or dtype, or sharing memory with any input (mask too)', async () => {
    const q = Tensor.randn([2, 2, 16, 8], { seed: 1 });
    const k = Tensor.randn([2, 2, 16, 8], { seed: 2 });
    const v = Tensor.randn([2, 2, 16, 8], { seed: 3 });
    expectOutErrors(q.shape, { q, k, v, attentionMask: padMask(2, 16, [0, 3]) }, (out, x) =>
      localAttention(x.q as Tensor<'f32'>, x.k as Tensor<'f32'>, x.v as Tensor<'f32'>, { chunkLength: 8, attentionMask: x.attentionMask, out: out as Tensor<'f32'> }),
    );
    await expect(localAttentionAsync(q, k, v, { chunkLength: 8, out: k })).rejects.toThrow(/opts\.out must not share memory with an input/);
  });

  it('chunk 0 looks back at the last chunk when non-causal; a row with every key masked sums the values', () => {
    const [N, D] = [8, 3];
    const q = Tensor.randn([1, 1, N, D], { seed: 1 });
    const k = Tensor.randn([1, 1, N, D], { seed: 2 });
    const v = Tensor.randn([1, 1, N, D], { seed: 3 });
    // chunks of 2, one before: with the first half padded, chunk 0 (positions 0, 1) sees chunk 3 (6, 7) only
    const mask = Tensor.from(new Uint8Array([0, 0, 0, 0, 1, 1, 1, 1]), [1, N]);
    const out = localAttention(q, k, v, { chunkLength: 2, attentionMask: mask });
    const s = (i: number, j: number) => [0, 1, 2].reduce((a, d) => a + q.data[i * D + d] * k.data[j * D + d], 0) / Math.sqrt(D);
    const e6 = Math.exp(s(0, 6)), e7 = Math.exp(s(0, 7));
    for (let d = 0; d < D; d++) expect(out.data[d]).toBeCloseTo((e6 * v.data[6 * D + d] + e7 * v.data[7 * D + d]) / (e6 + e7), 5);
    // chunk 1 (positions 2, 3) sees chunks 0 and 1: all padded, so it returns the sum of their four values
    for (let d = 0; d < D; d++) {
      const sum = [0, 1, 2, 3].reduce((a, j) => a + v.data[j * D + d], 0);
      expect(out.data[2 * D + d]).toBeCloseTo(sum, 5);
    }
  });

  it('gives bitwise-equal results on 1 and N threads, and async equals sync', async () => {
    const q = Tensor.randn([2, 4, 256, 32], { seed: 5 });
    const k = Tensor.randn([2, 4, 256, 32], { seed: 6 });
    const v = Tensor.randn([2, 4, 256, 32], { seed: 7 });
    const opts = { chunkLength: 64, numChunksAfter: 1, causal: true, attentionMask: padMask(2, 256, [0, 30]) };
    const one = withThreads(1, () => localAttention(q, k, v, opts));
    const many = withThreads(4, () => localAttention(q, k, v, opts));
    expect(sameBytes(one.data, many.data)).toBe(true);
    expect(sameBytes((await localAttentionAsync(q, k, v, opts)).data, one.data)).toBe(true);
  });

  it('rejects bad inputs with errors naming the argument', () => {
    const q = Tensor.randn([1, 2, 16, 4], { seed: 1 });
    const raw = binding as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => localAttention(q, q, Tensor.randn([1, 2, 16, 5]))).toThrow(/q and v must have the same shape/);
    expect(() => localAttention(q, Tensor.randn([1, 2, 8, 4]), q)).toThrow(/q and k must have the same shape/);
    expect(() => localAttention(q, q, q, { chunkLength: 6 })).toThrow(/multiple of chunkLength = 6/);
    expect(() => localAttention(q, q, q, { chunkLength: 4, numChunksBefore: 2000 })).toThrow(/numChunksBefore/);
    expect(() => localAttention(q, q, q, { attentionMask: Tensor.from(new Uint8Array(32), [2, 16]) })).toThrow(/attentionMask must have shape/);
    expect(() => raw.localAttention(q, q, q, 'x')).toThrow(/opts must be an object/);
    expect(() => raw.localAttention(q, q)).toThrow(TypeError);
  });
});

// End to end against Hugging Face's ReformerModel (test/fixtures/hf/reformer: 2 layers, attn_layers
// ['local', 'lsh'], hidden 32, 2 heads of 16, chunks of 4 with one chunk before, 2 hashes, 4 buckets, recorded
// rotations, batch row 1 padded at the end). The encoder around the attention ops, composed from existing ops
// (the Reformer model family itself comes later): two reversible streams X1 = X2 = embeddings; per layer
// Y1 = X1 + dense(attention(LN(X2))) and Y2 = X2 + FF(Y1) with FF = dense2(relu(dense1(LN(·)))); upstream's
// hidden_states are X2 before each layer and after the last; last_hidden_state = LN([Y1, Y2]).
describe('Reformer encoder on the attention ops (Hugging Face fixture)', () => {
  const dir = join(__dirname, 'fixtures', 'hf', 'reformer');
  for (const level of levels) {
    it(`reproduces hidden_states.1, .2 and last_hidden_state of upstream ReformerModel (${level})`, () => {
      withIsa(level, () => {
        const model = openSafetensors(join(dir, 'model.safetensors'));
        const io = openSafetensors(join(dir, 'io.safetensors'));
        const w = (n: string) => model.tensor(n) as Tensor<'f32'>;
        const [heads, dh, eps] = [2, 16, 1e-12];
        const mask = io.tensor('input.attention_mask');
        const emb = io.tensor('output.hidden_states.0') as Tensor<'f32'>;
        const [B, N] = emb.shape;
        const split = (t: Tensor<'f32'>) => permute(t.reshape([B, N, heads, dh]), [0, 2, 1, 3]);
        const merge = (t: Tensor<'f32'>) => permute(t, [0, 2, 1, 3]).reshape([B, N, heads * dh]);
        const attention = (i: number, x: Tensor<'f32'>) => {
          const p = `encoder.layers.${i}.attention`;
          const h = layerNorm(x, w(`${p}.layer_norm.weight`), w(`${p}.layer_norm.bias`), eps);
          const s = `${p}.self_attention`;
          const out = i === 0
            ? localAttention(split(linear(h, w(`${s}.query.weight`))), split(linear(h, w(`${s}.key.weight`))),
              split(linear(h, w(`${s}.value.weight`))), { chunkLength: 4, numChunksBefore: 1, numChunksAfter: 0, attentionMask: mask })
            : lshAttention(split(linear(h, w(`${s}.query_key.weight`))), split(linear(h, w(`${s}.value.weight`))), {
              numBuckets: 4, numHashes: 2, chunkLength: 4, numChunksBefore: 1, numChunksAfter: 0, attentionMask: mask,
              rotations: io.tensor('aux.lsh_random_rotations') as Tensor<'f32'>,
            });
          return linear(merge(out), w(`${p}.output.dense.weight`));
        };
        const feedForward = (i: number, x: Tensor<'f32'>) => {
          const p = `encoder.layers.${i}.feed_forward`;
          const h = layerNorm(x, w(`${p}.layer_norm.weight`), w(`${p}.layer_norm.bias`), eps);
          return linear(relu(linear(h, w(`${p}.dense.dense.weight`), w(`${p}.dense.dense.bias`))), w(`${p}.output.dense.weight`), w(`${p}.output.dense.bias`));
        };
        let x1 = emb;
        let x2 = emb;
        for (let i = 0; i < 2; i++) {
          x1 = add(x1, attention(i, x2));
          x2 = add(x2, feedForward(i, x1));
          const want = io.tensor(`output.hidden_states.${i + 1}`) as Tensor<'f32'>;
          expect(x2.shape).toEqual(want.shape);
          expectAllClose(x2.data, want.data, `layer ${i}`, 1e-4);
        }
        const last = layerNorm(concat([x1, x2], -1), w('encoder.layer_norm.weight'), w('encoder.layer_norm.bias'), eps);
        const wantLast = io.tensor('output.last_hidden_state') as Tensor<'f32'>;
        expect(last.shape).toEqual(wantLast.shape);
        expectAllClose(last.data, wantLast.data, 'last_hidden_state', 1e-4);
        model.dispose();
        io.dispose();
      });
    });
  }
});
