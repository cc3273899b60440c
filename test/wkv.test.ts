import { join } from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { add, mul, relu2, sigmoid } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import { embedding } from '../lib/ops/layout';
import { layerNorm } from '../lib/ops/norm';
import { tokenShift, tokenShiftAsync, wkv, wkvAsync, type WkvState } from '../lib/ops/wkv';
import { Tensor } from '../lib/tensor';
import { errorOf, expectAllClose, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/wkv';

const FIXTURE = join(__dirname, 'fixtures', 'kernels', 'rwkv4_wkv.safetensors');

function inputs(batch: number, T: number, C: number, seed: number, kStd = 1) {
  return {
    decay: Tensor.randn([C], { seed, std: 1 }),
    first: Tensor.randn([C], { seed: seed + 1, std: 0.5 }),
    k: Tensor.randn([batch, T, C], { seed: seed + 2, std: kStd }),
    v: Tensor.randn([batch, T, C], { seed: seed + 3 }),
  };
}

function sliceT(x: Tensor<'f32'>, t0: number, t1: number): Tensor<'f32'> {
  const [B, T, C] = x.shape;
  const out = new Float32Array(B * (t1 - t0) * C);
  for (let b = 0; b < B; b++) out.set(x.data.subarray((b * T + t0) * C, (b * T + t1) * C), b * (t1 - t0) * C);
  return Tensor.from(out, [B, t1 - t0, C]);
}

function concatT(parts: Tensor<'f32'>[]): Float32Array {
  const B = parts[0].shape[0];
  const C = parts[0].shape[2];
  const T = parts.reduce((s, p) => s + p.shape[1], 0);
  const out = new Float32Array(B * T * C);
  let t0 = 0;
  for (const p of parts) {
    const tp = p.shape[1];
    for (let b = 0; b < B; b++) out.set(p.data.subarray(b * tp * C, (b + 1) * tp * C), (b * T + t0) * C);
    t0 += tp;
  }
  return out;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

describe('wkv (RWKV-4 time mixing)', () => {
  const f = openSafetensors(FIXTURE);
  const g = (name: string) => f.tensor(name) as Tensor<'f32'>;

  for (const level of levels) {
    it(`reproduces Hugging Face rwkv_linear_attention_cpu, one run and split through the state (${level})`, () => {
      withIsa(level, () => {
        const decay = g('time_decay');
        const first = g('time_first');
        const k = g('key');
        const v = g('value');
        const r = wkv(decay, first, k, v);
        expect(r.out.shape).toEqual([2, 16, 8]);
        expect(relError(r.out.data, g('out').data)).toBeLessThan(1e-5);
        expect(relError(r.state.num.data, g('state.num').data)).toBeLessThan(1e-5);
        expect(relError(r.state.den.data, g('state.den').data)).toBeLessThan(1e-5);
        expect(relError(r.state.max.data, g('state.max').data)).toBeLessThan(1e-6);
        const a = wkv(decay, first, sliceT(k, 0, 8), sliceT(v, 0, 8));
        expect(relError(a.out.data, g('split.out_first').data)).toBeLessThan(1e-5);
        expect(relError(a.state.num.data, g('split.state_mid.num').data)).toBeLessThan(1e-5);
        expect(relError(a.state.den.data, g('split.state_mid.den').data)).toBeLessThan(1e-5);
        expect(relError(a.state.max.data, g('split.state_mid.max').data)).toBeLessThan(1e-6);
        // continue from upstream's own mid state, and from ours
        const mid: WkvState = { num: g('split.state_mid.num'), den: g('split.state_mid.den'), max: g('split.state_mid.max') };
        const b1 = wkv(decay, first, sliceT(k, 8, 16), sliceT(v, 8, 16), mid);
        expect(relError(b1.out.data, g('split.out_second').data)).toBeLessThan(1e-5);
        const b2 = wkv(decay, first, sliceT(k, 8, 16), sliceT(v, 8, 16), a.state);
        expect(sameBytes(concatT([a.out, b2.out]), r.out.data)).toBe(true);
      });
    });

    it(`matches the float64 oracle for channel counts off the vector width, with a given state (${level})`, () => {
      withIsa(level, () => {
        let seed = 10;
        for (const [B, T, C] of [[1, 1, 1], [2, 5, 7], [1, 33, 13], [3, 9, 37], [2, 17, 70], [1, 6, 131]]) {
          const { decay, first, k, v } = inputs(B, T, C, seed, 2);
          const state: WkvState = {
            num: Tensor.randn([B, C], { seed: seed + 5 }),
            den: Tensor.rand([B, C], { seed: seed + 6, low: 0.5, high: 2 }),
            max: Tensor.randn([B, C], { seed: seed + 7 }),
          };
          seed += 10;
          for (const st of [undefined, state]) {
            const r = wkv(decay, first, k, v, st);
            const w = ref.wkv(decay.data, first.data, k.data, v.data, B, T, C, st && { num: st.num.data, den: st.den.data, max: st.max.data });
            expect([B, T, C, relError(r.out.data, w.out) < 1e-5]).toEqual([B, T, C, true]);
            expect(relError(r.state.num.data, w.state.num)).toBeLessThan(1e-5);
            expect(relError(r.state.den.data, w.state.den)).toBeLessThan(1e-5);
            expect(relError(r.state.max.data, w.state.max)).toBeLessThan(1e-6);
          }
        }
      });
    });

    it(`token by token through the state equals the whole sequence, bit for bit (${level})`, () => {
      withIsa(level, () => {
        const [B, T, C] = [2, 12, 45];
        const { decay, first, k, v } = inputs(B, T, C, 99);
        const whole = wkv(decay, first, k, v);
        let state: WkvState | undefined;
        const outs: Tensor<'f32'>[] = [];
        for (let t = 0; t < T; t++) {
          const r = wkv(decay, first, sliceT(k, t, t + 1), sliceT(v, t, t + 1), state);
          outs.push(r.out);
          state = r.state;
        }
        expect(sameBytes(concatT(outs), whole.out.data)).toBe(true);
        expect(sameBytes(state!.num.data, whole.state.num.data)).toBe(true);
        expect(sameBytes(state!.den.data, whole.state.den.data)).toBe(true);
        expect(sameBytes(state!.max.data, whole.state.max.data)).toBe(true);
        // two uneven pieces
        const a = wkv(decay, first, sliceT(k, 0, 5), sliceT(v, 0, 5));
        const b = wkv(decay, first, sliceT(k, 5, T), sliceT(v, 5, T), a.state);
        expect(sameBytes(concatT([a.out, b.out]), whole.out.data)).toBe(true);
      });
    });
  }

  it('stays finite and accurate with extreme decays, huge keys and a long sequence (L = 4096)', () => {
    const [B, T, C] = [1, 4096, 24];
    const { first, k, v } = inputs(B, T, C, 7, 3);
    // decays from "forget at once" (w = -exp(100) = -inf in float32) to "never forget" (w = -exp(-30))
    const dv = [100, 30, 10, 3, 0, -3, -10, -30];
    const decay = Tensor.from(Array.from({ length: C }, (_, c) => dv[c % dv.length]), [C]);
    // keys past float32's exp overflow (e^100) in some channels
    for (let i = 0; i < k.data.length; i++) if (i % C >= 16) k.data[i] *= 40;
    for (const level of levels) {
      withIsa(level, () => {
        const r = wkv(decay, first, k, v);
        expect(allFinite(r.out.data)).toBe(true);
        expect(allFinite(r.state.num.data) && allFinite(r.state.den.data) && allFinite(r.state.max.data)).toBe(true);
        const w = ref.wkv(decay.data, first.data, k.data, v.data, B, T, C);
        // 1e-4, not 1e-5: the slow channels (w = -exp(-30), -exp(-10)) average ~4096 values of random sign
        // (num is a float32 sum with cancellation, relative condition ~sqrt(T)), and keys of magnitude ~300 put the
        // float32 rounding of k + u (ulp(300) ~ 3e-5) straight into the exponent; upstream's float32 has the same.
        const fast = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => i % C < 16 && dv[(i % C) % dv.length] > 0);
        expect(relError(fast(r.out.data), fast(w.out))).toBeLessThan(1e-5);
        expect(relError(r.out.data, w.out)).toBeLessThan(1e-4);
      });
    }
  });

  it('a lane\'s bits do not depend on its neighbours: extreme lanes among ordinary ones, whole sequence and token by token (every level)', () => {
    // C 45 = groups of 4 vectors of 8 channels (AVX2), a lone vector and a tail of 5: some lanes get exponents
    // beyond the fast exp's range (decays w = -inf, keys of +-120, a max of -1e38 from a fresh state) or NaN keys,
    // which send their whole group of vectors to the exact fallback; the ordinary lanes must keep the bits they get
    // when no neighbour is extreme, and token by token (one vector at a time) must equal the whole sequence.
    const [B, T, C] = [2, 24, 45];
    const { decay, first, k, v } = inputs(B, T, C, 77, 2);
    const wild = [3, 12, 30, 35, 41];
    const dec2 = Tensor.from(decay.data.slice(), [C]);
    const k2 = Tensor.from(k.data.slice(), k.shape);
    dec2.data[3] = 100; // w = -inf
    dec2.data[35] = -30; // w ~ -1e-13: never forgets
    for (let i = 0; i < B * T; i++) {
      k2.data[i * C + 12] = i % 3 === 0 ? 120 : -120;
      k2.data[i * C + 30] = i % 5 === 0 ? -120 : k2.data[i * C + 30];
      if (i % T === 7) k2.data[i * C + 41] = NaN;
    }
    const tame = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => !wild.includes(i % C));
    for (const level of levels) {
      withIsa(level, () => {
        const calm = wkv(decay, first, k, v);
        const mixed = wkv(dec2, first, k2, v);
        expect([level, sameBytes(Float32Array.from(tame(mixed.out.data)), Float32Array.from(tame(calm.out.data)))]).toEqual([level, true]);
        expect(sameBytes(Float32Array.from(tame(mixed.state.num.data)), Float32Array.from(tame(calm.state.num.data)))).toBe(true);
        const nanLane = Array.from(mixed.out.data).filter((_, i) => i % C === 41 && Math.floor(i / C) % T >= 7);
        expect(nanLane.every(Number.isNaN)).toBe(true);
        const w = ref.wkv(dec2.data, first.data, k2.data, v.data, B, T, C);
        const finite = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => i % C !== 41);
        expect(relError(finite(mixed.out.data), finite(w.out))).toBeLessThan(1e-5);
        let state: WkvState | undefined;
        const outs: Tensor<'f32'>[] = [];
        for (let t = 0; t < T; t++) {
          const r = wkv(dec2, first, sliceT(k2, t, t + 1), sliceT(v, t, t + 1), state);
          outs.push(r.out);
          state = r.state;
        }
        expect(sameBytes(concatT(outs), mixed.out.data)).toBe(true);
        expect(sameBytes(state!.den.data, mixed.state.den.data) && sameBytes(state!.max.data, mixed.state.max.data)).toBe(true);
      });
    }
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const { decay, first, k, v } = inputs(3, 40, 200, 3);
    const one = withThreads(1, () => wkv(decay, first, k, v));
    const three = withThreads(3, () => wkv(decay, first, k, v));
    expect(sameBytes(one.out.data, three.out.data)).toBe(true);
    expect(sameBytes(one.state.num.data, three.state.num.data)).toBe(true);
    const as = await wkvAsync(decay, first, k, v);
    expect(sameBytes(as.out.data, one.out.data)).toBe(true);
    expect(sameBytes(as.state.max.data, one.state.max.data)).toBe(true);
    const as2 = await wkvAsync(decay, first, k, v, one.state);
    expect(sameBytes(as2.out.data, wkv(decay, first, k, v, one.state).out.data)).toBe(true);
  });

  it('gives the same bits for every thread count and batch (the channel blocks follow both), long and short sequences', () => {
    // one thread: one block of all C per sequence; N threads: lcm(batch, N) blocks of whole 16-channel groups
    for (const [B, T, C] of [[1, 37, 203], [2, 9, 100], [3, 3, 53], [1, 64, 16], [2, 4, 7]]) {
      const { decay, first, k, v } = inputs(B, T, C, B * 1000 + T + C, 2);
      const one = withThreads(1, () => wkv(decay, first, k, v));
      const w = ref.wkv(decay.data, first.data, k.data, v.data, B, T, C);
      expect([B, T, C, relError(one.out.data, w.out) < 1e-5]).toEqual([B, T, C, true]);
      expect(relError(one.state.num.data, w.state.num)).toBeLessThan(1e-5);
      for (const n of [2, 3, 4, 5]) {
        const r = withThreads(n, () => wkv(decay, first, k, v, undefined));
        const mine = [r.out, r.state.num, r.state.den, r.state.max];
        const same = [one.out, one.state.num, one.state.den, one.state.max].map((x, i) => sameBytes(mine[i].data, x.data));
        expect([B, T, C, n, ...same]).toEqual([B, T, C, n, true, true, true, true]);
      }
    }
  });

  it('follows a time_decay changed in place between calls (the decay weights kept from the last call are only reused for the same values)', () => {
    const { decay, first, k, v } = inputs(2, 5, 37, 4);
    const a = wkv(decay, first, k, v);
    expect(sameBytes(wkv(decay, first, k, v).out.data, a.out.data)).toBe(true);
    decay.data[17] += 0.5; // same array, new contents
    const fresh = Tensor.from(decay.data.slice(), decay.shape);
    const b = wkv(decay, first, k, v);
    expect(sameBytes(b.out.data, a.out.data)).toBe(false);
    expect(sameBytes(b.out.data, wkv(fresh, first, k, v).out.data)).toBe(true);
    const w = ref.wkv(fresh.data, first.data, k.data, v.data, 2, 5, 37);
    expect(relError(b.out.data, w.out)).toBeLessThan(1e-5);
  });

  it('writes into opts.out when given, and refuses an out that overlaps an input', () => {
    const { decay, first, k, v } = inputs(2, 6, 11, 5);
    const out = Tensor.full([2, 6, 11], 7);
    const r = wkv(decay, first, k, v, null, { out });
    expect(r.out.data.buffer).toBe(out.data.buffer);
    expect(sameBytes(out.data, wkv(decay, first, k, v).out.data)).toBe(true);
    expect(() => wkv(decay, first, k, v, null, { out: k })).toThrow(/opts\.out must not share memory with an input/);
    expect(() => wkv(decay, first, k, v, null, { out: Tensor.zeros([2, 6, 10]) })).toThrow(/opts\.out must have shape \[2, 6, 11\]/);
  });

  it('updateState: the state is updated in place, token by token the same bits as new states', async () => {
    const [B, T, C] = [2, 7, 21];
    const { decay, first, k, v } = inputs(B, T, C, 13);
    const whole = wkv(decay, first, k, v);
    const state = wkv(decay, first, sliceT(k, 0, 1), sliceT(v, 0, 1)).state;
    const out = Tensor.zeros([B, 1, C]);
    const outs: Tensor<'f32'>[] = [wkv(decay, first, sliceT(k, 0, 1), sliceT(v, 0, 1)).out];
    for (let t = 1; t < T; t++) {
      const args = [decay, first, sliceT(k, t, t + 1), sliceT(v, t, t + 1), state, { out, updateState: true }] as const;
      const r = t % 2 ? wkv(...args) : await wkvAsync(...args);
      expect(r.state).toBe(state);
      expect(r.out.data.buffer).toBe(out.data.buffer);
      outs.push(Tensor.from(out.data.slice(), out.shape));
    }
    expect(sameBytes(concatT(outs), whole.out.data)).toBe(true);
    expect(sameBytes(state.num.data, whole.state.num.data)).toBe(true);
    expect(sameBytes(state.den.data, whole.state.den.data)).toBe(true);
    expect(sameBytes(state.max.data, whole.state.max.data)).toBe(true);
    // the rest of the sequence at once, in place, with 3 threads
    const s2 = wkv(decay, first, sliceT(k, 0, 3), sliceT(v, 0, 3)).state;
    const r2 = withThreads(3, () => wkv(decay, first, sliceT(k, 3, T), sliceT(v, 3, T), s2, { updateState: true }));
    expect(r2.state).toBe(s2);
    expect(sameBytes(s2.num.data, whole.state.num.data) && sameBytes(s2.max.data, whole.state.max.data)).toBe(true);
    // refused: no state, a state over an input or over itself, an out over the state, a non-boolean
    expect(() => wkv(decay, first, k, v, null, { updateState: true })).toThrow(/opts\.updateState needs a state/);
    expect(() => wkv(decay, first, k, v, state, { updateState: 1 as never })).toThrow(/opts\.updateState must be a boolean/);
    const kk = Tensor.zeros([B, 1, C]);
    const overK = { ...state, num: Tensor.from(kk.data.subarray(0, B * C), [B, C]) };
    expect(() => wkv(decay, first, kk, sliceT(v, 0, 1), overK, { updateState: true })).toThrow(/state\.num \(updated in place\) must not share memory with an input/);
    expect(() => wkv(decay, first, sliceT(k, 0, 1), sliceT(v, 0, 1), { ...state, den: state.num }, { updateState: true })).toThrow(/must not share memory when updated in place/);
    const outOverState = Tensor.from(state.max.data, [B, 1, C]);
    expect(() => wkv(decay, first, sliceT(k, 0, 1), sliceT(v, 0, 1), state, { out: outOverState, updateState: true })).toThrow(/opts\.out must not share memory with an input/);
    expect(() => wkv(decay, first, k, v, 3 as never, { updateState: true })).toThrow(/state must be an object/);
  });

  it('does not modify the state it is given, and handles empty sizes', () => {
    const { decay, first, k, v } = inputs(1, 3, 5, 1);
    const r = wkv(decay, first, k, v);
    const before = r.state.num.data.slice();
    wkv(decay, first, k, v, r.state);
    expect(sameBytes(before, r.state.num.data)).toBe(true);
    const e = wkv(decay, first, Tensor.zeros([1, 0, 5]), Tensor.zeros([1, 0, 5]));
    expect(e.out.shape).toEqual([1, 0, 5]);
    expect(Array.from(e.state.max.data)).toEqual(new Array<number>(5).fill(Math.fround(-1e38)));
    expect(wkv(Tensor.zeros([0]), Tensor.zeros([0]), Tensor.zeros([2, 3, 0]), Tensor.zeros([2, 3, 0])).out.shape).toEqual([2, 3, 0]);
  });

  it('a generation step (updateState) takes the packed fast path: the bits and the messages of the object form', () => {
    const { decay, first, k, v } = inputs(2, 4, 21, 41);
    // token t of [2, 4, 21] as [2, 1, 21]
    const kt = (t: number) => Tensor.from(Float32Array.from([...k.data.subarray(t * 21, t * 21 + 21), ...k.data.subarray(84 + t * 21, 84 + t * 21 + 21)]), [2, 1, 21]);
    const vt = (t: number) => Tensor.from(Float32Array.from([...v.data.subarray(t * 21, t * 21 + 21), ...v.data.subarray(84 + t * 21, 84 + t * 21 + 21)]), [2, 1, 21]);
    const s1 = wkv(decay, first, kt(0), vt(0)).state;
    const s2: WkvState = { num: Tensor.from(s1.num.data.slice(), [2, 21]), den: Tensor.from(s1.den.data.slice(), [2, 21]), max: Tensor.from(s1.max.data.slice(), [2, 21]) };
    const spy = vi.spyOn(binding, 'wkvStepPacked');
    try {
      for (let t = 1; t < 4; t++) {
        const out = t === 2 ? Tensor.zeros([2, 1, 21]) : null;
        const a = wkv(decay, first, kt(t), vt(t), s1, { updateState: true, out });
        const b = binding.wkv(decay, first, kt(t), vt(t), s2, { updateState: true });
        expect(a.state).toBe(s1);
        if (out) expect(a.out.data.buffer).toBe(out.data.buffer);
        expect(sameBytes(a.out.data, b.out.data)).toBe(true);
        expect(sameBytes(s1.num.data, s2.num.data) && sameBytes(s1.den.data, s2.den.data) && sameBytes(s1.max.data, s2.max.data)).toBe(true);
      }
      expect(spy).toHaveBeenCalledTimes(3);
      wkv(decay, first, kt(0), vt(0), s1); // not in place: the object form
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
    type Args = [unknown, unknown, unknown, unknown, Record<string, unknown> | unknown, Record<string, unknown>];
    const good = (): Args => {
      const st = wkv(decay, first, kt(0), vt(0)).state;
      return [decay, first, kt(1), vt(1), st, { updateState: true, out: Tensor.zeros([2, 1, 21]) }];
    };
    const detached = Tensor.alloc([21], 'f32');
    detached.dispose();
    const st = (a: Args) => a[4] as WkvState;
    const cases: [string, (a: Args) => void][] = [
      ['k absent', (a) => (a[2] = undefined)],
      ['k of 2 dims', (a) => (a[2] = Tensor.zeros([2, 21]))],
      ['k data kind', (a) => (a[2] = { data: new Int32Array(42), shape: [2, 1, 21], dtype: 'f32' })],
      ['v shape', (a) => (a[3] = Tensor.zeros([2, 1, 20]))],
      ['timeDecay shape', (a) => (a[0] = Tensor.zeros([20]))],
      ['timeFirst detached', (a) => (a[1] = detached)],
      ['timeFirst dtype', (a) => (a[1] = Tensor.zeros([21], 'i32'))],
      ['num shape', (a) => (st(a).num = Tensor.zeros([2, 20]))],
      ['den absent', (a) => (a[4] = { num: st(a).num, max: st(a).max })],
      ['max over k', (a) => (st(a).max = Tensor.from((a[2] as Tensor<'f32'>).data, [2, 21]))],
      ['max over num', (a) => (st(a).max = st(a).num)],
      ['state an array', (a) => (a[4] = [])],
      ['state absent', (a) => (a[4] = null)],
      ['out shape', (a) => (a[5].out = Tensor.zeros([2, 2, 21]))],
      ['out over den', (a) => (a[5].out = Tensor.from(st(a).den.data, [2, 1, 21]))],
      ['shape odd', (a) => (a[2] = { data: new Float32Array(42), shape: [2, 1, 21.5], dtype: 'f32' })],
    ];
    for (const [what, edit] of cases) {
      const a = good(), b = good();
      edit(a);
      edit(b);
      const got = errorOf(() => (wkv as (...x: unknown[]) => unknown)(...a));
      expect([what, got]).toEqual([what, errorOf(() => (binding.wkv as (...x: unknown[]) => unknown)(...b))]);
      expect([what, got === 'no error']).toEqual([what, false]);
    }
    expect(() => (binding.wkvStepPacked as (...x: unknown[]) => unknown)(new Float64Array(79))).toThrow(/packed tensor records must be a Float64Array of 80 or more elements/);
  });

  it('rejects bad arguments, naming them', () => {
    const { decay, first, k, v } = inputs(2, 3, 5, 1);
    expect(() => wkv(decay, first, Tensor.zeros([3, 5]), v)).toThrow(RangeError);
    expect(() => wkv(decay, first, Tensor.zeros([3, 5]), v)).toThrow(/k must have shape \[batch, T, C\]/);
    expect(() => wkv(decay, first, k, Tensor.zeros([2, 3, 6]))).toThrow(/k and v must have the same shape/);
    expect(() => wkv(Tensor.zeros([4]), first, k, v)).toThrow(/timeDecay must have shape \[5\]/);
    expect(() => wkv(decay, Tensor.zeros([5, 1]), k, v)).toThrow(/timeFirst must have shape \[5\]/);
    expect(() => wkv(decay, first, Tensor.zeros([2, 3, 5], 'f16') as never, v)).toThrow(TypeError);
    expect(() => wkv(decay, first, k, v, 3 as never)).toThrow(/state must be an object/);
    const st = wkv(decay, first, k, v).state;
    expect(() => wkv(decay, first, k, v, { ...st, den: Tensor.zeros([2, 4]) })).toThrow(/state\.den must have shape \[2, 5\]/);
    expect(() => wkv(decay, first, k, v, { num: st.num, den: st.den } as never)).toThrow(/state\.max/);
    expect(() => binding.wkvAsync(decay, first, { data: new Float32Array(2), shape: [2, 3, 5], dtype: 'f32' }, v)).toThrow(/k\.data has 2 elements/);
  });
});

