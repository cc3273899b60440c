import { join } from 'node:path';

import { describe, expect, it, vi } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { add } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import { embedding, split, transpose } from '../lib/ops/layout';
import { rmsNorm } from '../lib/ops/norm';
import {
  causalConv1d,
  causalConv1dAsync,
  selectiveScan,
  selectiveScanAsync,
  selectiveScanStep,
  selectiveScanStepAsync,
  type SelectiveScanOptions,
} from '../lib/ops/ssm';
import { Tensor } from '../lib/tensor';
import { errorOf, expectAllClose, levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import * as ref from './reference/ssm';

const FIXTURE = join(__dirname, 'fixtures', 'kernels', 'mamba_selective_scan.safetensors');

type Form = 'invariant' | 'variable' | number; // number: grouped with G groups

interface Case {
  u: Tensor<'f32'>;
  delta: Tensor<'f32'>;
  A: Tensor<'f32'>;
  B: Tensor<'f32'>;
  C: Tensor<'f32'>;
  D: Tensor<'f32'>;
  z: Tensor<'f32'>;
  deltaBias: Tensor<'f32'>;
  batch: number;
  dim: number;
  L: number;
  N: number;
}

function operandShape(form: Form, batch: number, dim: number, N: number, L: number): number[] {
  if (form === 'invariant') return [dim, N];
  if (form === 'variable') return [batch, N, L];
  return [batch, form, N, L];
}
const groups = (f: Form) => (f === 'invariant' ? 0 : f === 'variable' ? 1 : f);

function makeCase(batch: number, dim: number, L: number, N: number, bf: Form, cf: Form, seed: number): Case {
  const A = Tensor.randn([dim, N], { seed, std: 0.5 });
  for (let i = 0; i < A.data.length; i++) A.data[i] = -Math.exp(A.data[i]); // negative, as Mamba's -exp(A_log)
  return {
    u: Tensor.randn([batch, dim, L], { seed: seed + 1 }),
    delta: Tensor.randn([batch, dim, L], { seed: seed + 2, std: 0.5 }),
    A,
    B: Tensor.randn(operandShape(bf, batch, dim, N, L), { seed: seed + 3 }),
    C: Tensor.randn(operandShape(cf, batch, dim, N, L), { seed: seed + 4 }),
    D: Tensor.randn([dim], { seed: seed + 5 }),
    z: Tensor.randn([batch, dim, L], { seed: seed + 6 }),
    deltaBias: Tensor.randn([dim], { seed: seed + 7, std: 0.3 }),
    batch,
    dim,
    L,
    N,
  };
}

/** x[..., l0:l1] of a tensor whose last axis is the sequence. */
function sliceL(x: Tensor<'f32'>, l0: number, l1: number): Tensor<'f32'> {
  const L = x.shape[x.shape.length - 1];
  const rows = x.data.length / L;
  const out = new Float32Array(rows * (l1 - l0));
  for (let r = 0; r < rows; r++) out.set(x.data.subarray(r * L + l0, r * L + l1), r * (l1 - l0));
  return Tensor.from(out, [...x.shape.slice(0, -1), l1 - l0]);
}
/** x[..., l] with the last axis dropped. */
function atL(x: Tensor<'f32'>, l: number): Tensor<'f32'> {
  const s = sliceL(x, l, l + 1);
  return s.reshape(x.shape.slice(0, -1));
}
function concatL(parts: Tensor<'f32'>[]): Float32Array {
  const rows = parts[0].data.length / parts[0].shape[parts[0].shape.length - 1];
  const L = parts.reduce((s, p) => s + p.shape[p.shape.length - 1], 0);
  const out = new Float32Array(rows * L);
  let l0 = 0;
  for (const p of parts) {
    const lp = p.shape[p.shape.length - 1];
    for (let r = 0; r < rows; r++) out.set(p.data.subarray(r * lp, (r + 1) * lp), r * L + l0);
    l0 += lp;
  }
  return out;
}
function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

describe('selectiveScan (mamba_ssm selective_scan_ref)', () => {
  const f = openSafetensors(FIXTURE);
  const g = (name: string) => f.tensor(name) as Tensor<'f32'>;

  for (const level of levels) {
    it(`reproduces the upstream fixtures: full, grouped, minimal (${level})`, () => {
      withIsa(level, () => {
        const full = selectiveScan(g('full.u'), g('full.delta'), g('full.A'), g('full.B'), g('full.C'), {
          D: g('full.D'), z: g('full.z'), deltaBias: g('full.delta_bias'), deltaSoftplus: true, returnLastState: true,
        });
        expect(relError(full.out.data, g('full.out').data)).toBeLessThan(1e-5);
        expect(relError(full.lastState!.data, g('full.last_state').data)).toBeLessThan(1e-5);
        const grouped = selectiveScan(g('grouped.u'), g('grouped.delta'), g('grouped.A'), g('grouped.B'), g('grouped.C'), {
          D: g('grouped.D'), deltaSoftplus: true, returnLastState: true,
        });
        expect(relError(grouped.out.data, g('grouped.out').data)).toBeLessThan(1e-5);
        expect(relError(grouped.lastState!.data, g('grouped.last_state').data)).toBeLessThan(1e-5);
        const minimal = selectiveScan(g('minimal.u'), g('minimal.delta'), g('minimal.A'), g('minimal.B'), g('minimal.C'), {
          returnLastState: true,
        });
        expect(relError(minimal.out.data, g('minimal.out').data)).toBeLessThan(1e-5);
        expect(relError(minimal.lastState!.data, g('minimal.last_state').data)).toBeLessThan(1e-5);
        expect(selectiveScan(g('minimal.u'), g('minimal.delta'), g('minimal.A'), g('minimal.B'), g('minimal.C')).lastState).toBeNull();
      });
    });

    it(`matches the float64 oracle: every B/C form, N off the vector width, all options, an initial state (${level})`, () => {
      withIsa(level, () => {
        let seed = 100;
        const cases: [number, number, number, number, Form, Form][] = [
          [1, 1, 1, 1, 'variable', 'variable'],
          [2, 3, 9, 3, 'invariant', 'variable'],
          [1, 4, 13, 16, 'variable', 'invariant'],
          [2, 6, 11, 17, 3, 3],
          [1, 4, 7, 40, 2, 'variable'],
          [1, 2, 5, 64, 'invariant', 'invariant'],
        ];
        for (const [batch, dim, L, N, bf, cf] of cases) {
          const c = makeCase(batch, dim, L, N, bf, cf, seed);
          const state = Tensor.randn([batch, dim, N], { seed: seed + 9 });
          seed += 10;
          const variants: SelectiveScanOptions[] = [
            { returnLastState: true },
            { D: c.D, z: c.z, deltaBias: c.deltaBias, deltaSoftplus: true, returnLastState: true, state },
          ];
          for (const opts of variants) {
            const r = selectiveScan(c.u, c.delta, c.A, c.B, c.C, opts);
            const w = ref.selectiveScan({
              u: c.u.data, delta: c.delta.data, A: c.A.data, B: c.B.data, C: c.C.data, bGroups: groups(bf), cGroups: groups(cf),
              batch, dim, L, N, D: opts.D?.data, z: opts.z?.data, deltaBias: opts.deltaBias?.data,
              deltaSoftplus: opts.deltaSoftplus, state: opts.state?.data,
            });
            expect([batch, dim, L, N, bf, cf, relError(r.out.data, w.out) < 1e-5]).toEqual([batch, dim, L, N, bf, cf, true]);
            expect(relError(r.lastState!.data, w.lastState)).toBeLessThan(1e-5);
          }
        }
      });
    });

    it(`split through the state equals one run, and the step form token by token equals it, bit for bit (${level})`, () => {
      withIsa(level, () => {
        for (const [bf, cf, N] of [['variable', 'variable', 16], [2, 2, 5]] as [Form, Form, number][]) {
          const c = makeCase(2, 6, 23, N, bf, cf, 7);
          const opts = { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: true };
          const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { ...opts, z: c.z, returnLastState: true });
          const cut = 9;
          const a = selectiveScan(sliceL(c.u, 0, cut), sliceL(c.delta, 0, cut), c.A, sliceL(c.B, 0, cut), sliceL(c.C, 0, cut),
            { ...opts, z: sliceL(c.z, 0, cut), returnLastState: true });
          const b = selectiveScan(sliceL(c.u, cut, 23), sliceL(c.delta, cut, 23), c.A, sliceL(c.B, cut, 23), sliceL(c.C, cut, 23),
            { ...opts, z: sliceL(c.z, cut, 23), returnLastState: true, state: a.lastState });
          expect(sameBytes(concatL([a.out, b.out]), whole.out.data)).toBe(true);
          expect(sameBytes(b.lastState!.data, whole.lastState!.data)).toBe(true);
          // token by token, state updated in place
          const state = Tensor.zeros([2, 6, N]);
          const outs: Tensor<'f32'>[] = [];
          for (let l = 0; l < 23; l++) {
            const y = selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { ...opts, z: atL(c.z, l) });
            expect(y.shape).toEqual([2, 6]);
            outs.push(y.reshape([2, 6, 1]));
          }
          expect(sameBytes(concatL(outs), whole.out.data)).toBe(true);
          expect(sameBytes(state.data, whole.lastState!.data)).toBe(true);
        }
      });
    });
  }

  it('stays finite for extreme steps and a long sequence (L = 4096), and matches the oracle', () => {
    const [batch, dim, L, N] = [1, 3, 4096, 16];
    const c = makeCase(batch, dim, L, N, 'variable', 'variable', 3);
    // channel 0: huge steps (softplus identity above 20, exp(dt A) underflows to exactly 0); channel 1: tiny steps
    // (exp(dt A) ~ 1: the state integrates the whole sequence); channel 2: ordinary
    for (let l = 0; l < L; l++) {
      c.delta.data[l] = 30 + 100 * Math.abs(c.delta.data[l]);
      c.delta.data[L + l] = -30 + c.delta.data[L + l];
    }
    for (const level of levels) {
      withIsa(level, () => {
        const r = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { D: c.D, deltaSoftplus: true, returnLastState: true });
        expect(allFinite(r.out.data) && allFinite(r.lastState!.data)).toBe(true);
        const w = ref.selectiveScan({
          u: c.u.data, delta: c.delta.data, A: c.A.data, B: c.B.data, C: c.C.data, bGroups: 1, cGroups: 1,
          batch, dim, L, N, D: c.D.data, deltaSoftplus: true,
        });
        expect(relError(r.out.data, w.out)).toBeLessThan(1e-5);
      });
    }
  });

  it('groups of steps whose exponents leave the ordinary range (spikes, an infinite A lane, negative steps) give the bits of the step form and the oracle', () => {
    // The scan tests the exponents dt A of a group of 8 steps at once: a group with one step out of [-87, 87.9] (a
    // spike of dt against A = -3; a lane of A at -inf) must take the checked exp, as the step form does per vector.
    const [batch, dim, L, N] = [1, 3, 41, 16];
    const c = makeCase(batch, dim, L, N, 'variable', 'variable', 11);
    for (const n of [2, 9, 15]) c.A.data[n] = -3; // channel 0
    c.A.data[N + 5] = -Infinity; // channel 1
    for (const l of [3, 17, 18, 30, 40]) c.delta.data[l] = 40; // channel 0: dt ~ 40, dt A = -120 on three lanes
    for (const softplus of [true, false]) {
      // without softplus: channel 1's steps positive (its -inf lane gives exp(-inf) = 0), channel 2's negative near
      // -0.1 (dt A > 0, in range; the state grows but stays finite over the 41 steps)
      if (!softplus)
        for (let l = 0; l < L; l++) {
          c.delta.data[L + l] = 0.1 + Math.abs(c.delta.data[L + l]) - c.deltaBias.data[1];
          c.delta.data[2 * L + l] = -0.1 - 0.02 * Math.abs(c.delta.data[2 * L + l]) - c.deltaBias.data[2];
        }
      const opts = { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: softplus };
      for (const level of levels) {
        withIsa(level, () => {
          const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { ...opts, z: c.z, returnLastState: true });
          const state = Tensor.zeros([batch, dim, N]);
          const outs: Tensor<'f32'>[] = [];
          for (let l = 0; l < L; l++)
            outs.push(selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { ...opts, z: atL(c.z, l) }).reshape([batch, dim, 1]));
          expect(sameBytes(concatL(outs), whole.out.data)).toBe(true);
          expect(sameBytes(state.data, whole.lastState!.data)).toBe(true);
          expect(allFinite(whole.out.data)).toBe(true);
          const w = ref.selectiveScan({
            u: c.u.data, delta: c.delta.data, A: c.A.data, B: c.B.data, C: c.C.data, bGroups: 1, cGroups: 1,
            batch, dim, L, N, D: c.D.data, z: c.z.data, deltaBias: c.deltaBias.data, deltaSoftplus: softplus,
          });
          expect(relError(whole.out.data, w.out)).toBeLessThan(1e-5);
        });
      }
    }
  });

  it('the step over many channels (blocks, full vectors and tails, groups across blocks, every N path) equals the scan bit for bit, on 1 and 3 threads', () => {
    // dim 300: two blocks of the step (256 + 44 channels), full groups of 8 channels plus a tail of 4; 3 groups of
    // 100 channels, so one group spans the block boundary. N 8, 16, 32: state in registers; 48: the general row path.
    const cases: [number, number, Form, Form, boolean][] = [[300, 16, 3, 'variable', true], [300, 8, 'variable', 3, false],
      [264, 32, 2, 2, true], [40, 48, 'variable', 'variable', false]];
    for (const level of levels) {
      withIsa(level, () => {
        for (const [dim, N, bf, cf, full] of cases) {
          const c = makeCase(2, dim, 3, N, bf, cf, dim + N);
          const opts = full ? { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: true } : {};
          const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { ...opts, ...(full ? { z: c.z } : {}), returnLastState: true });
          for (const threads of [1, 3]) {
            const state = Tensor.zeros([2, dim, N]);
            const outs: Tensor<'f32'>[] = [];
            withThreads(threads, () => {
              for (let l = 0; l < 3; l++) {
                const y = selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { ...opts, ...(full ? { z: atL(c.z, l) } : {}) });
                outs.push(y.reshape([2, dim, 1]));
              }
            });
            expect([level, dim, N, threads, sameBytes(concatL(outs), whole.out.data), sameBytes(state.data, whole.lastState!.data)])
              .toEqual([level, dim, N, threads, true, true]);
          }
        }
      });
    }
  });

  it('the step at dims off the vector width (1, 7, 9, 1535) and N 1, 3, 16, 17, shared and grouped B and C, equals the scan bit for bit on 1 and 2 threads, and the oracle', () => {
    // dim 1535: six blocks of the step, the last with a tail of 7 channels; N 16: the state in registers, 1, 3, 17:
    // the general row path. Grouped B and C: G divides dim (1535 = 5 x 307).
    const grouped: Record<number, number> = { 1: 1, 7: 7, 9: 3, 1535: 5 };
    let seed = 500;
    for (const level of levels) {
      withIsa(level, () => {
        for (const dim of [1, 7, 9, 1535]) {
          for (const N of [1, 3, 16, 17]) {
            const bf: Form = N % 2 ? grouped[dim] : 'variable';
            const cf: Form = N % 2 ? 'variable' : grouped[dim];
            const L = 3;
            const c = makeCase(1, dim, L, N, bf, cf, seed++);
            const opts = { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: true };
            const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { ...opts, z: c.z, returnLastState: true });
            const w = ref.selectiveScan({
              u: c.u.data, delta: c.delta.data, A: c.A.data, B: c.B.data, C: c.C.data, bGroups: groups(bf), cGroups: groups(cf),
              batch: 1, dim, L, N, D: c.D.data, z: c.z.data, deltaBias: c.deltaBias.data, deltaSoftplus: true,
            });
            for (const threads of [1, 2]) {
              const state = Tensor.zeros([1, dim, N]);
              const outs: Tensor<'f32'>[] = [];
              withThreads(threads, () => {
                for (let l = 0; l < L; l++)
                  outs.push(selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { ...opts, z: atL(c.z, l) }).reshape([1, dim, 1]));
              });
              const out = concatL(outs);
              expect([level, dim, N, threads, sameBytes(out, whole.out.data), sameBytes(state.data, whole.lastState!.data), relError(out, w.out) < 1e-5])
                .toEqual([level, dim, N, threads, true, true, true]);
            }
          }
        }
      });
    }
  });

  it('the step with exponents dt A at the edges of its fast range (|dt A| near 86, subnormal and zero results, near overflow) equals the scan bit for bit, for N 8, 16, 32', () => {
    // dt = delta (no softplus, no bias); dt and A are powers of two apart, so dt A is exactly the target. The state
    // starts at 1 where the exponent is negative (a subnormal exp stays visible in the state) and at 1e-30 where it is
    // positive (exp(88.5) x 1e-30 stays finite); u = 0 on the first token, so the state is exactly dA x there.
    const targets = [-0.3, -85.99, -86, -86.00001, -86.5, -87, -87.2, -87.4, -88, -95, -103, -110, -Infinity, 0, 1.5,
      85.99, 86, 86.00001, 87, 87.5, 88.5, -50, 50, 30];
    for (const N of [8, 16, 32]) {
      const [dim, L] = [targets.length, 9];
      const c = makeCase(1, dim, L, N, 'variable', 'variable', 900 + N);
      const st = new Float32Array(dim * N);
      // channel d: every lane near targets[d] (the step tests a row's lanes together: one lane far out would send the
      // whole row to the checked exp); the last channel mixes all targets
      for (let d = 0; d < dim; d++) {
        for (let n = 0; n < N; n++) {
          const t = d === dim - 1 ? targets[n % targets.length] : targets[d] + (n % 4) * 2 ** -14;
          const dt = 2 ** ((d % 3) - 1); // 0.5, 1, 2
          c.A.data[d * N + n] = t / dt;
          st[d * N + n] = t > 0 ? 1e-30 : 1;
        }
        for (let l = 0; l < L; l++) c.delta.data[d * L + l] = l === 0 ? 2 ** ((d % 3) - 1) : 2 ** -12;
        c.u.data[d * L] = 0;
      }
      for (const level of levels) {
        withIsa(level, () => {
          const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { D: c.D, z: c.z, state: Tensor.from(st, [1, dim, N]), returnLastState: true });
          const first = selectiveScan(sliceL(c.u, 0, 1), sliceL(c.delta, 0, 1), c.A, sliceL(c.B, 0, 1), sliceL(c.C, 0, 1),
            { state: Tensor.from(st, [1, dim, N]), returnLastState: true });
          const state = Tensor.from(st.slice(), [1, dim, N]);
          const outs: Tensor<'f32'>[] = [];
          for (let l = 0; l < L; l++) {
            outs.push(selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { D: c.D, z: atL(c.z, l) }).reshape([1, dim, 1]));
            if (l === 0) {
              // after the first token the state is exp(dt A) x0, lane by lane: the exps themselves, against the scan's
              expect([level, N, sameBytes(state.data, first.lastState!.data)]).toEqual([level, N, true]);
              let subnormal = 0;
              for (const v of state.data) if (v !== 0 && Math.abs(v) < 2 ** -126) subnormal++;
              expect(subnormal).toBeGreaterThan(0);
            }
          }
          expect([level, N, sameBytes(concatL(outs), whole.out.data), sameBytes(state.data, whole.lastState!.data)]).toEqual([level, N, true, true]);
          expect(allFinite(whole.out.data)).toBe(true);
        });
      }
    }
  });

  it('the step\'s gate with z at the edges of its fast silu range (|z| near 86, infinite) equals the scan bit for bit and the oracle', () => {
    // The step tests a vector of 8 channels' z at once: |z| <= 86 on every lane takes the fast silu, any other lane
    // (86.00001, 87, 100, infinite) sends its vector to simd::silu. Groups of 8 channels: all within, one lane beyond.
    const zs = [86, -86, 85.99, -85.99, 86.00001, -86.00001, 87, -87, 100, -100, 0.5, -0.5, 1e-30, -1e-30, 0, 20];
    const [dim, L, N] = [48, 3, 16];
    const c = makeCase(1, dim, L, N, 'variable', 'variable', 77);
    for (let d = 0; d < dim; d++)
      for (let l = 0; l < L; l++) c.z.data[d * L + l] = d < 40 ? zs[(d + l) % zs.length] : [Infinity, -Infinity, 3][l];
    const opts = { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: true };
    for (const level of levels) {
      withIsa(level, () => {
        const whole = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { ...opts, z: c.z, returnLastState: true });
        const state = Tensor.zeros([1, dim, N]);
        const outs: Tensor<'f32'>[] = [];
        for (let l = 0; l < L; l++)
          outs.push(selectiveScanStep(state, atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l), { ...opts, z: atL(c.z, l) }).reshape([1, dim, 1]));
        const out = concatL(outs);
        expect([level, sameBytes(out, whole.out.data)]).toEqual([level, true]);
        const w = ref.selectiveScan({
          u: c.u.data, delta: c.delta.data, A: c.A.data, B: c.B.data, C: c.C.data, bGroups: 1, cGroups: 1,
          batch: 1, dim, L, N, D: c.D.data, z: c.z.data, deltaBias: c.deltaBias.data, deltaSoftplus: true,
        });
        const finite = 40 * L; // channels 0..39: finite z (the last 8 channels' infinite z give infinite outputs)
        expect(relError(out.subarray(0, finite), w.out.subarray(0, finite))).toBeLessThan(1e-5);
        // z = +inf: silu = +inf, out = +-inf as the oracle's; z = -inf: silu(-inf) = -0 (the oracle's -inf * 0 is NaN),
        // out = +-0; z = 3: ordinary
        for (let i = finite; i < dim * L; i++) {
          const zi = c.z.data[i];
          const ok = zi === -Infinity ? out[i] === 0 : zi === Infinity ? out[i] === w.out[i] : Math.abs(out[i] - w.out[i]) <= 1e-5 * (1 + Math.abs(w.out[i]));
          expect([i, zi, ok]).toEqual([i, zi, true]);
        }
      });
    }
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const c = makeCase(2, 38, 50, 16, 'variable', 2, 11);
    const opts = { D: c.D, z: c.z, deltaBias: c.deltaBias, deltaSoftplus: true, returnLastState: true };
    const one = withThreads(1, () => selectiveScan(c.u, c.delta, c.A, c.B, c.C, opts));
    const three = withThreads(3, () => selectiveScan(c.u, c.delta, c.A, c.B, c.C, opts));
    expect(sameBytes(one.out.data, three.out.data)).toBe(true);
    expect(sameBytes(one.lastState!.data, three.lastState!.data)).toBe(true);
    const as = await selectiveScanAsync(c.u, c.delta, c.A, c.B, c.C, opts);
    expect(sameBytes(as.out.data, one.out.data)).toBe(true);
    expect(sameBytes(as.lastState!.data, one.lastState!.data)).toBe(true);
    const s1 = Tensor.zeros([2, 38, 16]);
    const s2 = Tensor.zeros([2, 38, 16]);
    const stepArgs = (l: number) => [atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l)] as const;
    const y1 = withThreads(1, () => selectiveScanStep(s1, ...stepArgs(0), { D: c.D }));
    const y2 = await withThreads(3, () => selectiveScanStepAsync(s2, ...stepArgs(0), { D: c.D }));
    expect(sameBytes(y1.data, y2.data)).toBe(true);
    expect(sameBytes(s1.data, s2.data)).toBe(true);
  });

  it('writes into opts.out when given (scan and conv), and refuses an out that overlaps an input', () => {
    const c = makeCase(2, 4, 9, 16, 'variable', 'variable', 2);
    const out = Tensor.full([2, 4, 9], 3);
    const r = selectiveScan(c.u, c.delta, c.A, c.B, c.C, { D: c.D, out });
    expect(r.out.data.buffer).toBe(out.data.buffer);
    expect(sameBytes(out.data, selectiveScan(c.u, c.delta, c.A, c.B, c.C, { D: c.D }).out.data)).toBe(true);
    expect(() => selectiveScan(c.u, c.delta, c.A, c.B, c.C, { out: c.u })).toThrow(/opts\.out must not share memory with an input/);
    const w = Tensor.randn([4, 4], { seed: 3 });
    const cout = Tensor.zeros([2, 4, 9]);
    expect(causalConv1d(c.u, w, null, { out: cout }).out.data.buffer).toBe(cout.data.buffer);
    expect(sameBytes(cout.data, causalConv1d(c.u, w).out.data)).toBe(true);
    expect(() => causalConv1d(c.u, w, null, { out: Tensor.zeros([2, 4, 8]) })).toThrow(/opts\.out must have shape \[2, 4, 9\]/);
  });

  it('the step writes into opts.out (the same bits, the same tensor back), and refuses an out or state that overlaps', () => {
    const c = makeCase(2, 4, 3, 16, 'variable', 2, 6);
    const opts = { D: c.D, deltaBias: c.deltaBias, deltaSoftplus: true };
    const s1 = Tensor.zeros([2, 4, 16]);
    const s2 = Tensor.zeros([2, 4, 16]);
    const out = Tensor.full([2, 4], 7);
    for (let l = 0; l < 3; l++) {
      const args = [atL(c.u, l), atL(c.delta, l), c.A, atL(c.B, l), atL(c.C, l)] as const;
      const want = selectiveScanStep(s1, ...args, { ...opts, z: atL(c.z, l) });
      const got = selectiveScanStep(s2, ...args, { ...opts, z: atL(c.z, l), out });
      expect(got).toBe(out);
      expect(sameBytes(out.data, want.data)).toBe(true);
      expect(sameBytes(s2.data, s1.data)).toBe(true);
    }
    const u0 = atL(c.u, 0);
    const args0 = [u0, atL(c.delta, 0), c.A, atL(c.B, 0), atL(c.C, 0)] as const;
    expect(() => selectiveScanStep(s2, ...args0, { out: Tensor.zeros([2, 5]) })).toThrow(/opts\.out must have shape \[2, 4\]/);
    expect(() => selectiveScanStep(s2, ...args0, { out: u0 })).toThrow(/opts\.out must not share memory with an input/);
    // out over the state: it would be read and written at once
    const flat = Tensor.zeros([2, 4, 16]);
    const alias = Tensor.from(flat.data.subarray(0, 8), [2, 4]);
    expect(() => selectiveScanStep(flat, ...args0, { out: alias })).toThrow(/opts\.out must not share memory with an input/);
    // a state over an input
    const big = Tensor.zeros([2, 4, 16]);
    const uAlias = Tensor.from(big.data.subarray(0, 8), [2, 4]);
    expect(() => selectiveScanStep(big, uAlias, atL(c.delta, 0), c.A, atL(c.B, 0), atL(c.C, 0))).toThrow(/state \(updated in place\) must not share memory with an input/);
  });

  it('rejects bad arguments, naming them', () => {
    const c = makeCase(2, 4, 5, 3, 'variable', 'variable', 1);
    const s = (u = c.u, delta = c.delta, A = c.A, B = c.B, C = c.C, opts: SelectiveScanOptions = {}) => () => selectiveScan(u, delta, A, B, C, opts);
    expect(s(Tensor.zeros([4, 5]))).toThrow(/u must have shape \[batch, dim, L\]/);
    expect(s(c.u, Tensor.zeros([2, 4, 6]))).toThrow(/u and delta must have the same shape/);
    expect(s(c.u, c.delta, Tensor.zeros([3, 3]))).toThrow(/A must have shape \[4, N\]/);
    expect(s(c.u, c.delta, Tensor.zeros([4, 0]))).toThrow(RangeError);
    expect(s(c.u, c.delta, c.A, Tensor.zeros([2, 3, 6]))).toThrow(/B of 3 dimensions must have shape \[2, 3, 5\]/);
    expect(s(c.u, c.delta, c.A, c.B, Tensor.zeros([2, 3, 3, 5]))).toThrow(/C has 3 groups, which must divide dim = 4/);
    expect(s(c.u, c.delta, c.A, c.B, Tensor.zeros([3, 3]))).toThrow(/C of 2 dimensions is time-invariant and must have shape \[4, 3\]/);
    expect(s(c.u, c.delta, c.A, c.B, c.C, { D: Tensor.zeros([5]) })).toThrow(/opts\.D must have shape \[4\]/);
    expect(s(c.u, c.delta, c.A, c.B, c.C, { z: Tensor.zeros([2, 4]) })).toThrow(/opts\.z must have shape \[2, 4, 5\]/);
    expect(s(c.u, c.delta, c.A, c.B, c.C, { state: Tensor.zeros([2, 4, 4]) })).toThrow(/opts\.state must have shape \[2, 4, 3\]/);
    expect(s(c.u, c.delta, c.A, c.B, c.C, { deltaSoftplus: 1 as never })).toThrow(TypeError);
    expect(s(c.u, c.delta, c.A, c.B, c.C, { deltaSoftplus: 1 as never })).toThrow(/opts\.deltaSoftplus must be a boolean/);
    expect(s(Tensor.zeros([2, 4, 5], 'i32') as never)).toThrow(/u must have dtype f32/);
    expect(() => binding.selectiveScan(c.u, c.delta, c.A, c.B, c.C, 5 as never)).toThrow(/opts must be an object/);
    const st = Tensor.zeros([2, 4, 3]);
    expect(() => selectiveScanStep(st, c.u, c.delta, c.A, atL(c.B, 0), atL(c.C, 0))).toThrow(/u must have shape \[batch, dim\] \(one token\)/);
    expect(() => selectiveScanStep(Tensor.zeros([2, 4, 2]), atL(c.u, 0), atL(c.delta, 0), c.A, atL(c.B, 0), atL(c.C, 0))).toThrow(/state must have shape \[2, 4, 3\]/);
    expect(() => selectiveScanStep(st, atL(c.u, 0), atL(c.delta, 0), c.A, c.B, atL(c.C, 0))).toThrow(/B must have shape \[2, 3\]/);
  });
});

