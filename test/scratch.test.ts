// The per-thread scratch arena (native/core/scratch.h), tested through the ops whose kernels take their temporary
// buffers from it: results must not depend on what the arena held before (growing and shrinking calls, other ops in
// between), on nesting (ops whose kernels call the GEMM or qlinear inside their own frame), on the thread count, or
// on async calls running concurrently; a call past the arena's cap gives its memory back; a scratch request too
// large to allocate is a JS error, after which the arena still works.
import { describe, expect, it } from 'vitest';

import { favorAttention, favorAttentionAsync } from '../lib/ops/favor';
import { linear, linearAsync, matmul, matmulAsync } from '../lib/ops/gemm';
import { linformerAttention, linformerAttentionAsync } from '../lib/ops/linformer';
import { moe, moeAsync, type MoeExperts } from '../lib/ops/moe';
import { qlinear, qlinearAsync, quantize } from '../lib/ops/quant';
import { sum, sumAsync } from '../lib/ops/reduce';
import { causalConv1d, causalConv1dAsync, selectiveScan, selectiveScanAsync } from '../lib/ops/ssm';
import { wkv, wkvAsync } from '../lib/ops/wkv';
import { Tensor } from '../lib/tensor';
import { relError, sameBytes, withThreads } from './helpers';
import { matmulRef } from './reference/gemm';
import * as favorRef from './reference/favor';
import * as linRef from './reference/linformer';

function randn(shape: number[], seed: number, scale = 1): Tensor<'f32'> {
  const t = Tensor.randn(shape, { seed }) as Tensor<'f32'>;
  if (scale !== 1) for (let i = 0; i < t.data.length; i++) t.data[i] *= scale;
  return t;
}

type Out = Float32Array[];
interface Case {
  name: string;
  sync: () => Out;
  async: () => Promise<Out>;
}