/** Upstream's token shift in float32, each operation rounded as torch rounds it: x m + shifted (1 - m). */
function shiftRef(x: Tensor<'f32'>, mix: Float32Array, state: Float32Array | null): Float32Array {
  const [B, T, C] = x.shape;
  const f = Math.fround;
  const out = new Float32Array(B * T * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let c = 0; c < C; c++) {
        const prev = t > 0 ? x.data[(b * T + t - 1) * C + c] : state ? state[b * C + c] : 0;
        const i = (b * T + t) * C + c;
        out[i] = f(f(x.data[i] * mix[c]) + f(prev * f(1 - mix[c])));
      }
  return out;
}

describe('tokenShift (RWKV token shift with its mixes)', () => {
  const C = 37; // not a multiple of any vector width
  const mixes = [0, 1, 2].map((i) => Tensor.rand([C], { seed: 40 + i }));

  it("gives upstream's float32 bits for every mix, with and without a state, any thread count; async equals sync", async () => {
    for (const [B, T] of [[1, 1], [2, 5], [3, 64]]) {
      const x = Tensor.randn([B, T, C], { seed: B * 100 + T, std: 2 });
      const state = Tensor.randn([B, C], { seed: 7 });
      for (const st of [null, state]) {
        const r1 = withThreads(1, () => tokenShift(x, mixes, { state: st }));
        const r3 = withThreads(3, () => tokenShift(x, mixes, { state: st }));
        mixes.forEach((m, i) => {
          expect(sameBytes(r1.out[i].data, shiftRef(x, m.data, st ? st.data : null))).toBe(true);
          expect(sameBytes(r3.out[i].data, r1.out[i].data)).toBe(true);
          expect(r1.out[i].shape).toEqual([B, T, C]);
        });
        expect(sameBytes(r1.state.data, sliceT(x, T - 1, T).data)).toBe(true);
        expect(r1.state.shape).toEqual([B, C]);
        const ra = await tokenShiftAsync(x, mixes, { state: st });
        ra.out.forEach((o, i) => expect(sameBytes(o.data, r1.out[i].data)).toBe(true));
        expect(sameBytes(ra.state.data, r1.state.data)).toBe(true);
      }
    }
    // a large call (many rows over the thread pool) against the reference
    const big = Tensor.randn([2, 300, 96], { seed: 5 });
    const bm = [Tensor.rand([1, 1, 96], { seed: 6 })];
    expect(sameBytes(withThreads(3, () => tokenShift(big, bm)).out[0].data, shiftRef(big, bm[0].data, null))).toBe(true);
  });

  it('a split run through the returned state, and token by token in place, equal one run', () => {
    const x = Tensor.randn([2, 9, C], { seed: 11 });
    const whole = tokenShift(x, mixes);
    const a = tokenShift(sliceT(x, 0, 4), mixes);
    const b = tokenShift(sliceT(x, 4, 9), mixes, { state: a.state });
    mixes.forEach((_, i) => expect(sameBytes(concatT([a.out[i], b.out[i]]), whole.out[i].data)).toBe(true));
    expect(sameBytes(b.state.data, whole.state.data)).toBe(true);
    // a generation loop: one state updated in place, outputs reused
    const state = Tensor.zeros([2, C]);
    const outs = mixes.map(() => Tensor.zeros([2, 1, C]));
    const steps: Tensor<'f32'>[][] = mixes.map(() => []);
    for (let t = 0; t < 9; t++) {
      const r = tokenShift(sliceT(x, t, t + 1), mixes, { state, out: outs, updateState: true });
      expect(r.state).toBe(state);
      r.out.forEach((o, i) => {
        expect(o.data.buffer).toBe(outs[i].data.buffer);
        steps[i].push(Tensor.from(o.data.slice(), [2, 1, C]));
      });
    }
    mixes.forEach((_, i) => expect(sameBytes(concatT(steps[i]), whole.out[i].data)).toBe(true));
    expect(sameBytes(state.data, whole.state.data)).toBe(true);
  });

  it('keeps the given state for T = 0 (zeros without one), does not modify it otherwise, and propagates NaN and inf as torch does', () => {
    const st = Tensor.randn([2, C], { seed: 3 });
    const copy = st.data.slice();
    const e = tokenShift(Tensor.zeros([2, 0, C]), mixes, { state: st });
    expect(e.out[0].shape).toEqual([2, 0, C]);
    expect(sameBytes(e.state.data, copy)).toBe(true);
    expect(e.state).not.toBe(st);
    expect(Array.from(tokenShift(Tensor.zeros([1, 0, 2]), [Tensor.rand([2])]).state.data)).toEqual([0, 0]);
    tokenShift(Tensor.randn([2, 3, C]), mixes, { state: st });
    expect(sameBytes(st.data, copy)).toBe(true);
    // zero padding computed as such: 0 (1 - inf) is NaN, as in torch; a NaN in x reaches its own and the next token
    const x = Tensor.from([-1, NaN, 2, 3], [1, 2, 2]);
    const r = tokenShift(x, [Tensor.from([Infinity, 0.5], [2])]);
    expect(Array.from(r.out[0].data)).toEqual([NaN, NaN, Infinity, NaN]);
    expect(Array.from(r.out[0].data)).toEqual(Array.from(shiftRef(x, Float32Array.from([Infinity, 0.5]), null)));
  });

  it('rejects bad arguments, naming them', () => {
    const x = Tensor.randn([2, 3, 4]);
    const m = [Tensor.rand([4])];
    const st = Tensor.zeros([2, 4]);
    const o = () => Tensor.zeros([2, 3, 4]);
    expect(() => tokenShift(Tensor.zeros([3, 4]), m)).toThrow(/x must have shape \[batch, T, C\], got \[3, 4\]/);
    expect(() => tokenShift(Tensor.zeros([2, 3, 4], 'i32') as never, m)).toThrow(/x must have dtype f32, got i32/);
    expect(() => tokenShift(x, m[0] as never)).toThrow(/mixes must be an array of f32 tensors/);
    expect(() => tokenShift(x, [])).toThrow(/mixes must hold 1 to 8 tensors, got 0/);
    expect(() => tokenShift(x, Array(9).fill(m[0]))).toThrow(/mixes must hold 1 to 8 tensors, got 9/);
    expect(() => tokenShift(x, [m[0], Tensor.zeros([2, 4])])).toThrow(
      /mixes\[1\] must have shape \[C\] or \[1, \.\.\., 1, C\] with C = 4 \(the channels of x\), got \[2, 4\]/,
    );
    expect(() => tokenShift(x, [Tensor.zeros([5])])).toThrow(/mixes\[0\] must have shape .* got \[5\]/);
    expect(() => tokenShift(x, [undefined as never])).toThrow(/mixes\[0\] must be a tensor/);
    expect(() => tokenShift(x, m, 3 as never)).toThrow(/opts must be an object/);
    expect(() => tokenShift(x, m, { state: Tensor.zeros([1, 4]) })).toThrow(/opts.state must have shape \[2, 4\] \(\[batch, C\] of x\), got \[1, 4\]/);
    expect(() => tokenShift(x, m, { updateState: true })).toThrow(/opts.updateState needs opts.state to update/);
    expect(() => tokenShift(x, m, { state: st, updateState: 1 as never })).toThrow(/opts.updateState must be a boolean/);
    const xs = Tensor.from(x.data.subarray(0, 8), [2, 4]);
    expect(() => tokenShift(x, m, { state: xs, updateState: true })).toThrow(/opts.state \(updated in place\) must not share memory with x/);
    expect(() => tokenShift(x, m, { state: Tensor.from(m[0].data, [1, 4]) as never, updateState: true })).toThrow(/opts.state must have shape/);
    expect(() => tokenShift(x, m, { out: [o(), o()] })).toThrow(/opts.out must be an array of 1 f32 tensors \(one per mix\), or null/);
    expect(() => tokenShift(x, m, { out: o() as never })).toThrow(/opts.out must be an array of 1/);
    expect(() => tokenShift(x, m, { out: [Tensor.zeros([2, 3, 5])] })).toThrow(/opts.out\[0\] must have shape \[2, 3, 4\] \(x's\), got \[2, 3, 5\]/);
    expect(() => tokenShift(x, m, { out: [x] })).toThrow(/opts.out\[0\] must not share memory with an input/);
    const buf = new Float32Array(24);
    expect(() => tokenShift(x, m, { state: Tensor.from(buf.subarray(16), [2, 4]), out: [Tensor.from(buf, [2, 3, 4])] })).toThrow(
      /opts.out\[0\] must not share memory with an input/,
    );
    const shared = o();
    expect(() => tokenShift(x, [m[0], m[0]], { out: [shared, shared] })).toThrow(/opts.out\[1\] and opts.out\[0\] must not share memory/);
    expect(errorOf(() => binding.tokenShiftAsync(x, [] as never))).toMatch(/mixes must hold 1 to 8 tensors/);
  });
});

// End to end against Hugging Face's RwkvForCausalLM (test/fixtures/hf/rwkv: 2 layers, hidden 32, feed-forward 64,
// vocab 128, 2 sequences of 12 tokens, use_cache so the final state is recorded). The blocks composed from the ops
// (the RWKV model family itself comes later): per layer, time mixing h += W_o (sigmoid(W_r x_r) * wkv(W_k x_k, W_v x_v))
// and channel mixing h += sigmoid(W_r' y_r) * W_v' relu2(W_k' y_k), where x = LN1(h), y = LN2(h) after it, and
// x_k, x_v, x_r, y_k, y_r are tokenShift's mixes; LN0 before layer 0, LN_out after the last.
describe('RWKV-4 blocks on tokenShift, wkv and relu2 (Hugging Face fixture)', () => {
  const dir = join(__dirname, 'fixtures', 'hf', 'rwkv');
  interface LayerState {
    att: Tensor<'f32'>;
    ffn: Tensor<'f32'>;
    wkv: WkvState;
  }

  function columns(ids: Tensor<'i64'>, t0: number, t1: number): Tensor<'i64'> {
    const [B, T] = ids.shape;
    const out = new BigInt64Array(B * (t1 - t0));
    for (let b = 0; b < B; b++) out.set(ids.data.subarray(b * T + t0, b * T + t1), b * (t1 - t0));
    return Tensor.from(out, [B, t1 - t0], 'i64');
  }


  it('reproduce the hidden states, logits and final state of upstream; a prefix and then token-by-token steps agree', () => {
    const model = openSafetensors(join(dir, 'model.safetensors'));
    const io = openSafetensors(join(dir, 'io.safetensors'));
    const w = (n: string) => model.tensor(n) as Tensor<'f32'>;
    const layers = 2, eps = 1e-5;
    const run = (ids: Tensor<'i64'>, states: LayerState[] | null) => {
      let h = embedding(ids, w('rwkv.embeddings.weight'));
      const hidden: Tensor<'f32'>[] = [];
      const next: LayerState[] = [];
      for (let i = 0; i < layers; i++) {
        const p = `rwkv.blocks.${i}`, a = `${p}.attention`, f = `${p}.feed_forward`;
        if (i === 0) h = layerNorm(h, w(`${p}.pre_ln.weight`), w(`${p}.pre_ln.bias`), eps);
        const x = layerNorm(h, w(`${p}.ln1.weight`), w(`${p}.ln1.bias`), eps);
        const tm = tokenShift(x, [w(`${a}.time_mix_key`), w(`${a}.time_mix_value`), w(`${a}.time_mix_receptance`)], {
          state: states?.[i].att,
        });
        const [xk, xv, xr] = tm.out;
        const att = wkv(w(`${a}.time_decay`), w(`${a}.time_first`), linear(xk, w(`${a}.key.weight`)),
          linear(xv, w(`${a}.value.weight`)), states?.[i].wkv);
        h = add(h, linear(mul(sigmoid(linear(xr, w(`${a}.receptance.weight`))), att.out), w(`${a}.output.weight`)));
        const y = layerNorm(h, w(`${p}.ln2.weight`), w(`${p}.ln2.bias`), eps);
        const cm = tokenShift(y, [w(`${f}.time_mix_key`), w(`${f}.time_mix_receptance`)], { state: states?.[i].ffn });
        const value = linear(relu2(linear(cm.out[0], w(`${f}.key.weight`))), w(`${f}.value.weight`));
        h = add(h, mul(sigmoid(linear(cm.out[1], w(`${f}.receptance.weight`))), value));
        hidden.push(h);
        next.push({ att: tm.state, ffn: cm.state, wkv: att.state });
      }
      const last = layerNorm(h, w('rwkv.ln_out.weight'), w('rwkv.ln_out.bias'), eps);
      return { hidden, last, logits: linear(last, w('head.weight')), states: next };
    };
    // upstream's state: five [batch, hidden, layers] tensors, the feed-forward's shift, the attention's shift, num,
    // den, max (modeling_rwkv.py indexes them so; its initial max is -1e30, ours -1e38: e^(max - m) = 0 either way)
    const stateOf = (states: LayerState[]) => {
      const [B, C] = states[0].att.shape;
      const parts = [(s: LayerState) => s.ffn, (s: LayerState) => s.att, (s: LayerState) => s.wkv.num, (s: LayerState) => s.wkv.den, (s: LayerState) => s.wkv.max];
      return parts.map((pick) => {
        const out = new Float32Array(B * C * layers);
        states.forEach((s, l) => pick(s).data.forEach((x, i) => (out[i * layers + l] = x)));
        return out;
      });
    };

    const ids = io.tensor('input.input_ids') as Tensor<'i64'>;
    const full = run(ids, null);
    const want = (n: string) => (io.tensor(n) as Tensor<'f32'>).data;
    full.hidden.forEach((h, i) => expectAllClose(h.data, want(`output.hidden_states.${i}`), `hidden_states.${i}`));
    expectAllClose(full.last.data, want('output.last_hidden_state'), 'last_hidden_state');
    expectAllClose(full.logits.data, want('output.logits'), 'logits');
    stateOf(full.states).forEach((s, k) => expectAllClose(s, want(`output.state.${k}`), `state.${k}`));

    // generation: 7 tokens, then one token at a time through the returned states
    const T = ids.shape[1];
    let step = run(columns(ids, 0, 7), null);
    const lastRows = [step.last];
    for (let t = 7; t < T; t++) {
      step = run(columns(ids, t, t + 1), step.states);
      lastRows.push(step.last);
    }
    expectAllClose(concatT(lastRows), want('output.last_hidden_state'), 'last_hidden_state, prefix + steps');
    stateOf(step.states).forEach((s, k) => expectAllClose(s, want(`output.state.${k}`), `state.${k}, prefix + steps`));
    model.dispose();
    io.dispose();
  });
});
