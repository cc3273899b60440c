import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { activation, mul } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import {
  moe,
  moeAsync,
  moeAuxLoss,
  moeCombine,
  moeCombineAsync,
  moeDispatch,
  moeDispatchAsync,
  moeExperts,
  moeExpertsAsync,
  moeGather,
  moeGatherAsync,
  moeRoute,
  moeRouteAsync,
  type MoeExperts,
  type MoeOptions,
} from '../lib/ops/moe';
import { dequantize, quantize } from '../lib/ops/quant';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import { logitsRef, moeRef, routeRef, type RefExperts } from './reference/moe';

const many = Math.max(3, binding.info().threads.hardware + 1);

function randn(shape: number[], seed: number, scale = 1): Tensor<'f32'> {
  const t = Tensor.randn(shape, { seed }) as Tensor<'f32'>;
  if (scale !== 1) for (let i = 0; i < t.data.length; i++) t.data[i] *= scale;
  return t;
}

function swiglu(E: number, d: number, f: number, seed: number): Extract<MoeExperts, { kind: 'swiglu' }> {
  const s = 1 / Math.sqrt(d), s2 = 1 / Math.sqrt(f);
  return {
    kind: 'swiglu',
    w1: Array.from({ length: E }, (_, e) => randn([f, d], seed + 3 * e, s)),
    w3: Array.from({ length: E }, (_, e) => randn([f, d], seed + 3 * e + 1, s)),
    w2: Array.from({ length: E }, (_, e) => randn([d, f], seed + 3 * e + 2, s2)),
  };
}
function dense(E: number, d: number, f: number, seed: number, act: 'relu' | 'gelu' = 'relu'): Extract<MoeExperts, { kind: 'dense' }> {
  return {
    kind: 'dense',
    activation: act,
    wi: Array.from({ length: E }, (_, e) => randn([f, d], seed + 2 * e, 1 / Math.sqrt(d))),
    wo: Array.from({ length: E }, (_, e) => randn([d, f], seed + 2 * e + 1, 1 / Math.sqrt(f))),
  };
}

/** moe() against the float64 oracle (routing from the op's own fp32 router logits). */
function checkMoe(x: Tensor<'f32'>, router: Tensor<'f32'>, ex: MoeExperts, opts: MoeOptions, tol = 1e-5) {
  const d = x.shape[x.shape.length - 1];
  const T = x.data.length / d;
  const E = router.shape[0];
  const r = moe(x, router, ex, opts);
  const lref = logitsRef(x.data, T, d, router, opts.routerBias?.data);
  expect(relError(r.routerLogits.data, lref)).toBeLessThan(1e-5);
  const ref = moeRef(x.data, T, d, r.routerLogits.data, E, ex as unknown as RefExperts, opts);
  expect(Array.from(r.experts.data)).toEqual(ref.route.experts.flat());
  expect(Array.from(r.keptCounts.data)).toEqual(ref.route.kept);
  expect(Array.from(r.routedCounts.data)).toEqual(ref.route.routed);
  expect(relError(r.out.data, ref.out)).toBeLessThan(tol);
  expect(r.out.shape).toEqual(x.shape);
  return r;
}