// One case per converted kernel path, at size s (1: small, larger: more scratch). Inputs are made once per (case, s).
function cases(s: number): Case[] {
  const seed = 1000 * s;
  const list: Case[] = [];
  // gemm: the small path with a transposed A (its rows copied to scratch), the skinny path (A packed whole, a B
  // panel block per task) and the blocked path (a B block per product)
  {
    const a = randn([40 * s, 3], seed + 1);
    const b = randn([40 * s, 70 * s], seed + 2);
    list.push({ name: `gemm small transA s${s}`, sync: () => [matmul(a, b, { transA: true }).data], async: async () => [(await matmulAsync(a, b, { transA: true })).data] });
    const x = randn([24 + 8 * s, 50 * s], seed + 3);
    const w = randn([96 * s, 50 * s], seed + 4);
    list.push({ name: `gemm skinny s${s}`, sync: () => [linear(x, w).data], async: async () => [(await linearAsync(x, w)).data] });
    const c = randn([70 * s, 90], seed + 5);
    const d = randn([90, 60 * s], seed + 6);
    list.push({ name: `gemm blocked s${s}`, sync: () => [matmul(c, d).data], async: async () => [(await matmulAsync(c, d)).data] });
  }
  // favor: both forms (the causal one's running state starts at zero), each around its GEMMs
  {
    const [B, H, N, D, M] = [1, 2, 20 * s + 3, 16, 24];
    const q = randn([B, H, N, D], seed + 7, 0.5), k = randn([B, H, N, D], seed + 8, 0.5), v = randn([B, H, N, D], seed + 9);
    const proj = randn([M, D], seed + 10);
    for (const causal of [false, true])
      list.push({
        name: `favor causal=${causal} s${s}`,
        sync: () => [favorAttention(q, k, v, proj, { causal }).data],
        async: async () => [(await favorAttentionAsync(q, k, v, proj, { causal })).data],
      });
  }
  // linformer: K' and V' in scratch (zero-filled only for an empty sequence)
  {
    const [B, H, Nq, Nk, D, kp] = [1, 2, 7 * s, 9 * s, 8, 5 * s];
    const q = randn([B, H, Nq, D], seed + 11), k = randn([B, H, Nk, D], seed + 12), v = randn([B, H, Nk, D], seed + 13);
    const e = randn([Nk, kp], seed + 14, 0.3);
    list.push({ name: `linformer s${s}`, sync: () => [linformerAttention(q, k, v, e).data], async: async () => [(await linformerAttentionAsync(q, k, v, e)).data] });
    const k0 = Tensor.from(new Float32Array(0), [B, H, 0, D]);
    list.push({ name: `linformer empty s${s}`, sync: () => [linformerAttention(q, k0, k0, e).data], async: async () => [(await linformerAttentionAsync(q, k0, k0, e)).data] });
  }
  // moe with quantized experts: qlinear's frame nested in the experts' frame; both schedules (by token count)
  {
    const [E, d, f] = [4, 32, 64];
    const sc = 1 / Math.sqrt(d);
    const q = (t: Tensor<'f32'>) => quantize(t, 'q4_0');
    const ex: MoeExperts = {
      kind: 'swiglu',
      w1: Array.from({ length: E }, (_, i) => q(randn([f, d], seed + 20 + i, sc))),
      w3: Array.from({ length: E }, (_, i) => q(randn([f, d], seed + 30 + i, sc))),
      w2: Array.from({ length: E }, (_, i) => q(randn([d, f], seed + 40 + i, sc))),
    };
    const router = randn([E, d], seed + 15);
    for (const T of [3 * s, 150 * s]) {
      const x = randn([T, d], seed + 16 + T);
      const opts = { kind: 'mixtral' as const, topK: 2 };
      list.push({
        name: `moe T=${T} s${s}`,
        sync: () => {
          const r = moe(x, router, ex, opts);
          return [r.out.data, r.probSum.data];
        },
        async: async () => {
          const r = await moeAsync(x, router, ex, opts);
          return [r.out.data, r.probSum.data];
        },
      });
    }
  }
  // quant: the gemv path (activation blocks, pairs, octs; q8_0's int16 copies), int8's integer GEMM (packed at larger
  // M), the dequantized-panel path around the fp32 GEMM
  {
    const k = 64 * s + 32;
    const formats = ['q4_0', 'q8_0', 'int8', 'int4'] as const;
    formats.forEach((fmt, i) => {
      const w = quantize(randn([40 * s, k], seed + 50 + i, 0.2), fmt);
      for (const m of [1, 3, 20 * s]) {
        const x = randn([m, k], seed + 60 + m);
        list.push({ name: `qlinear ${fmt} m=${m} s${s}`, sync: () => [qlinear(x, w).data], async: async () => [(await qlinearAsync(x, w)).data] });
      }
    });
  }
  // reduce: per-block partial sums of long rows
  {
    const x = randn([3, 40000 * s + 17], seed + 70);
    list.push({ name: `sum s${s}`, sync: () => [sum(x, -1).data], async: async () => [(await sumAsync(x, -1)).data] });
  }
  // ssm: N not a multiple of 16 (A, B and C padded in scratch), time-varying and invariant B; the conv's rows and its
  // one-token form
  {
    const [b, dim, L, N] = [2, 6, 5 * s + 2, 5];
    const u = randn([b, dim, L], seed + 80), delta = randn([b, dim, L], seed + 81, 0.5);
    const A = randn([dim, N], seed + 82), Bt = randn([b, N, L], seed + 83), C = randn([dim, N], seed + 84);
    list.push({
      name: `selectiveScan s${s}`,
      sync: () => {
        const r = selectiveScan(u, delta, A, Bt, C, { returnLastState: true });
        return [r.out.data, r.lastState!.data];
      },
      async: async () => {
        const r = await selectiveScanAsync(u, delta, A, Bt, C, { returnLastState: true });
        return [r.out.data, r.lastState!.data];
      },
    });
    const w = randn([dim, 4], seed + 85), bias = randn([dim], seed + 86);
    const state = randn([b, dim, 3], seed + 87);
    for (const len of [1, L]) {
      const x = randn([b, dim, len], seed + 88 + len);
      list.push({
        name: `causalConv1d L=${len} s${s}`,
        sync: () => {
          const r = causalConv1d(x, w, bias, { state, activation: 'silu' });
          return [r.out.data, r.state.data];
        },
        async: async () => {
          const r = await causalConv1dAsync(x, w, bias, { state, activation: 'silu' });
          return [r.out.data, r.state.data];
        },
      });
    }
  }
  // wkv: T >= 4 repacks each channel block's parameters and state into scratch
  {
    const [b, T, C] = [2, 4 + s, 40 * s + 3];
    const decay = randn([C], seed + 90, 0.5), first = randn([C], seed + 91, 0.5);
    const k = randn([b, T, C], seed + 92), v = randn([b, T, C], seed + 93);
    list.push({
      name: `wkv s${s}`,
      sync: () => {
        const r = wkv(decay, first, k, v);
        return [r.out.data, r.state.num.data, r.state.den.data, r.state.max.data];
      },
      async: async () => {
        const r = await wkvAsync(decay, first, k, v);
        return [r.out.data, r.state.num.data, r.state.den.data, r.state.max.data];
      },
    });
  }
  return list;
}

function expectSame(got: Out, want: Out, name: string) {
  expect(got.length, name).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(sameBytes(got[i], want[i]), `${name} output ${i}`).toBe(true);
}