describe('selectiveScanStep packed fast path (lib/packed.ts)', () => {
  const c = makeCase(2, 12, 1, 16, 'variable', 2, 21);
  const u = atL(c.u, 0), delta = atL(c.delta, 0), B = atL(c.B, 0), C = atL(c.C, 0), z = atL(c.z, 0);
  type Args = [unknown, unknown, unknown, unknown, unknown, unknown, unknown];
  const good = (): Args => [Tensor.zeros([2, 12, 16]), u, delta, c.A, B, C, { D: c.D, z, deltaBias: c.deltaBias, deltaSoftplus: true }];
  const viaLib = (a: Args) => (selectiveScanStep as (...x: unknown[]) => Tensor<'f32'>)(...a);
  const viaObjects = (a: Args) => (binding.selectiveScanStep as (...x: unknown[]) => unknown)(...a);

  it('is taken for plain tensors and gives the bits of the object form (state and output), with and without options', () => {
    const spy = vi.spyOn(binding, 'selectiveScanStepPacked');
    try {
      for (const full of [true, false]) {
        const a = good(), b = good();
        if (!full) a[6] = b[6] = undefined;
        for (let t = 0; t < 3; t++) {
          const y1 = viaLib(a);
          const y2 = viaObjects(b) as Tensor<'f32'>;
          expect(sameBytes(y1.data, y2.data)).toBe(true);
          expect(sameBytes((a[0] as Tensor<'f32'>).data, (b[0] as Tensor<'f32'>).data)).toBe(true);
        }
      }
      expect(spy).toHaveBeenCalledTimes(6);
      // an argument that is not plainly well formed takes the object form
      const odd = good();
      odd[1] = { data: u.data, shape: [...u.shape, 1.5], dtype: 'f32' };
      expect(errorOf(() => viaLib(odd))).toMatch(/TypeError: u\.shape\[2\] must be a non-negative integer/);
      expect(spy).toHaveBeenCalledTimes(6);
    } finally {
      spy.mockRestore();
    }
  });

  it('an argument getter that runs another step while the arguments are packed does not disturb them', () => {
    const o = makeCase(1, 5, 1, 16, 'variable', 'variable', 3); // other shapes than the outer call's
    const inner = () => selectiveScanStep(Tensor.zeros([1, 5, 16]), atL(o.u, 0), atL(o.delta, 0), o.A, atL(o.B, 0), atL(o.C, 0));
    const a = good(), b = good();
    let calls = 0;
    a[1] = { get data() { calls++; inner(); return u.data; }, shape: u.shape, dtype: 'f32' };
    const y1 = viaLib(a);
    const y2 = viaObjects(b) as Tensor<'f32'>;
    expect(calls).toBeGreaterThan(0);
    expect(sameBytes(y1.data, y2.data)).toBe(true);
    expect(sameBytes((a[0] as Tensor<'f32'>).data, (b[0] as Tensor<'f32'>).data)).toBe(true);
  });

  it('rejects every bad argument with the message of the object form', () => {
    const detached = Tensor.alloc([2, 12], 'f32');
    detached.dispose();
    const cases: [string, (a: Args) => void][] = [
      ['u absent', (a) => (a[1] = undefined)],
      ['u null', (a) => (a[1] = null)],
      ['u an array', (a) => (a[1] = [1, 2])],
      ['u a Float32Array', (a) => (a[1] = u.data)],
      ['u dtype f64', (a) => (a[1] = { data: u.data, shape: u.shape, dtype: 'f64' })],
      ['u dtype i32', (a) => (a[1] = Tensor.zeros([2, 12], 'i32'))],
      ['u shape not an array', (a) => (a[1] = { data: u.data, shape: 24, dtype: 'f32' })],
      ['u shape of 9 dims', (a) => (a[1] = { data: u.data, shape: [1, 1, 1, 1, 1, 1, 1, 2, 12], dtype: 'f32' })],
      ['u shape negative', (a) => (a[1] = { data: u.data, shape: [-2, 12], dtype: 'f32' })],
      ['u data Int32Array', (a) => (a[1] = { data: new Int32Array(24), shape: [2, 12], dtype: 'f32' })],
      ['u data too short', (a) => (a[1] = { data: new Float32Array(23), shape: [2, 12], dtype: 'f32' })],
      ['u size overflows', (a) => (a[1] = { data: u.data, shape: [2 ** 40, 2 ** 40], dtype: 'f32' })],
      ['u detached', (a) => (a[1] = detached)],
      ['u of 3 dims', (a) => (a[1] = c.u)],
      ['delta shape', (a) => (a[2] = Tensor.zeros([2, 11]))],
      ['A shape', (a) => (a[3] = Tensor.zeros([11, 16]))],
      ['state shape', (a) => (a[0] = Tensor.zeros([2, 12, 8]))],
      ['state over u', (a) => {
        const big = Tensor.zeros([2, 12, 16]);
        a[0] = big;
        a[1] = Tensor.from(big.data.subarray(0, 24), [2, 12]);
      }],
      ['B shape', (a) => (a[4] = Tensor.zeros([2, 15]))],
      ['C groups', (a) => (a[5] = Tensor.zeros([2, 5, 16]))],
      ['opts a number', (a) => (a[6] = 5)],
      ['opts an array', (a) => (a[6] = [])],
      ['opts.D shape', (a) => (a[6] = { D: Tensor.zeros([11]) })],
      ['opts.D dtype', (a) => (a[6] = { D: Tensor.zeros([12], 'i32') })],
      ['opts.z shape', (a) => (a[6] = { z: Tensor.zeros([2, 11]) })],
      ['opts.deltaBias data', (a) => (a[6] = { deltaBias: { data: new Float32Array(3), shape: [12], dtype: 'f32' } })],
      ['opts.deltaSoftplus', (a) => (a[6] = { deltaSoftplus: 1 })],
      ['opts.out shape', (a) => (a[6] = { out: Tensor.zeros([2, 11]) })],
      ['opts.out over u', (a) => (a[6] = { out: u })],
      ['opts.out a string', (a) => (a[6] = { out: 'x' })],
    ];
    for (const [what, edit] of cases) {
      const a = good(), b = good();
      edit(a);
      edit(b);
      const got = errorOf(() => viaLib(a));
      expect([what, got]).toEqual([what, errorOf(() => viaObjects(b))]);
      expect([what, got === 'no error']).toEqual([what, false]);
    }
  });

  it('the packed binding itself checks its records and arrays, naming the argument', () => {
    const rec = (dims: number[][]) => {
      const r = new Float64Array(100).fill(-1);
      dims.forEach((d, i) => {
        if (d.length === 0) return;
        r[i * 10] = d[0];
        r[i * 10 + 1] = d.length - 1;
        d.slice(1).forEach((x, k) => (r[i * 10 + 2 + k] = x));
      });
      return r;
    };
    const shapes = [[0, 2, 12, 16], [0, 2, 12], [0, 2, 12], [0, 12, 16], [0, 2, 16], [0, 2, 2, 16]];
    const call = (r: unknown, data: unknown[] = [new Float32Array(384), u.data, delta.data, c.A.data, B.data, C.data]) =>
      () => (binding.selectiveScanStepPacked as (...x: unknown[]) => unknown)(r, ...data, undefined, undefined, undefined, undefined, false);
    expect(call(rec(shapes))).not.toThrow();
    expect(call(new Float32Array(100))).toThrow(/packed tensor records must be a Float64Array of 100 or more elements, got Float32Array/);
    expect(call(new Float64Array(99))).toThrow(TypeError);
    expect(call(rec([[0, 2, 12, 16], [0, 2, 12.5], ...shapes.slice(2)]))).toThrow(/^u: the packed tensor record .* is malformed$/);
    expect(call(rec([[0, 2, 12, 16], [7, 2, 12], ...shapes.slice(2)]))).toThrow(/^u: the packed tensor record/);
    expect(call(rec([[0, 2, 12, 16], [0, 1, 1, 1, 1, 1, 1, 1, 2, 12], ...shapes.slice(2)]))).toThrow(/^u: the packed tensor record/);
    expect(call(rec([[0, 2, 12, 16], [0, 2, 13], ...shapes.slice(2)]))).toThrow(/^u\.data has 24 elements but shape \[2, 13\] needs 26$/);
    expect(call(rec([[0, 2, 12, 16], [5, 2, 12], ...shapes.slice(2)]))).toThrow(/^u\.data must be a Int32Array for dtype i32, got Float32Array$/);
    expect(call(rec(shapes), [new Float32Array(384), u.data, delta.data, c.A.data, B.data])).toThrow(/^C must be a tensor \(\{data, shape, dtype\}\), got undefined$/);
  });
});

