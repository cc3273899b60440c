import { join } from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { add, mul, silu } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import { concat, embedding, permute } from '../lib/ops/layout';
import { rmsNorm } from '../lib/ops/norm';
import { retention, retentionAsync, type RetentionState } from '../lib/ops/retention';
import { Tensor } from '../lib/tensor';
import { errorOf, expectAllClose, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/retention';

const FIXTURE = join(__dirname, 'fixtures', 'kernels', 'retnet_retention.safetensors');

function makeCase(batch: number, heads: number, T: number, dk: number, dv: number, seed: number) {
  const decay = Tensor.from(Array.from({ length: heads }, (_, h) => Math.log(1 - 2 ** (-5 - h))), [heads]);
  const q = Tensor.randn([batch, heads, T, dk], { seed });
  const k = Tensor.randn([batch, heads, T, dk], { seed: seed + 1, std: dk ** -0.5 });
  const v = Tensor.randn([batch, T, heads * dv], { seed: seed + 2 });
  const input = { q: q.data, k: k.data, v: v.data, decay: decay.data, batch, heads, T, dk, dv };
  return { q, k, v, decay, input };
}

/** Tokens t0..t1 of q/k ([batch, heads, T, dk]) or v ([batch, T, X]). */
function sliceQK(x: Tensor<'f32'>, t0: number, t1: number): Tensor<'f32'> {
  const [B, H, T, d] = x.shape;
  const out = new Float32Array(B * H * (t1 - t0) * d);
  for (let bh = 0; bh < B * H; bh++) out.set(x.data.subarray((bh * T + t0) * d, (bh * T + t1) * d), bh * (t1 - t0) * d);
  return Tensor.from(out, [B, H, t1 - t0, d]);
}
function sliceV(x: Tensor<'f32'>, t0: number, t1: number): Tensor<'f32'> {
  const [B, T, X] = x.shape;
  const out = new Float32Array(B * (t1 - t0) * X);
  for (let b = 0; b < B; b++) out.set(x.data.subarray((b * T + t0) * X, (b * T + t1) * X), b * (t1 - t0) * X);
  return Tensor.from(out, [B, t1 - t0, X]);
}
/** Concatenates outputs [batch, t, heads, dv] along t. */
function concatT(parts: Tensor<'f32'>[]): Float32Array {
  const [B, , H, dv] = parts[0].shape;
  const T = parts.reduce((s, p) => s + p.shape[1], 0);
  const out = new Float32Array(B * T * H * dv);
  let t0 = 0;
  for (const p of parts) {
    const tp = p.shape[1];
    for (let b = 0; b < B; b++) out.set(p.data.subarray(b * tp * H * dv, (b + 1) * tp * H * dv), (b * T + t0) * H * dv);
    t0 += tp;
  }
  return out;
}
function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

describe('retention (torchscale MultiScaleRetention)', () => {
  const f = openSafetensors(FIXTURE);
  const g = (name: string) => f.tensor(name) as Tensor<'f32'>;

  for (const level of levels) {
    it(`reproduces upstream's kernel outputs, each form against its own, and the recurrent final state (${level})`, () => {
      withIsa(level, () => {
        const [q, k, v, decay] = [g('kernel.qr'), g('kernel.kr'), g('kernel.v'), g('relpos.decay')];
        const par = retention(q, k, v, decay);
        expect(par.out.shape).toEqual([2, 16, 2, 32]);
        expect(par.state).toBeNull();
        expect(relError(par.out.data, g('kernel.parallel_out').data)).toBeLessThan(1e-5);
        const rec = retention(q, k, v, decay, { form: 'recurrent' });
        expect(relError(rec.out.data, g('kernel.recurrent_out').data)).toBeLessThan(1e-5);
        expect(relError(rec.state!.kv.data, g('output.recurrent_final_kv').data)).toBeLessThan(1e-5);
        expect(relError(rec.state!.scale.data, g('output.recurrent_final_scale').data)).toBeLessThan(1e-6);
        const ch = retention(q, k, v, decay, { form: 'chunkwise', chunkSize: 4 });
        // upstream's [batch, chunks, chunk, heads, dv] is the same memory as [batch, T, heads, dv]
        expect(relError(ch.out.data, g('kernel.chunkwise_out').data)).toBeLessThan(1e-5);
        // on this data no row reaches the parallel form's clamp, so parallel == recurrent (upstream: 4.1e-8 apart);
        // with larger scores the forms differ by design (their normalisations)
        expect(relError(par.out.data, rec.out.data)).toBeLessThan(1e-5);
      });
    });

    it(`matches the float64 oracles for odd sizes (${level})`, () => {
      withIsa(level, () => {
        let seed = 1;
        for (const [batch, heads, T, dk, dv, chunk] of [[1, 1, 1, 1, 1, 1], [2, 3, 12, 5, 7, 4], [1, 2, 18, 16, 33, 6], [1, 1, 9, 19, 9, 9]]) {
          const c = makeCase(batch, heads, T, dk, dv, seed);
          seed += 5;
          const tag = [batch, heads, T, dk, dv];
          expect([...tag, relError(retention(c.q, c.k, c.v, c.decay).out.data, ref.parallel(c.input)) < 1e-5]).toEqual([...tag, true]);
          const rec = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
          const want = ref.recurrent(c.input);
          expect([...tag, relError(rec.out.data, want.out) < 1e-5]).toEqual([...tag, true]);
          expect(relError(rec.state!.kv.data, want.kv)).toBeLessThan(1e-5);
          const ch = retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise', chunkSize: chunk });
          expect([...tag, relError(ch.out.data, ref.chunkwise(c.input, chunk)) < 1e-5]).toEqual([...tag, true]);
        }
      });
    });

    it(`chunkwise: chunks wider than the kernel's register tiles (several column panels and row blocks, the causal tiles skipped, partial tiles) match the float64 oracle (${level})`, () => {
      withIsa(level, () => {
        let seed = 40;
        for (const [batch, heads, T, dk, dv, chunk] of [[1, 2, 80, 20, 40, 40], [1, 1, 128, 64, 128, 64], [2, 1, 51, 9, 17, 17], [1, 1, 66, 33, 70, 22]]) {
          const c = makeCase(batch, heads, T, dk, dv, seed);
          seed += 3;
          const ch = retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise', chunkSize: chunk });
          expect([batch, heads, T, dk, dv, chunk, relError(ch.out.data, ref.chunkwise(c.input, chunk)) < 1e-5]).toEqual([batch, heads, T, dk, dv, chunk, true]);
        }
      });
    });

    // The chunkwise form runs the heads of a batch row in groups, chunk by chunk across a group's heads (one thread:
    // one group of all heads; more threads: more, smaller groups; a group's scratch over ~16 MiB: smaller groups). A
    // head's arithmetic must not depend on its group: each head equals that head run alone (a group of one), bit for bit.
    it(`chunkwise in head groups: every head equals it run alone bit for bit at 1-4 and 8 threads (heads not a multiple of the group, batch 1-3, odd dk/dv and chunks), and matches the float64 oracle (${level})`, () => {
      withIsa(level, () => {
        let seed = 70;
        const cases = [[1, 5, 24, 9, 13, 8], [2, 5, 30, 16, 24, 6], [3, 7, 20, 5, 3, 10], [1, 3, 36, 33, 70, 12], [2, 4, 14, 8, 17, 7]];
        for (const [batch, heads, T, dk, dv, chunk] of cases) {
          const c = makeCase(batch, heads, T, dk, dv, seed);
          seed += 3;
          const tag = [batch, heads, T, dk, dv, chunk];
          const opts = { form: 'chunkwise' as const, chunkSize: chunk };
          const one = withThreads(1, () => retention(c.q, c.k, c.v, c.decay, opts)).out;
          expect([...tag, relError(one.data, ref.chunkwise(c.input, chunk)) < 1e-5]).toEqual([...tag, true]);
          for (const n of [2, 3, 4, 8]) {
            const got = withThreads(n, () => retention(c.q, c.k, c.v, c.decay, opts)).out;
            expect([...tag, n, sameBytes(got.data, one.data)]).toEqual([...tag, n, true]);
          }
          for (let h = 0; h < heads; h++) {
            const qh = new Float32Array(batch * T * dk);
            const kh = new Float32Array(batch * T * dk);
            const vh = new Float32Array(batch * T * dv);
            const want = new Float32Array(batch * T * dv);
            for (let b = 0; b < batch; b++) {
              qh.set(c.q.data.subarray((b * heads + h) * T * dk, (b * heads + h + 1) * T * dk), b * T * dk);
              kh.set(c.k.data.subarray((b * heads + h) * T * dk, (b * heads + h + 1) * T * dk), b * T * dk);
              for (let t = 0; t < T; t++) {
                const row = (b * T + t) * heads * dv + h * dv;
                vh.set(c.v.data.subarray(row, row + dv), (b * T + t) * dv);
                want.set(one.data.subarray(row, row + dv), (b * T + t) * dv);
              }
            }
            const alone = retention(
              Tensor.from(qh, [batch, 1, T, dk]),
              Tensor.from(kh, [batch, 1, T, dk]),
              Tensor.from(vh, [batch, T, dv]),
              Tensor.from([c.decay.data[h]], [1]),
              opts,
            ).out;
            expect([...tag, h, sameBytes(alone.data, want)]).toEqual([...tag, h, true]);
          }
        }
      });
    });

    // The sequence form runs the state in the running-product form (native/cpu/retention: within runs of tokens that
    // start where a call starts, x = P_t y with two FMAs per state element), a step (one token) in the exact form: a
    // split run, or token by token, rounds differently from one run in the last bits (within 1e-6); the scales are
    // scalar and the same bits.
    it(`recurrent: a run split through the state, and token by token, equals one run within 1e-6 (${level})`, () => {
      withIsa(level, () => {
        const c = makeCase(2, 3, 11, 8, 12, 40);
        const whole = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
        const a = retention(sliceQK(c.q, 0, 4), sliceQK(c.k, 0, 4), sliceV(c.v, 0, 4), c.decay, { form: 'recurrent' });
        const b = retention(sliceQK(c.q, 4, 11), sliceQK(c.k, 4, 11), sliceV(c.v, 4, 11), c.decay, { form: 'recurrent', state: a.state });
        expect(relError(concatT([a.out, b.out]), whole.out.data)).toBeLessThanOrEqual(1e-6);
        expect(relError(b.state!.kv.data, whole.state!.kv.data)).toBeLessThanOrEqual(1e-6);
        expect(sameBytes(b.state!.scale.data, whole.state!.scale.data)).toBe(true);
        let state: RetentionState | null = null;
        const outs: Tensor<'f32'>[] = [];
        for (let t = 0; t < 11; t++) {
          const r = retention(sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay, { form: 'recurrent', state });
          outs.push(r.out);
          state = r.state;
        }
        expect(relError(concatT(outs), whole.out.data)).toBeLessThanOrEqual(1e-6);
        expect(relError(state!.kv.data, whole.state!.kv.data)).toBeLessThanOrEqual(1e-6);
      });
    });
  }

  it('recurrent with wide heads (several row groups and state segments, token sub-blocks): split and token by token equal one run within 1e-6 (the running product restarts where a call starts), and match the oracle', () => {
    // dk 136: segments of 64, 64 and 8 columns (AVX2; 128 + 8 on AVX-512); dv 37: row groups plus a tail; T 40: the
    // read-outs of a row group are reduced per run of the running product (32 tokens at most; Tb 15 for dk 136)
    const c = makeCase(1, 2, 40, 136, 37, 77);
    for (const level of levels) {
      withIsa(level, () => {
        const whole = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
        expect([level, relError(whole.out.data, ref.recurrent(c.input).out) < 1e-5]).toEqual([level, true]);
        const a = retention(sliceQK(c.q, 0, 23), sliceQK(c.k, 0, 23), sliceV(c.v, 0, 23), c.decay, { form: 'recurrent' });
        const b = retention(sliceQK(c.q, 23, 40), sliceQK(c.k, 23, 40), sliceV(c.v, 23, 40), c.decay, { form: 'recurrent', state: a.state });
        expect([level, relError(concatT([a.out, b.out]), whole.out.data) <= 1e-6, relError(b.state!.kv.data, whole.state!.kv.data) <= 1e-6]).toEqual([level, true, true]);
        let state: RetentionState | null = null;
        const outs: Tensor<'f32'>[] = [];
        for (let t = 0; t < 40; t++) {
          const r = retention(sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay, { form: 'recurrent', state });
          outs.push(r.out);
          state = r.state;
        }
        expect([level, relError(concatT(outs), whole.out.data) <= 1e-6, relError(state!.kv.data, whole.state!.kv.data) <= 1e-6]).toEqual([level, true, true]);
      });
    }
  });

  it('recurrent generation steps (one token: the rows streamed once, k and q in registers, the exact form) equal one run within 1e-6 (its running product) for dk 64, 61, 3 and dv 37, at every level', () => {
    // dk 64: a full row of eight vectors on AVX2 (four on AVX-512); 61 and 3: a partial last vector; dk <= 8 W takes
    // the one-token path, the run of 13 tokens the blocked one
    for (const [dk, seed] of [[64, 5], [61, 6], [3, 7]] as const) {
      const c = makeCase(2, 2, 13, dk, 37, seed);
      for (const level of levels) {
        withIsa(level, () => {
          const whole = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
          const oracle = ref.recurrent(c.input);
          let state: RetentionState | null = null;
          const outs: Tensor<'f32'>[] = [];
          for (let t = 0; t < 13; t++) {
            const r = retention(sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay, { form: 'recurrent', state });
            outs.push(r.out);
            state = r.state;
          }
          expect([dk, level, relError(concatT(outs), whole.out.data) <= 1e-6, relError(state!.kv.data, whole.state!.kv.data) <= 1e-6]).toEqual([dk, level, true, true]);
          expect([dk, level, relError(whole.out.data, oracle.out) < 1e-5, relError(state!.kv.data, oracle.kv) < 1e-5]).toEqual([dk, level, true, true]);
        });
      }
    }
  });

  it('recurrent running product: runs whose product of keep factors would leave [2^-20, 2^20] take the exact form; odd T, dk, dv match the float64 oracle at every level, the same bits twice and at any thread count', () => {
    // per head gamma 0.97 (the product stays in range), 0.6 (it falls below 2^-20 after ~27 tokens: runs of 29 or 32
    // tokens end early into the exact form, shorter ones do not), 0.5 (after ~20), and exp(-30) (every keep below
    // 2^-20). dk 37 (Tb 55: runs of 32 and 23), dk 70 (several state segments on AVX2, Tb 29), dv 19 and 11 (row
    // groups and tail rows), T 75 and 61; then a split through the state, which restarts the runs
    for (const [T, dk, dv, seed] of [[75, 37, 19, 91], [61, 70, 11, 93]] as const) {
      const c = makeCase(2, 4, T, dk, dv, seed);
      const decay = Tensor.from([Math.log(0.97), Math.log(0.6), Math.log(0.5), -30], [4]);
      const input = { ...c.input, decay: decay.data };
      const oracle = ref.recurrent(input);
      for (const level of levels) {
        withIsa(level, () => {
          const r = retention(c.q, c.k, c.v, decay, { form: 'recurrent' });
          expect([T, dk, level, relError(r.out.data, oracle.out) <= 1e-5, relError(r.state!.kv.data, oracle.kv) <= 1e-5]).toEqual([T, dk, level, true, true]);
          const again = withThreads(3, () => retention(c.q, c.k, c.v, decay, { form: 'recurrent' }));
          expect([T, dk, level, sameBytes(again.out.data, r.out.data), sameBytes(again.state!.kv.data, r.state!.kv.data)]).toEqual([T, dk, level, true, true]);
          const a = retention(sliceQK(c.q, 0, 30), sliceQK(c.k, 0, 30), sliceV(c.v, 0, 30), decay, { form: 'recurrent' });
          const b = retention(sliceQK(c.q, 30, T), sliceQK(c.k, 30, T), sliceV(c.v, 30, T), decay, { form: 'recurrent', state: a.state });
          expect([T, dk, level, relError(concatT([a.out, b.out]), oracle.out) <= 1e-5, relError(b.state!.kv.data, oracle.kv) <= 1e-5]).toEqual([T, dk, level, true, true]);
          expect(allFinite(r.out.data) && allFinite(r.state!.kv.data)).toBe(true);
        });
      }
    }
  });

  it('recurrent with dk 0 (empty keys and queries): outputs of zeros (also into a stale opts.out), in one call and token by token, at every level', () => {
    const c = makeCase(1, 2, 3, 0, 5, 9);
    const want = ref.recurrent(c.input);
    for (const level of levels) {
      withIsa(level, () => {
        const out = Tensor.from(new Float32Array(3 * 2 * 5).fill(Number.NaN), [1, 3, 2, 5]);
        const r = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', out });
        expect([level, Array.from(out.data).every((x) => x === 0)]).toEqual([level, true]);
        expect([level, relError(r.state!.scale.data, want.scale) < 1e-6]).toEqual([level, true]);
        const step = Tensor.from(new Float32Array(2 * 5).fill(Number.NaN), [1, 1, 2, 5]);
        retention(sliceQK(c.q, 0, 1), sliceQK(c.k, 0, 1), sliceV(c.v, 0, 1), c.decay, { form: 'recurrent', state: r.state, out: step });
        expect([level, Array.from(step.data).every((x) => x === 0)]).toEqual([level, true]);
      });
    }
  });

  it('stays finite on long sequences (T = 4096, recurrent and chunkwise) and with extreme decays', () => {
    const c = makeCase(1, 2, 4096, 8, 8, 9);
    const rec = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
    const ch = retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise', chunkSize: 64 });
    expect(allFinite(rec.out.data) && allFinite(rec.state!.kv.data) && allFinite(ch.out.data)).toBe(true);
    // decays from nearly 1 (log(1 - 2^-20)) to nearly 0 (-30: each token forgets the past)
    const e = makeCase(1, 2, 64, 4, 4, 3);
    const decay = Tensor.from([Math.log(1 - 2 ** -20), -30], [2]);
    const input = { ...e.input, decay: decay.data };
    for (const form of ['parallel', 'recurrent', 'chunkwise'] as const) {
      const r = retention(e.q, e.k, e.v, decay, { form, chunkSize: 16 });
      expect(allFinite(r.out.data)).toBe(true);
      const want = form === 'parallel' ? ref.parallel(input) : form === 'recurrent' ? ref.recurrent(input).out : ref.chunkwise(input, 16);
      expect([form, relError(r.out.data, want) < 1e-5]).toEqual([form, true]);
    }
  });

  it('chunkwise with a wide chunk: the heads split into groups by their scratch (a 512-token chunk, 18 heads: ~19 MiB in one group), each head the bits of it run alone (values: the other tests), at 1 and 2 threads, and async equals sync', async () => {
    const [batch, heads, T, dk, dv, chunk] = [1, 18, 1024, 3, 5, 512];
    const c = makeCase(batch, heads, T, dk, dv, 91);
    const opts = { form: 'chunkwise' as const, chunkSize: chunk };
    // (the oracle's cost grows as chunk^3: the other chunkwise tests check the values, this one the grouping)
    const one = withThreads(1, () => retention(c.q, c.k, c.v, c.decay, opts)).out;
    expect(allFinite(one.data)).toBe(true);
    expect(sameBytes(withThreads(2, () => retention(c.q, c.k, c.v, c.decay, opts)).out.data, one.data)).toBe(true);
    expect(sameBytes((await retentionAsync(c.q, c.k, c.v, c.decay, opts)).out.data, one.data)).toBe(true);
    for (const h of [0, 8, 9, 17]) {
      const vh = new Float32Array(T * dv);
      const want = new Float32Array(T * dv);
      for (let t = 0; t < T; t++) {
        vh.set(c.v.data.subarray((t * heads + h) * dv, (t * heads + h + 1) * dv), t * dv);
        want.set(one.data.subarray((t * heads + h) * dv, (t * heads + h + 1) * dv), t * dv);
      }
      const alone = retention(
        Tensor.from(c.q.data.slice(h * T * dk, (h + 1) * T * dk), [1, 1, T, dk]),
        Tensor.from(c.k.data.slice(h * T * dk, (h + 1) * T * dk), [1, 1, T, dk]),
        Tensor.from(vh, [1, T, dv]),
        Tensor.from([c.decay.data[h]], [1]),
        opts,
      ).out;
      expect([h, sameBytes(alone.data, want)]).toEqual([h, true]);
    }
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const c = makeCase(2, 3, 24, 16, 16, 77);
    for (const opts of [{}, { form: 'recurrent' as const }, { form: 'chunkwise' as const, chunkSize: 8 }]) {
      const one = withThreads(1, () => retention(c.q, c.k, c.v, c.decay, opts));
      const three = withThreads(3, () => retention(c.q, c.k, c.v, c.decay, opts));
      expect(sameBytes(one.out.data, three.out.data)).toBe(true);
      const as = await retentionAsync(c.q, c.k, c.v, c.decay, opts);
      expect(sameBytes(as.out.data, one.out.data)).toBe(true);
      if (one.state) expect(sameBytes(as.state!.kv.data, one.state.kv.data)).toBe(true);
    }
  });

  it('writes into opts.out when given', () => {
    const c = makeCase(1, 2, 8, 4, 4, 5);
    const out = Tensor.full([1, 8, 2, 4], 9);
    for (const form of ['parallel', 'recurrent', 'chunkwise'] as const) {
      const r = retention(c.q, c.k, c.v, c.decay, { form, chunkSize: 4, out });
      expect(r.out.data.buffer).toBe(out.data.buffer);
      expect(sameBytes(out.data, retention(c.q, c.k, c.v, c.decay, { form, chunkSize: 4 }).out.data)).toBe(true);
    }
    expect(() => retention(c.q, c.k, c.v, c.decay, { out: Tensor.zeros([1, 8, 2, 5]) })).toThrow(/opts\.out must have shape \[1, 8, 2, 4\]/);
  });

  it('recurrent with updateState: the state is updated in place, token by token the same bits as fresh states', async () => {
    const c = makeCase(2, 3, 9, 8, 12, 21);
    const whole = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' });
    // token by token with fresh states (the exact form of a step; one run differs in the last bits, see above)
    let fresh: RetentionState | null = null;
    const freshOuts: Tensor<'f32'>[] = [];
    for (let t = 0; t < 9; t++) {
      const r = retention(sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay, { form: 'recurrent', state: fresh });
      freshOuts.push(r.out);
      fresh = r.state;
    }
    const first = retention(sliceQK(c.q, 0, 1), sliceQK(c.k, 0, 1), sliceV(c.v, 0, 1), c.decay, { form: 'recurrent' });
    const state = first.state!;
    const out = Tensor.zeros([2, 1, 3, 12]);
    const outs: Tensor<'f32'>[] = [first.out];
    for (let t = 1; t < 9; t++) {
      const opts = { form: 'recurrent' as const, state, updateState: true, out };
      const args = [sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay] as const;
      const r = t % 2 ? retention(...args, opts) : await retentionAsync(...args, opts);
      expect(r.state).toBe(state);
      expect(r.out.data.buffer).toBe(out.data.buffer);
      outs.push(Tensor.from(out.data.slice(), out.shape));
    }
    expect(sameBytes(concatT(outs), concatT(freshOuts))).toBe(true);
    expect(sameBytes(state.kv.data, fresh!.kv.data)).toBe(true);
    expect(sameBytes(state.scale.data, whole.state!.scale.data)).toBe(true);
    expect(relError(concatT(outs), whole.out.data)).toBeLessThanOrEqual(1e-6);
    expect(relError(state.kv.data, whole.state!.kv.data)).toBeLessThanOrEqual(1e-6);
    // several tokens at once, in place, with 3 threads: the bits of the same call into a fresh state with 1 thread
    const s2 = retention(sliceQK(c.q, 0, 4), sliceQK(c.k, 0, 4), sliceV(c.v, 0, 4), c.decay, { form: 'recurrent' }).state!;
    const apart = retention(sliceQK(c.q, 4, 9), sliceQK(c.k, 4, 9), sliceV(c.v, 4, 9), c.decay, { form: 'recurrent', state: s2 }).state!;
    withThreads(3, () => retention(sliceQK(c.q, 4, 9), sliceQK(c.k, 4, 9), sliceV(c.v, 4, 9), c.decay, { form: 'recurrent', state: s2, updateState: true }));
    expect(sameBytes(s2.kv.data, apart.kv.data)).toBe(true);
    expect(sameBytes(s2.scale.data, whole.state!.scale.data)).toBe(true);
    expect(relError(s2.kv.data, whole.state!.kv.data)).toBeLessThanOrEqual(1e-6);
  });

  it('rejects updateState without a recurrent state, and states or outputs that overlap', () => {
    const c = makeCase(1, 2, 4, 4, 4, 8);
    const st = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' }).state!;
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', updateState: true })).toThrow(/opts\.updateState needs the recurrent form and an opts\.state/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { updateState: true })).toThrow(/opts\.updateState needs the recurrent form/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: st, updateState: 1 as never })).toThrow(/opts\.updateState must be a boolean/);
    const kvOverQ = { kv: Tensor.from(c.q.data.subarray(0, 32), [1, 2, 4, 4]), scale: st.scale };
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: kvOverQ, updateState: true })).toThrow(/opts\.state must not share memory with an input/);
    const both = Tensor.zeros([40]);
    const shared = { kv: Tensor.from(both.data.subarray(0, 32), [1, 2, 4, 4]), scale: Tensor.from(both.data.subarray(30, 32), [2]) };
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: shared, updateState: true })).toThrow(/opts\.state\.kv and opts\.state\.scale must not share memory/);
    const outOverKv = Tensor.from(st.kv.data.subarray(0, 32), [1, 4, 2, 4]);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: st, out: outOverKv })).toThrow(/opts\.out must not share memory with opts\.state/);
  });

  it('a generation step (recurrent, updateState) takes the packed fast path: the bits and the messages of the object form', () => {
    const c = makeCase(2, 3, 4, 8, 6, 31);
    const tok = (t: number) => [sliceQK(c.q, t, t + 1), sliceQK(c.k, t, t + 1), sliceV(c.v, t, t + 1), c.decay] as const;
    const s1 = retention(...tok(0), { form: 'recurrent' }).state!;
    const s2 = { kv: Tensor.from(s1.kv.data.slice(), s1.kv.shape), scale: Tensor.from(s1.scale.data.slice(), s1.scale.shape) };
    const spy = vi.spyOn(binding, 'retentionStepPacked');
    try {
      for (let t = 1; t < 4; t++) {
        const out = t === 2 ? Tensor.zeros([2, 1, 3, 6]) : null;
        const a = retention(...tok(t), { form: 'recurrent', state: s1, updateState: true, out });
        const b = binding.retention(...tok(t), { form: 'recurrent', state: s2, updateState: true });
        expect(a.state).toBe(s1);
        if (out) expect(a.out.data.buffer).toBe(out.data.buffer);
        expect(sameBytes(a.out.data, b.out.data)).toBe(true);
        expect(sameBytes(s1.kv.data, s2.kv.data) && sameBytes(s1.scale.data, s2.scale.data)).toBe(true);
      }
      expect(spy).toHaveBeenCalledTimes(3);
      retention(...tok(0), { form: 'recurrent', state: s1 }); // not in place: the object form
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
    }
    // every bad argument: the object form's message
    type Args = [unknown, unknown, unknown, unknown, Record<string, unknown>];
    const good = (): Args => {
      const st = retention(...tok(0), { form: 'recurrent' }).state!;
      return [...tok(1), { form: 'recurrent', state: st, updateState: true, out: Tensor.zeros([2, 1, 3, 6]) }];
    };
    const detached = Tensor.alloc([3], 'f32');
    detached.dispose();
    const cases: [string, (a: Args) => void][] = [
      ['q absent', (a) => (a[0] = undefined)],
      ['q of 3 dims', (a) => (a[0] = Tensor.zeros([2, 3, 8]))],
      ['q data kind', (a) => (a[0] = { data: new Int32Array(48), shape: [2, 3, 1, 8], dtype: 'f32' })],
      ['q dtype', (a) => (a[0] = Tensor.zeros([2, 3, 1, 8], 'i32'))],
      ['q shape odd', (a) => (a[0] = { data: new Float32Array(48), shape: [2, 3, 1, 8.5], dtype: 'f32' })],
      ['k shape', (a) => (a[1] = Tensor.zeros([2, 3, 1, 7]))],
      ['v shape', (a) => (a[2] = Tensor.zeros([2, 1, 17]))],
      ['decay detached', (a) => (a[3] = detached)],
      ['kv shape', (a) => ((a[4].state as RetentionState).kv = Tensor.zeros([2, 3, 8, 6]))],
      ['kv absent', (a) => (a[4].state = { scale: (a[4].state as RetentionState).scale })],
      ['scale length', (a) => ((a[4].state as RetentionState).scale = { data: new Float32Array(2), shape: [3], dtype: 'f32' } as never)],
      ['scale over q', (a) => ((a[4].state as RetentionState).scale = Tensor.from((a[0] as Tensor<'f32'>).data.subarray(0, 3), [3]))],
      ['state an array', (a) => (a[4].state = [])],
      ['out shape', (a) => (a[4].out = Tensor.zeros([2, 1, 3, 5]))],
      ['out over v', (a) => (a[4].out = Tensor.from((a[2] as Tensor<'f32'>).data, [2, 1, 3, 6]))],
      ['out over kv', (a) => (a[4].out = Tensor.from((a[4].state as RetentionState).kv.data.subarray(0, 36), [2, 1, 3, 6]))],
      ['updateState not a boolean', (a) => (a[4].updateState = 1)],
    ];
    for (const [what, edit] of cases) {
      const a = good(), b = good();
      edit(a);
      edit(b);
      const got = errorOf(() => (retention as (...x: unknown[]) => unknown)(...a));
      expect([what, got]).toEqual([what, errorOf(() => (binding.retention as (...x: unknown[]) => unknown)(...b))]);
      expect([what, got === 'no error']).toEqual([what, false]);
    }
    // the packed binding itself checks its records
    expect(() => (binding.retentionStepPacked as (...x: unknown[]) => unknown)(new Float64Array(3))).toThrow(/packed tensor records must be a Float64Array of 70 or more elements/);
  });

  it('rejects bad arguments, naming them', () => {
    const c = makeCase(2, 3, 8, 4, 5, 1);
    expect(() => retention(Tensor.zeros([3, 8, 4]), c.k, c.v, c.decay)).toThrow(/q must have shape \[batch, heads, T, dk\]/);
    expect(() => retention(c.q, Tensor.zeros([2, 3, 8, 5]), c.v, c.decay)).toThrow(/q and k must have the same shape/);
    expect(() => retention(c.q, c.k, Tensor.zeros([2, 8, 14]), c.decay)).toThrow(/v must have shape \[2, 8, heads \* dv\]/);
    expect(() => retention(c.q, c.k, c.v, Tensor.zeros([2]))).toThrow(/decay must have shape \[3\]/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'linear' as never })).toThrow(/opts\.form must be 'parallel', 'recurrent' or 'chunkwise'/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise' })).toThrow(TypeError);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise', chunkSize: 3 })).toThrow(/multiple of opts\.chunkSize/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'chunkwise', chunkSize: 0 })).toThrow(RangeError);
    const st = retention(c.q, c.k, c.v, c.decay, { form: 'recurrent' }).state!;
    expect(() => retention(c.q, c.k, c.v, c.decay, { state: st })).toThrow(/opts\.state is accepted by the recurrent form only/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: { kv: Tensor.zeros([2, 3, 4, 5]), scale: st.scale } })).toThrow(/opts\.state\.kv must have shape \[2, 3, 5, 4\]/);
    expect(() => retention(c.q, c.k, c.v, c.decay, { form: 'recurrent', state: { kv: st.kv, scale: Tensor.zeros([2]) } })).toThrow(/opts\.state\.scale must have shape \[3\]/);
    expect(() => binding.retention(c.q, c.k, c.v, c.decay, 7 as never)).toThrow(/opts must be an object/);
  });
});