describe('scratch arena (through the ops that use it)', () => {
  const sizes = [1, 2, 5];
  const bySize = new Map(sizes.map((s) => [s, cases(s)]));

  it('gives the same bits whatever the arena held before: growing, shrinking, other ops in between', () => {
    // first results: small to large, each case on an arena that only grew
    const first = new Map<string, Out>();
    for (const s of sizes) for (const c of bySize.get(s)!) first.set(c.name, c.sync());
    // then large to small and interleaved across sizes, twice
    for (let round = 0; round < 2; round++)
      for (const s of [5, 1, 2, 1, 5]) {
        const list = bySize.get(s)!;
        for (let i = 0; i < list.length; i++) {
          const c = list[(i * 7 + round) % list.length];
          expectSame(c.sync(), first.get(c.name)!, c.name);
        }
      }
  });

  it('gives the same bits on 1 and 2 threads', () => {
    for (const s of [1, 5])
      for (const c of bySize.get(s)!) {
        const one = withThreads(1, () => c.sync());
        const two = withThreads(2, () => c.sync());
        expectSame(two, one, c.name);
      }
  });

  it('gives the sync bits from async calls running concurrently', async () => {
    const list = [...bySize.get(1)!, ...bySize.get(5)!];
    const want = list.map((c) => c.sync());
    for (let round = 0; round < 2; round++) {
      const got = await Promise.all(list.map((c) => c.async()));
      list.forEach((c, i) => expectSame(got[i], want[i], `${c.name} (async)`));
    }
  });

  it('still gives matching results (oracle) for the nested and padded cases after all that', () => {
    const a = randn([45, 3], 7), b = randn([45, 140], 8);
    const ref = matmulRef(a, b, { transA: true });
    expect(relError(matmul(a, b, { transA: true }).data, ref.data)).toBeLessThan(1e-5);
    const [B, H, Nq, Nk, D, kp] = [1, 2, 9, 13, 8, 6];
    const q = randn([B, H, Nq, D], 9), k = randn([B, H, Nk, D], 10), v = randn([B, H, Nk, D], 11), e = randn([Nk, kp], 12, 0.3);
    const want = linRef.linformerAttention(q.data, k.data, v.data, e.data, null, B, H, H, Nq, Nk, D, kp);
    expect(relError(linformerAttention(q, k, v, e).data, want)).toBeLessThan(1e-5);
    // favor: the causal form's running state and both forms' key sums start at zero (zero-filled scratch)
    {
      const [B2, H2, N, D2, M] = [1, 2, 70, 16, 24];
      const fq = randn([B2, H2, N, D2], 13, 0.5), fk = randn([B2, H2, N, D2], 14, 0.5), fv = randn([B2, H2, N, D2], 15);
      const proj = randn([M, D2], 16);
      for (const causal of [false, true]) {
        const fwant = favorRef.favorAttention(fq.data, fk.data, fv.data, B2, H2, N, D2, proj.data, M, causal);
        expect(relError(favorAttention(fq, fk, fv, proj, { causal }).data, fwant), `favor causal=${causal}`).toBeLessThan(1e-5);
      }
    }
    // an empty sequence: zero K' and V' (the zero-filled scratch), so the output is exactly zero
    const k0 = Tensor.from(new Float32Array(0), [B, H, 0, D]);
    expect(linformerAttention(q, k0, k0, e).data.every((x) => x === 0)).toBe(true);
  });

  it('frees an arena grown past its cap (64 MiB) when the call ends; small calls work after it', () => {
    // linformer's K' and V' of [kp, D] each, from the calling (main) thread's arena: 2 · 1.2M · 4 floats = 37 MB ·
    // 2 = 73 MiB of scratch from inputs of 14 MB
    const [Nq, Nk, D, kp] = [2, 3, 4, 1_200_000];
    const q = randn([1, 1, Nq, D], 21), k = randn([1, 1, Nk, D], 22), v = randn([1, 1, Nk, D], 23);
    const e = randn([Nk, kp], 24, 0.3);
    const small = cases(1);
    const before = small.map((c) => c.sync());
    (globalThis as { gc?: () => void }).gc?.();
    const rss0 = process.memoryUsage().rss;
    const big = linformerAttention(q, k, v, e);
    const grown = process.memoryUsage().rss - rss0;
    // kept, the arena alone would be 73 MiB (not under AddressSanitizer, whose allocator keeps freed memory in quarantine)
    if (!(process.env.LD_PRELOAD ?? '').includes('libasan')) expect(grown).toBeLessThan(40 * 2 ** 20);
    small.forEach((c, i) => expectSame(c.sync(), before[i], `${c.name} after the big call`));
    const want = linRef.linformerAttention(q.data, k.data, v.data, e.data, null, 1, 1, 1, Nq, Nk, D, kp);
    expect(relError(big.data, want)).toBeLessThan(1e-4); // fp32 softmax sums over 1.2M keys (1.3e-5 seen)
  });

  it('turns a scratch request too large to allocate into a JS error (sync and async); the arena works after it', async () => {
    // an empty sequence with 2^38 projected positions: K' and V' would take 2^41 bytes (the inputs are empty)
    const q = randn([1, 1, 1, 1], 31);
    const k0 = Tensor.from(new Float32Array(0), [1, 1, 0, 1]);
    const e = Tensor.from(new Float32Array(0), [0, 2 ** 38]);
    const message = /turboformer: cannot allocate 2199023255552 bytes of working memory/; // 2^41, named in the error
    expect(() => linformerAttention(q, k0, k0, e)).toThrow(message);
    await expect(linformerAttentionAsync(q, k0, k0, e)).rejects.toThrow(message);
    const small = cases(1);
    const want = small.map((c) => withThreads(1, () => c.sync()));
    small.forEach((c, i) => expectSame(c.sync(), want[i], `${c.name} after the error`));
    const got = await Promise.all(small.map((c) => c.async()));
    small.forEach((c, i) => expectSame(got[i], want[i], `${c.name} (async) after the error`));
  });
});