describe('causalConv1d (Mamba conv before the scan)', () => {
  for (const level of levels) {
    it(`matches the float64 oracle, with and without silu, bias and a state; split and step runs equal one run (${level})`, () => {
      withIsa(level, () => {
        let seed = 1;
        for (const [batch, dim, L, k] of [[1, 1, 1, 1], [2, 3, 7, 4], [1, 5, 40, 4], [2, 2, 19, 3], [1, 3, 9, 12]]) {
          const x = Tensor.randn([batch, dim, L], { seed: seed++ });
          const w = Tensor.randn([dim, k], { seed: seed++ });
          const bias = Tensor.randn([dim], { seed: seed++ });
          const state = Tensor.randn([batch, dim, k - 1], { seed: seed++ });
          for (const [silu, b, st] of [[false, null, null], [true, bias, state]] as const) {
            const r = causalConv1d(x, w, b, { activation: silu ? 'silu' : null, state: st });
            const want = ref.causalConv1d(x.data, w.data, b?.data, batch, dim, L, k, silu, st?.data);
            expect([batch, dim, L, k, relError(r.out.data, want.out) < 1e-6]).toEqual([batch, dim, L, k, true]);
            expect(relError(r.state.data, want.state)).toBe(0);
          }
          // [dim, 1, k] weights are accepted (the nn.Conv1d layout)
          expect(sameBytes(causalConv1d(x, w.reshape([dim, 1, k]), bias).out.data, causalConv1d(x, w, bias).out.data)).toBe(true);
          const whole = causalConv1d(x, w, bias, { activation: 'silu' });
          if (L > 3) {
            const a = causalConv1d(sliceL(x, 0, 3), w, bias, { activation: 'silu' });
            const b = causalConv1d(sliceL(x, 3, L), w, bias, { activation: 'silu', state: a.state });
            expect(sameBytes(concatL([a.out, b.out]), whole.out.data)).toBe(true);
            expect(sameBytes(b.state.data, whole.state.data)).toBe(true);
          }
          let st: Tensor<'f32'> | null = null;
          const outs: Tensor<'f32'>[] = [];
          for (let l = 0; l < L; l++) {
            const r = causalConv1d(sliceL(x, l, l + 1), w, bias, { activation: 'silu', state: st });
            outs.push(r.out);
            st = r.state;
          }
          expect(sameBytes(concatL(outs), whole.out.data)).toBe(true);
        }
      });
    });
  }

  it('gives the same bits with 1 and 3 threads, async equals sync, and rejects bad arguments', async () => {
    const x = Tensor.randn([2, 33, 100], { seed: 4 });
    const w = Tensor.randn([33, 4], { seed: 5 });
    const one = withThreads(1, () => causalConv1d(x, w, null, { activation: 'silu' }));
    const three = withThreads(3, () => causalConv1d(x, w, null, { activation: 'silu' }));
    expect(sameBytes(one.out.data, three.out.data)).toBe(true);
    expect(sameBytes((await causalConv1dAsync(x, w, null, { activation: 'silu' })).out.data, one.out.data)).toBe(true);
    expect(() => causalConv1d(Tensor.zeros([33, 100]), w)).toThrow(/x must have shape \[batch, dim, L\]/);
    expect(() => causalConv1d(x, Tensor.zeros([32, 4]))).toThrow(/weight must have shape \[33, k\] or \[33, 1, k\]/);
    expect(() => causalConv1d(x, Tensor.zeros([33, 0]))).toThrow(RangeError);
    expect(() => causalConv1d(x, w, Tensor.zeros([4]))).toThrow(/bias must have shape \[33\]/);
    expect(() => causalConv1d(x, w, null, { state: Tensor.zeros([2, 33, 4]) })).toThrow(/opts\.state must have shape \[2, 33, 3\]/);
    expect(() => causalConv1d(x, w, null, { activation: 'gelu' as never })).toThrow(/opts\.activation must be 'silu'/);
    expect(() => causalConv1d(x, w, null, { activation: 3 as never })).toThrow(TypeError);
  });

  it('updateState: the state is updated in place, token by token the same bits as one run', async () => {
    for (const [batch, dim, L, k] of [[2, 21, 9, 4], [1, 5, 6, 3], [1, 3, 4, 1]]) {
      const x = Tensor.randn([batch, dim, L], { seed: 30 + k });
      const w = Tensor.randn([dim, k], { seed: 31 });
      const bias = Tensor.randn([dim], { seed: 32 });
      const whole = causalConv1d(x, w, bias, { activation: 'silu' });
      const state = causalConv1d(sliceL(x, 0, 1), w, bias).state;
      const outs: Tensor<'f32'>[] = [causalConv1d(sliceL(x, 0, 1), w, bias, { activation: 'silu' }).out];
      const out = Tensor.zeros([batch, dim, 1]);
      for (let l = 1; l < L; l++) {
        const args = [sliceL(x, l, l + 1), w, bias, { activation: 'silu', state, out, updateState: true }] as const;
        const r = l % 3 === 2 ? await causalConv1dAsync(...args) : l % 3 === 1 ? causalConv1d(...args) : withThreads(3, () => causalConv1d(...args));
        expect(r.state).toBe(state);
        expect(r.out.data.buffer).toBe(out.data.buffer);
        outs.push(Tensor.from(out.data.slice(), out.shape));
      }
      expect([batch, dim, L, k, sameBytes(concatL(outs), whole.out.data)]).toEqual([batch, dim, L, k, true]);
      expect(sameBytes(state.data, whole.state.data)).toBe(true);
      // a longer piece in place continues the same way
      const s2 = causalConv1d(sliceL(x, 0, 2), w, bias).state;
      const r2 = causalConv1d(sliceL(x, 2, L), w, bias, { activation: 'silu', state: s2, updateState: true });
      expect(r2.state).toBe(s2);
      expect(sameBytes(s2.data, whole.state.data)).toBe(true);
      expect(sameBytes(concatL([...outs.slice(0, 2), r2.out]), whole.out.data)).toBe(true);
    }
    const x = Tensor.randn([1, 4, 1], { seed: 40 });
    const w = Tensor.randn([4, 4], { seed: 41 });
    const st = Tensor.zeros([1, 4, 3]);
    expect(() => causalConv1d(x, w, null, { updateState: true })).toThrow(/opts\.updateState needs opts\.state to update/);
    expect(() => causalConv1d(x, w, null, { state: st, updateState: 1 as never })).toThrow(/opts\.updateState must be a boolean/);
    const wide = Tensor.zeros([1, 4, 3]);
    const overX = Tensor.from(wide.data, [1, 4, 3]);
    expect(() => causalConv1d(Tensor.from(wide.data.subarray(8, 12), [1, 4, 1]), w, null, { state: overX, updateState: true }))
      .toThrow(/opts\.state \(updated in place\) must not share memory with an input/);
    expect(() => causalConv1d(x, w, null, { state: st, updateState: true, out: Tensor.from(st.data.subarray(0, 4), [1, 4, 1]) }))
      .toThrow(/opts\.out must not share memory with an input/);
  });

  it('a generation step (updateState) takes the packed fast path: the bits and the messages of the object form', () => {
    const [batch, dim, k] = [2, 19, 4];
    const x = Tensor.randn([batch, dim, 1], { seed: 50 });
    const w = Tensor.randn([dim, k], { seed: 51 });
    const bias = Tensor.randn([dim], { seed: 52 });
    const s1 = Tensor.randn([batch, dim, k - 1], { seed: 53 });
    const s2 = Tensor.from(s1.data.slice(), s1.shape);
    const spy = vi.spyOn(binding, 'causalConv1dStepPacked');
    try {
      for (const [act, b, out] of [['silu', bias, Tensor.zeros([batch, dim, 1])], [null, null, null]] as const) {
        const a = causalConv1d(x, w, b, { activation: act, state: s1, out, updateState: true });
        const r = binding.causalConv1d(x, w, b, { activation: act, state: s2, updateState: true });
        expect(a.state).toBe(s1);
        if (out) expect(a.out.data.buffer).toBe(out.data.buffer);
        expect(sameBytes(a.out.data, r.out.data) && sameBytes(s1.data, s2.data)).toBe(true);
      }
      expect(spy).toHaveBeenCalledTimes(2);
      causalConv1d(x, w, bias, { state: s1 }); // not in place: the object form
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
    type Args = [unknown, unknown, unknown, Record<string, unknown>];
    const good = (): Args => [x, w, bias, { activation: 'silu', state: Tensor.from(s1.data.slice(), s1.shape), out: Tensor.zeros([batch, dim, 1]), updateState: true }];
    const detached = Tensor.alloc([dim], 'f32');
    detached.dispose();
    const cases: [string, (a: Args) => void][] = [
      ['x of 2 dims', (a) => (a[0] = Tensor.zeros([batch, dim]))],
      ['x data kind', (a) => (a[0] = { data: new Int32Array(batch * dim), shape: [batch, dim, 1], dtype: 'f32' })],
      ['weight shape', (a) => (a[1] = Tensor.zeros([dim + 1, k]))],
      ['weight k 0', (a) => (a[1] = Tensor.zeros([dim, 0]))],
      ['bias detached', (a) => (a[2] = detached)],
      ['bias dtype', (a) => (a[2] = Tensor.zeros([dim], 'i32'))],
      ['state shape', (a) => (a[3].state = Tensor.zeros([batch, dim, k]))],
      ['state absent', (a) => (a[3].state = null)],
      ['state over x', (a) => (a[3].state = Tensor.from((a[0] as Tensor<'f32'>).data.subarray(0, 3), [1, 1, 3]))],
      ['out shape', (a) => (a[3].out = Tensor.zeros([batch, dim, 2]))],
      ['out over state', (a) => (a[3].out = Tensor.from((a[3].state as Tensor<'f32'>).data.subarray(0, batch * dim), [batch, dim, 1]))],
      ['activation', (a) => (a[3].activation = 'gelu')],
      ['activation type', (a) => (a[3].activation = 3)],
      ['shape odd', (a) => (a[0] = { data: new Float32Array(batch * dim), shape: [batch, dim, 1.5], dtype: 'f32' })],
    ];
    for (const [what, edit] of cases) {
      const a = good(), b = good();
      edit(a);
      edit(b);
      const got = errorOf(() => (causalConv1d as (...z: unknown[]) => unknown)(...a));
      expect([what, got]).toEqual([what, errorOf(() => (binding.causalConv1d as (...z: unknown[]) => unknown)(...b))]);
      expect([what, got === 'no error']).toEqual([what, false]);
    }
    expect(() => (binding.causalConv1dStepPacked as (...z: unknown[]) => unknown)(new Float64Array(49))).toThrow(/packed tensor records must be a Float64Array of 50 or more elements/);
  });

  it('the one-token step follows weights changed in place and weights of another layout with the same bytes', () => {
    // (the step read a cached transposed copy of its last weights until 2026-11-30; it reads the weights themselves)
    const x = Tensor.randn([1, 4, 1], { seed: 8 });
    const st = Tensor.randn([1, 4, 1], { seed: 9 });
    const w = Tensor.randn([4, 2], { seed: 10 });
    const want = (ww: Tensor<'f32'>) => ref.causalConv1d(x.data, ww.data, undefined, 1, 4, 1, 2, false, st.data).out;
    expect(relError(causalConv1d(x, w, null, { state: st }).out.data, want(w))).toBeLessThan(1e-6);
    w.data[5] += 1; // same array, new contents
    expect(relError(causalConv1d(x, w, null, { state: st }).out.data, want(w))).toBeLessThan(1e-6);
    // [2, 4] weights with the same bytes (a 2-channel conv of kernel size 4)
    const x2 = Tensor.randn([1, 2, 1], { seed: 11 });
    const st2 = Tensor.randn([1, 2, 3], { seed: 12 });
    const w2 = Tensor.from(w.data, [2, 4]);
    const got = causalConv1d(x2, w2, null, { state: st2 }).out.data;
    expect(relError(got, ref.causalConv1d(x2.data, w2.data, undefined, 1, 2, 1, 4, false, st2.data).out)).toBeLessThan(1e-6);
  });
});

// End to end against Hugging Face's MambaForCausalLM (test/fixtures/hf/mamba: 2 layers, hidden 32, inner 64, state 8,
// dt rank 2, conv 4, vocab 128, lm_head tied to the embeddings; 2 sequences of 12 tokens). The mixer composed from the
// ops (the Mamba model family itself comes later): [x, z] = in_proj(RMSNorm(h)); x = silu(conv1d(x)); [dt, B, C] =
// x_proj(x); y = selectiveScan(x, dt_proj(dt), A = -exp(A_log), B, C, {D, z, deltaBias: dt_proj.bias, softplus});
// h += out_proj(y). The same with a prefix and then the step forms, token by token, through their states.
describe('Mamba blocks on causalConv1d and selectiveScan (Hugging Face fixture)', () => {
  const dir = join(__dirname, 'fixtures', 'hf', 'mamba');


  it('reproduce the hidden states and logits of upstream; a prefix and then token-by-token steps agree', () => {
    const model = openSafetensors(join(dir, 'model.safetensors'));
    const io = openSafetensors(join(dir, 'io.safetensors'));
    const w = (n: string) => model.tensor(n) as Tensor<'f32'>;
    const layers = 2, inner = 64, N = 8, rank = 2, eps = 1e-5;
    const A = Array.from({ length: layers }, (_, i) => {
      const aLog = w(`backbone.layers.${i}.mixer.A_log`);
      return Tensor.from(aLog.data.map((x) => -Math.exp(x)), aLog.shape);
    });
    const ids = io.tensor('input.input_ids') as Tensor<'i64'>;
    const [batch, T] = ids.shape;
    const want = (n: string) => (io.tensor(n) as Tensor<'f32'>).data;
    const channelsFirst = (t: Tensor<'f32'>) => transpose(t, 1, 2); // [batch, L, X] -> [batch, X, L]

    // the whole sequence
    let h = embedding(ids, w('backbone.embeddings.weight'));
    for (let i = 0; i < layers; i++) {
      const p = `backbone.layers.${i}`, m = `${p}.mixer`;
      const [x0, z] = split(channelsFirst(linear(rmsNorm(h, w(`${p}.norm.weight`), eps), w(`${m}.in_proj.weight`))), inner, 1);
      const x = causalConv1d(x0, w(`${m}.conv1d.weight`), w(`${m}.conv1d.bias`), { activation: 'silu' }).out;
      const [dt, Bs, Cs] = split(linear(channelsFirst(x), w(`${m}.x_proj.weight`)), [rank, N, N], -1);
      const y = selectiveScan(x, channelsFirst(linear(dt, w(`${m}.dt_proj.weight`))), A[i], channelsFirst(Bs), channelsFirst(Cs), {
        D: w(`${m}.D`), z, deltaBias: w(`${m}.dt_proj.bias`), deltaSoftplus: true,
      }).out;
      h = add(h, linear(channelsFirst(y), w(`${m}.out_proj.weight`)));
      expectAllClose(h.data, want(`output.hidden_states.${i}`), `hidden_states.${i}`);
    }
    const last = rmsNorm(h, w('backbone.norm_f.weight'), eps);
    expectAllClose(last.data, want('output.last_hidden_state'), 'last_hidden_state');
    expectAllClose(linear(last, w('backbone.embeddings.weight')).data, want('output.logits'), 'logits');

    // generation: the first 7 tokens as a sequence (keeping the conv and scan states), then one token at a time
    const prefix = 7;
    const idsAt = (t0: number, t1: number) => {
      const out = new BigInt64Array(batch * (t1 - t0));
      for (let b = 0; b < batch; b++) out.set(ids.data.subarray(b * T + t0, b * T + t1), b * (t1 - t0));
      return Tensor.from(out, [batch, t1 - t0], 'i64');
    };
    const conv: Tensor<'f32'>[] = [], ssm: Tensor<'f32'>[] = [];
    const rows: Float32Array[] = [];
    h = embedding(idsAt(0, prefix), w('backbone.embeddings.weight'));
    for (let i = 0; i < layers; i++) {
      const p = `backbone.layers.${i}`, m = `${p}.mixer`;
      const [x0, z] = split(channelsFirst(linear(rmsNorm(h, w(`${p}.norm.weight`), eps), w(`${m}.in_proj.weight`))), inner, 1);
      const c = causalConv1d(x0, w(`${m}.conv1d.weight`), w(`${m}.conv1d.bias`), { activation: 'silu' });
      conv.push(c.state);
      const [dt, Bs, Cs] = split(linear(channelsFirst(c.out), w(`${m}.x_proj.weight`)), [rank, N, N], -1);
      const r = selectiveScan(c.out, channelsFirst(linear(dt, w(`${m}.dt_proj.weight`))), A[i], channelsFirst(Bs), channelsFirst(Cs), {
        D: w(`${m}.D`), z, deltaBias: w(`${m}.dt_proj.bias`), deltaSoftplus: true, returnLastState: true,
      });
      ssm.push(r.lastState as Tensor<'f32'>);
      h = add(h, linear(channelsFirst(r.out), w(`${m}.out_proj.weight`)));
    }
    rows.push(rmsNorm(h, w('backbone.norm_f.weight'), eps).data);
    for (let t = prefix; t < T; t++) {
      h = embedding(idsAt(t, t + 1), w('backbone.embeddings.weight')).reshape([batch, 32]);
      for (let i = 0; i < layers; i++) {
        const p = `backbone.layers.${i}`, m = `${p}.mixer`;
        const [x0, z] = split(linear(rmsNorm(h, w(`${p}.norm.weight`), eps), w(`${m}.in_proj.weight`)), inner, 1);
        const x = causalConv1d(x0.reshape([batch, inner, 1]), w(`${m}.conv1d.weight`), w(`${m}.conv1d.bias`), {
          activation: 'silu', state: conv[i], updateState: true,
        }).out.reshape([batch, inner]);
        const [dt, Bs, Cs] = split(linear(x, w(`${m}.x_proj.weight`)), [rank, N, N], -1);
        const y = selectiveScanStep(ssm[i], x, linear(dt, w(`${m}.dt_proj.weight`)), A[i], Bs, Cs, {
          D: w(`${m}.D`), z, deltaBias: w(`${m}.dt_proj.bias`), deltaSoftplus: true,
        });
        h = add(h, linear(y, w(`${m}.out_proj.weight`)));
      }
      rows.push(rmsNorm(h, w('backbone.norm_f.weight'), eps).data);
    }
    // rows: [batch, prefix, 32], then [batch, 32] per token: back to [batch, T, 32]
    const got = new Float32Array(batch * T * 32);
    for (let b = 0; b < batch; b++) {
      got.set(rows[0].subarray(b * prefix * 32, (b + 1) * prefix * 32), b * T * 32);
      for (let t = prefix; t < T; t++) got.set(rows[t - prefix + 1].subarray(b * 32, (b + 1) * 32), (b * T + t) * 32);
    }
    expectAllClose(got, want('output.last_hidden_state'), 'last_hidden_state, prefix + steps');
    model.dispose();
    io.dispose();
  });
});