describe('moeRoute', () => {
  it('mixtral: softmax, top-k, renormalised; statistics', () => {
    const T = 37, E = 8;
    const logits = randn([T, E], 1, 2);
    for (const [k, normalize] of [[2, true], [3, false], [1, true]] as const) {
      const r = moeRoute(logits, { kind: 'mixtral', topK: k, normalize });
      const ref = routeRef(logits.data, T, E, { kind: 'mixtral', topK: k, normalize });
      expect(r.experts.shape).toEqual([T, k]);
      expect(Array.from(r.experts.data)).toEqual(ref.experts.flat());
      expect(relError(r.weights.data, ref.weights.flat())).toBeLessThan(1e-6);
      expect(relError(r.probSum.data, ref.probSum)).toBeLessThan(1e-6);
      expect(Array.from(r.routedCounts.data)).toEqual(ref.routed);
      expect(Array.from(r.keptCounts.data)).toEqual(ref.kept);
      if (k === 1) expect(Array.from(r.weights.data).every((w) => w === 1)).toBe(true);
    }
  });

  it('ties go to the lower expert index', () => {
    const logits = Tensor.from([0, 0, 0, 0, 1, 3, 3, 2, 5, 1, 5, 5], [3, 4]);
    expect(Array.from(moeRoute(logits, { kind: 'mixtral', topK: 2 }).experts.data)).toEqual([0, 1, 1, 2, 0, 2]);
    expect(Array.from(moeRoute(logits, { kind: 'switch' }).experts.data)).toEqual([0, 1, 0]);
    const w = moeRoute(logits, { kind: 'mixtral', topK: 2 }).weights.data;
    expect(w[0]).toBe(0.5);
    expect(w[2]).toBe(0.5);
  });

  it('switch: capacity per group, first come first served; capacityFactor', () => {
    const T = 24, E = 3;
    const logits = randn([T, E], 5);
    for (let i = 0; i < T; i += 2) logits.data[i * E] += 3; // crowd expert 0
    const o = { kind: 'switch' as const, capacity: 3, groupSize: 12 };
    const r = moeRoute(logits, o);
    const ref = routeRef(logits.data, T, E, o);
    expect(Array.from(r.experts.data)).toEqual(ref.experts.flat());
    expect(Array.from(r.experts.data).filter((e) => e < 0).length).toBeGreaterThan(0);
    expect(Array.from(r.keptCounts.data)).toEqual(ref.kept);
    expect(Array.from(r.routedCounts.data)).toEqual(ref.routed);
    expect(relError(r.weights.data, ref.weights.flat())).toBeLessThan(1e-6);
    // capacityFactor: floor(1.5 * 12 / 3) = 6
    const rf = moeRoute(logits, { kind: 'switch', capacityFactor: 1.5, groupSize: 12 });
    const reff = routeRef(logits.data, T, E, { kind: 'switch', capacity: 6, groupSize: 12 });
    expect(Array.from(rf.experts.data)).toEqual(reff.experts.flat());
    // no capacity: nothing dropped
    expect(Array.from(moeRoute(logits, { kind: 'switch' }).experts.data).every((e) => e >= 0)).toBe(true);
    // the upstream auxiliary losses from the statistics
    const mix = moeRoute(logits, { kind: 'mixtral', topK: 2 });
    expect(moeAuxLoss(mix, 'mixtral')).toBeGreaterThan(0);
    expect(Number.isFinite(moeAuxLoss(r, 'switch'))).toBe(true);
  });
});

describe('dispatch, gather, combine', () => {
  it('counting sort: permutation and inverse round-trip, stable, dropped pairs', () => {
    const T = 50, k = 2, E = 6;
    const ex = new Int32Array(T * k);
    let seed = 7;
    for (let i = 0; i < ex.length; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      ex[i] = (seed % (E + 1)) - 1; // -1..E-1; expert 4 kept empty below
      if (ex[i] === 4) ex[i] = 5;
    }
    const d = moeDispatch(Tensor.from(ex, [T, k]), E);
    const off = d.offsets.data, perm = d.perm.data, inv = d.inv.data;
    expect(off[0]).toBe(0);
    expect(off[4]).toBe(off[5]); // empty expert
    expect(off[E]).toBe(perm.length);
    expect(perm.length).toBe(Array.from(ex).filter((e) => e >= 0).length);
    for (let e = 0; e < E; e++)
      for (let j = off[e]; j < off[e + 1]; j++) {
        expect(ex[perm[j]]).toBe(e);
        if (j > off[e]) expect(perm[j]).toBeGreaterThan(perm[j - 1]);
      }
    for (let j = 0; j < perm.length; j++) expect(inv[perm[j]]).toBe(j);
    for (let i = 0; i < ex.length; i++) if (ex[i] < 0) expect(inv[i]).toBe(-1);

    const x = randn([T, 9], 3);
    const xg = moeGather(x, d.perm, k);
    for (let j = 0; j < perm.length; j++) {
      const t = Math.floor(perm[j] / k);
      expect(Array.from(xg.data.subarray(j * 9, j * 9 + 9))).toEqual(Array.from(x.data.subarray(t * 9, t * 9 + 9)));
    }
    // combine with unit weights of the gathered rows themselves: token t gets (#kept slots + #dropped) * x_t
    const w = Tensor.from(new Float32Array(T * k).fill(1), [T, k]);
    const out = moeCombine(xg, d.inv, w, x);
    for (let t = 0; t < T; t++)
      for (let i = 0; i < 9; i++) expect(out.data[t * 9 + i]).toBeCloseTo(k * x.data[t * 9 + i], 5);
    // without x, dropped pairs add nothing
    const out2 = moeCombine(xg, d.inv, w);
    for (let t = 0; t < T; t++) {
      const kept = (ex[t * k] >= 0 ? 1 : 0) + (ex[t * k + 1] >= 0 ? 1 : 0);
      expect(out2.data[t * 9]).toBeCloseTo(kept * x.data[t * 9], 5);
    }
  });
});