// End to end against torchscale's RetNetDecoder (test/fixtures/models/retnet: 2 layers, embed 32, 2 heads of key dim 16
// and value dim 32, GLU feed-forward 64 with swish, pre-norm RMSNorm, 2 sequences of 14 tokens; the parallel,
// recurrent and chunkwise (chunks of 4 over 16 zero-padded positions) forms recorded). The layers composed from the
// ops (the RetNet model family itself comes later): q, k = rotate(q_proj x, k_proj x / 4) (RetNetRelPos's theta
// shift, in the test), o = out_proj(silu(g_proj x) * RMSNorm_per_head(retention(q, k, v_proj x))), then h += GLU(h).
describe('RetNet decoder layers on retention (torchscale fixture)', () => {
  const dir = join(__dirname, 'fixtures', 'models', 'retnet');


  it('reproduce the logits of the parallel, recurrent and chunkwise forms, inner states and the recurrent state; a prefix and then steps agree', () => {
    const model = openSafetensors(join(dir, 'model.safetensors'));
    const io = openSafetensors(join(dir, 'io.safetensors'));
    const w = (n: string) => model.tensor(n) as Tensor<'f32'>;
    const want = (n: string) => (io.tensor(n) as Tensor<'f32'>).data;
    const [layers, H, dk, dv, E, eps] = [2, 2, 16, 32, 32, 1e-6];
    const angle = w('retnet_rel_pos.angle').data, decay = w('retnet_rel_pos.decay');
    const f = Math.fround;
    // upstream's theta_shift on [B, H, L, dk] at positions t0 + l, in float32: x cos + rotate_every_two(x) sin
    const rotate = (x: Tensor<'f32'>, t0: number) => {
      const [B, , L] = x.shape;
      const out = new Float32Array(x.size);
      for (let r = 0; r < B * H * L; r++) {
        const t = t0 + (r % L);
        for (let d = 0; d < dk; d++) {
          const a = f(t * angle[d]), i = r * dk + d;
          const rot = d % 2 === 0 ? -x.data[i + 1] : x.data[i - 1];
          out[i] = f(f(x.data[i] * f(Math.cos(a))) + f(rot * f(Math.sin(a))));
        }
      }
      return Tensor.from(out, x.shape);
    };
    const heads = (x: Tensor<'f32'>) => permute(x.reshape([x.shape[0], x.shape[1], H, dk]), [0, 2, 1, 3]);
    type Form = 'parallel' | 'recurrent' | 'chunkwise';
    const run = (h: Tensor<'f32'>, form: Form, t0 = 0, states: (RetentionState | null)[] = []) => {
      const [B, L] = h.shape;
      const inner = [h];
      const next: (RetentionState | null)[] = [];
      for (let i = 0; i < layers; i++) {
        const p = `layers.${i}`, r = `${p}.retention`;
        const x = rmsNorm(h, w(`${p}.retention_layer_norm.weight`), eps);
        const q = rotate(heads(linear(x, w(`${r}.q_proj.weight`))), t0);
        const k = rotate(heads(mul(linear(x, w(`${r}.k_proj.weight`)), dk ** -0.5)), t0);
        const ret = retention(q, k, linear(x, w(`${r}.v_proj.weight`)), decay, {
          form, chunkSize: form === 'chunkwise' ? 4 : undefined, state: states[i] ?? null,
        });
        next.push(ret.state);
        const o = mul(silu(linear(x, w(`${r}.g_proj.weight`))), rmsNorm(ret.out, null, eps).reshape([B, L, H * dv]));
        h = add(h, linear(o, w(`${r}.out_proj.weight`)));
        const y = rmsNorm(h, w(`${p}.final_layer_norm.weight`), eps);
        const glu = mul(silu(linear(y, w(`${p}.ffn.fc1.weight`))), linear(y, w(`${p}.ffn.gate.weight`)));
        h = add(h, linear(glu, w(`${p}.ffn.fc2.weight`)));
        inner.push(h);
      }
      const features = rmsNorm(h, w('layer_norm.weight'), eps);
      return { inner, features, logits: linear(features, w('output_projection.weight')), states: next };
    };

    const tokens = io.tensor('input.prev_output_tokens') as Tensor<'i64'>;
    const [B, T] = tokens.shape;
    const emb = embedding(tokens, w('embed_tokens.weight'));
    const par = run(emb, 'parallel');
    par.inner.forEach((h, i) => expectAllClose(h.data, want(`output.inner_states.${i}`), `inner_states.${i}`));
    expectAllClose(par.features.data, want('output.features'), 'features');
    expectAllClose(par.logits.data, want('output.logits'), 'parallel logits');
    const rec = run(emb, 'recurrent');
    expectAllClose(rec.logits.data, want('output.recurrent_logits'), 'recurrent logits');
    rec.states.forEach((s, i) => {
      expectAllClose(s!.kv.data, want(`output.recurrent_state.${i}.prev_key_value`), `recurrent_state.${i}.prev_key_value`);
      expectAllClose(s!.scale.data, want(`output.recurrent_state.${i}.scale`), `recurrent_state.${i}.scale`);
    });
    // chunkwise: upstream pads the embeddings with zeros to a multiple of the chunk (16 positions) and keeps T of them
    const padded = concat([emb, Tensor.zeros([B, 2, E])], 1);
    const chunk = run(padded, 'chunkwise').logits;
    const V = chunk.shape[2];
    const cut = new Float32Array(B * T * V);
    for (let b = 0; b < B; b++) cut.set(chunk.data.subarray(b * 16 * V, (b * 16 + T) * V), b * T * V);
    expectAllClose(cut, want('output.chunkwise_logits'), 'chunkwise logits');
    expect(relError(cut, want('output.logits'))).toBeGreaterThan(1e-6); // its own normalisation, not the parallel form's

    // generation: the recurrent form over a prefix of 9 tokens, then one token at a time through the returned states
    const slice = (t0: number, t1: number) => {
      const out = new Float32Array(B * (t1 - t0) * E);
      for (let b = 0; b < B; b++) out.set(emb.data.subarray((b * T + t0) * E, (b * T + t1) * E), b * (t1 - t0) * E);
      return Tensor.from(out, [B, t1 - t0, E]);
    };
    let step = run(slice(0, 9), 'recurrent');
    const parts = [step.logits];
    for (let t = 9; t < T; t++) {
      step = run(slice(t, t + 1), 'recurrent', t, step.states);
      parts.push(step.logits);
    }
    const got = new Float32Array(B * T * 128);
    let t0 = 0;
    for (const part of parts) {
      const L = part.shape[1];
      for (let b = 0; b < B; b++) got.set(part.data.subarray(b * L * 128, (b + 1) * L * 128), (b * T + t0) * 128);
      t0 += L;
    }
    expectAllClose(got, want('output.recurrent_logits'), 'recurrent logits, prefix + steps');
    step.states.forEach((s, i) => expectAllClose(s!.kv.data, want(`output.recurrent_state.${i}.prev_key_value`), `state ${i}, prefix + steps`));
    model.dispose();
    io.dispose();
  });
});