describe('moe', () => {
  it('mixtral SwiGLU top-2 matches the float64 oracle at every level and schedule', () => {
    const T = 29, d = 40, f = 56, E = 5;
    const x = randn([T, d], 11);
    const router = randn([E, d], 12, 0.5);
    const ex = swiglu(E, d, f, 100);
    for (const level of levels)
      withIsa(level, () => {
        for (const schedule of ['sequential', 'chunked'] as const) checkMoe(x, router, ex, { kind: 'mixtral', topK: 2, schedule });
      });
    // batch dims are kept
    const r = moe(x.reshape([1, T, d]), router, ex, { kind: 'mixtral', topK: 2 });
    expect(r.out.shape).toEqual([1, T, d]);
    expect(r.experts.shape).toEqual([1, T, 2]);
  });

  it('switch dense ReLU / GELU with capacity, router bias: dropped tokens give prob · x', () => {
    const T = 40, d = 24, f = 33, E = 4;
    const x = randn([T, d], 21);
    const router = randn([E, d], 22, 0.3);
    const bias = Tensor.from([1.5, 0, -0.5, 0], [E]);
    for (const act of ['relu', 'gelu'] as const) {
      const ex = dense(E, d, f, 200, act);
      const r = checkMoe(x, router, ex, { kind: 'switch', capacity: 4, groupSize: 20, routerBias: bias });
      let dropped = 0;
      for (let t = 0; t < T; t++) {
        if (r.experts.data[t] >= 0) continue;
        dropped++;
        for (let i = 0; i < d; i++) expect(r.out.data[t * d + i]).toBe(Math.fround(r.weights.data[t] * x.data[t * d + i]));
      }
      expect(dropped).toBeGreaterThan(0);
      // {weight, bias} router form is the same
      const r2 = moe(x, { weight: router, bias }, ex, { kind: 'switch', capacity: 4, groupSize: 20 });
      expect(sameBytes(r2.out.data, r.out.data)).toBe(true);
    }
  });

  it('one expert with top-1 equals its dense FFN', () => {
    const T = 19, d = 32, f = 48;
    const x = randn([T, d], 31);
    const ex = swiglu(1, d, f, 300);
    const r = moe(x, randn([1, d], 32), ex, { kind: 'mixtral', topK: 1 });
    const h = mul(activation(linear(x, ex.w1[0] as Tensor<'f32'>), 'silu'), linear(x, ex.w3[0] as Tensor<'f32'>));
    const y = linear(h, ex.w2[0] as Tensor<'f32'>);
    expect(relError(r.out.data, y.data)).toBeLessThan(1e-6);
    const dx = dense(1, d, f, 400, 'gelu');
    const r2 = moe(x, randn([1, d], 33), dx, { kind: 'switch' });
    const y2 = linear(activation(linear(x, dx.wi[0] as Tensor<'f32'>), 'gelu'), dx.wo[0] as Tensor<'f32'>);
    expect(relError(r2.out.data, y2.data)).toBeLessThan(1e-6); // the switch weight of one expert is 1
  });

  it('empty experts and zero tokens', () => {
    const T = 17, d = 16, f = 20, E = 4;
    const x = randn([T, d], 41);
    const router = randn([E, d], 42);
    const bias = Tensor.from([0, 0, -1e4, 0], [E]); // expert 2 never chosen
    const r = checkMoe(x, router, swiglu(E, d, f, 500), { kind: 'mixtral', topK: 2, routerBias: bias });
    expect(r.keptCounts.data[2]).toBe(0);
    const z = moe(Tensor.zeros([0, d]) as Tensor<'f32'>, router, swiglu(E, d, f, 500), { kind: 'mixtral', topK: 2 });
    expect(z.out.shape).toEqual([0, d]);
    expect(Array.from(z.keptCounts.data)).toEqual([0, 0, 0, 0]);
  });

  it('quantized experts match the dequantized ones', () => {
    const T = 48, d = 64, f = 96, E = 4;
    const x = randn([T, d], 51);
    const router = randn([E, d], 52);
    const ex = swiglu(E, d, f, 600);
    for (const [format, tol] of [['q8_0', 1e-3], ['int8', 1e-3], ['q4_0', 1e-2], ['int4', 1e-2]] as const) {
      const q = (ws: readonly unknown[]) => ws.map((w) => quantize(w as Tensor<'f32'>, format));
      const qx: MoeExperts = { kind: 'swiglu', w1: q(ex.w1), w3: q(ex.w3), w2: q(ex.w2) };
      const dq = (ws: readonly unknown[]) => q(ws).map((w) => dequantize(w));
      const dx: MoeExperts = { kind: 'swiglu', w1: dq(ex.w1), w3: dq(ex.w3), w2: dq(ex.w2) };
      for (const schedule of ['sequential', 'chunked'] as const) {
        const a = moe(x, router, qx, { kind: 'mixtral', topK: 2, schedule });
        const b = moe(x, router, dx, { kind: 'mixtral', topK: 2, schedule });
        expect(relError(a.out.data, b.out.data)).toBeLessThan(tol);
      }
      // every level; 1 and many threads bitwise (small and large groups: the integer and the GEMM paths)
      for (const level of levels)
        withIsa(level, () => {
          for (const xx of [x, x.slice(0, 3)]) {
            const one = withThreads(1, () => moe(xx, router, qx, { kind: 'mixtral', topK: 2 }));
            const lots = withThreads(many, () => moe(xx, router, qx, { kind: 'mixtral', topK: 2 }));
            expect(sameBytes(one.out.data, lots.out.data)).toBe(true);
            const ref = moe(xx, router, dx, { kind: 'mixtral', topK: 2 });
            // 3 tokens take qlinear's integer path (activations rounded per block, through three layers)
            expect(relError(one.out.data, ref.out.data)).toBeLessThan(xx === x ? tol : 3 * tol);
          }
        });
      // mixed: quantized w1, f32 the rest
      const mixed: MoeExperts = { kind: 'swiglu', w1: q(ex.w1), w3: ex.w3, w2: ex.w2 };
      expect(moe(x, router, mixed, { kind: 'mixtral', topK: 2 }).out.shape).toEqual([T, d]);
    }
  });

  it('1 and many threads give bitwise-equal results; async == sync', async () => {
    const T = 130, d = 48, f = 72, E = 6;
    const x = randn([T, d], 61);
    const router = randn([E, d], 62);
    const ex = swiglu(E, d, f, 700);
    for (const schedule of ['sequential', 'chunked'] as const) {
      const o: MoeOptions = { kind: 'mixtral', topK: 2, schedule };
      const one = withThreads(1, () => moe(x, router, ex, o));
      const lots = withThreads(many, () => moe(x, router, ex, o));
      expect(sameBytes(one.out.data, lots.out.data)).toBe(true);
      const as = await moeAsync(x, router, ex, o);
      expect(sameBytes(as.out.data, one.out.data)).toBe(true);
      expect(sameBytes(as.experts.data, one.experts.data)).toBe(true);
    }
    const r = moeRoute(randn([T, E], 63), { kind: 'mixtral', topK: 2 });
    const ra = await moeRouteAsync(randn([T, E], 63), { kind: 'mixtral', topK: 2 });
    expect(sameBytes(ra.weights.data, r.weights.data)).toBe(true);
    const dd = moeDispatch(r.experts, E);
    const da = await moeDispatchAsync(r.experts, E);
    expect(sameBytes(da.perm.data, dd.perm.data)).toBe(true);
    const xg = moeGather(x, dd.perm, 2);
    expect(sameBytes((await moeGatherAsync(x, dd.perm, 2)).data, xg.data)).toBe(true);
    const y = moeExperts(xg, dd.offsets, ex);
    expect(sameBytes((await moeExpertsAsync(xg, dd.offsets, ex)).data, y.data)).toBe(true);
    // the pieces composed == moe()
    const whole = moe(x, router, ex, { kind: 'mixtral', topK: 2 });
    const logits = whole.routerLogits;
    const rr = moeRoute(logits, { kind: 'mixtral', topK: 2 });
    const d2 = moeDispatch(rr.experts, E);
    const y2 = moeExperts(moeGather(x, d2.perm, 2), d2.offsets, ex);
    expect(sameBytes(moeCombine(y2, d2.inv, rr.weights, x).data, whole.out.data)).toBe(true);
    const c = moeCombine(y, dd.inv, r.weights);
    const ca = await moeCombineAsync(y, dd.inv, r.weights);
    expect(sameBytes(ca.data, c.data)).toBe(true);
  });

  it('bad inputs raise errors naming the argument', () => {
    const d = 8, E = 3;
    const x = randn([4, d], 71);
    const router = randn([E, d], 72);
    const ex = swiglu(E, d, 12, 800);
    const logits = randn([4, E], 73);
    expect(() => moeRoute(logits, { kind: 'gshard' as never, topK: 1 })).toThrow(/opts\.kind/);
    expect(() => moeRoute(logits, { kind: 'mixtral', topK: 4 })).toThrow(RangeError);
    expect(() => moeRoute(logits, { kind: 'mixtral', topK: 4 })).toThrow(/topK/);
    expect(() => moeRoute(logits, { kind: 'mixtral' })).toThrow(TypeError);
    expect(() => moeRoute(logits, { kind: 'switch', topK: 2 })).toThrow(/topK/);
    expect(() => moeRoute(logits, { kind: 'switch', groupSize: 3 })).toThrow(/groupSize/);
    expect(() => moeRoute(logits, { kind: 'switch', capacity: 1, capacityFactor: 1 })).toThrow(RangeError);
    expect(() => moeRoute(logits, { kind: 'mixtral', topK: 1, capacity: 2 })).toThrow(/capacity/);
    expect(() => moeRoute(Tensor.from([1, 2], [2], 'i32') as never, { kind: 'switch' })).toThrow(TypeError);
    expect(() => moeRoute(Tensor.from([1, 2], [2], 'i32') as never, { kind: 'switch' })).toThrow(/logits/);
    expect(() => moeDispatch(Tensor.from([0, 3], [2, 1], 'i32'), 3)).toThrow(/experts\[1\]/);
    expect(() => moeDispatch(Tensor.from([0, 1], [2, 1], 'i32'), 0)).toThrow(/numExperts/);
    const dd = moeDispatch(Tensor.from([0, 1], [2, 1], 'i32'), 3);
    expect(() => moeCombine(randn([2, d], 1), Tensor.from([0, 2], [2, 1], 'i32'), Tensor.from([1, 1], [2, 1]))).toThrow(/inv\[1\]/);
    expect(() => moeCombine(randn([2, d], 1), dd.inv, Tensor.from([1, 1, 1], [3, 1]))).toThrow(/weights/);
    expect(() => moeGather(x, Tensor.from([9], [1], 'i32'), 2)).toThrow(/perm\[0\]/);
    expect(() => moeExperts(randn([2, d], 1), Tensor.from([0, 1, 1], [3], 'i32'), ex)).toThrow(/offsets/);
    const bad = { ...ex, w1: [ex.w1[0], randn([12, d + 1], 1), ex.w1[2]] };
    expect(() => moe(x, router, bad, { kind: 'mixtral', topK: 2 })).toThrow(/experts\.w1\[1\]/);
    expect(() => moe(x, router, { ...ex, w3: ex.w3.slice(0, 2) }, { kind: 'mixtral', topK: 2 })).toThrow(RangeError);
    expect(() => moe(x, router, { ...ex, kind: 'glu' as never }, { kind: 'mixtral', topK: 2 })).toThrow(/experts\.kind/);
    expect(() => moe(x, router, { ...ex, activation: 'nope' as never }, { kind: 'mixtral', topK: 2 })).toThrow(/experts\.activation/);
    expect(() => moe(x, randn([E, d + 1], 1), ex, { kind: 'mixtral', topK: 2 })).toThrow(/routerWeight/);
    expect(() => moe(x, randn([2, d], 1), ex, { kind: 'mixtral', topK: 2 })).toThrow(/experts/);
    expect(() => moe(x, router, ex, { kind: 'mixtral', topK: 2, routerBias: randn([2], 1) })).toThrow(/routerBias/);
    expect(() => moe(x, router, ex, { kind: 'mixtral', topK: 2, schedule: 'fast' as never })).toThrow(/schedule/);
    const qbad = { ...ex, w2: ex.w2.map((w) => ({ ...quantize(w as Tensor<'f32'>, 'int8'), data: new Uint8Array(3) })) };
    expect(() => moe(x, router, qbad as never, { kind: 'mixtral', topK: 2 })).toThrow(/experts\.w2\[0\]\.data/);
  });
});
