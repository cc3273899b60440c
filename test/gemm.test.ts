import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { linear, linearAsync, matmul, matmulAsync, packLinear, PackedLinearWeight, type MatmulOptions } from '../lib/ops/gemm';
import { Rng } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import { linearRef, matmulRef } from './reference/gemm';

const TOL = 1e-5;
const SIZES = [1, 3, 7, 17, 31, 63, 65, 127, 129, 257];
const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];
const many = Math.max(3, binding.info().threads.hardware + 1); // an odd count: splits differ from 1 and 2

type Any = never;

function randn(shape: number[], seed: number): Tensor<'f32'> {
  return Tensor.randn(shape, { seed }) as Tensor<'f32'>;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/**
 * The relative error ‖out − ref‖ / ‖ref‖, with ‖ref‖ floored at ‖|alpha|·|op(A)|·|op(B)| + |beta|·|C|‖ / √K,
 * the typical size of a sum of K random-sign terms: without the floor, a tiny output whose one dot
 * product happens to cancel (e.g. 0.03 from 127 terms of size 1) fails 1e-5 in any fp32 arithmetic.
 */
function gemmError(out: ArrayLike<number>, ref: ArrayLike<number>, scale: number): number {
  let num = 0;
  for (let i = 0; i < ref.length; i++) num += (out[i] - ref[i]) ** 2;
  const den = Math.max(norm(ref), scale);
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num) / den;
}

const abs = (t: { data: ArrayLike<number>; shape: readonly number[] }) => ({ data: Float64Array.from(t.data, Math.abs), shape: t.shape });

/** The floor of gemmError for matmul(a, b, opts) (c: out's previous contents). */
function matmulScale(a: Tensor<'f32'>, b: Tensor<'f32'>, opts: MatmulOptions, c?: ArrayLike<number>): number {
  const k = opts.transA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const r = matmulRef(abs(a), abs(b), {
    transA: opts.transA, transB: opts.transB, alpha: Math.abs(opts.alpha ?? 1), beta: Math.abs(opts.beta ?? 0),
    c: c && Float64Array.from(c, Math.abs),
  });
  return norm(r.data) / Math.sqrt(Math.max(1, k));
}

interface Case {
  name: string;
  a: Tensor<'f32'>;
  b: Tensor<'f32'>;
  opts: MatmulOptions;
  out0?: Tensor<'f32'>; // initial contents of out (copied before each run)
  ref: Float64Array;
  scale: number;
}

function makeCase(m: number, n: number, k: number, transA: boolean, transB: boolean, seed: number, withOut: boolean): Case {
  const a = randn(transA ? [k, m] : [m, k], seed);
  const b = randn(transB ? [n, k] : [k, n], seed + 1);
  const opts: MatmulOptions = { transA, transB };
  let out0: Tensor<'f32'> | undefined;
  if (withOut) {
    out0 = randn([m, n], seed + 2);
    opts.alpha = -1.5;
    opts.beta = 0.5;
  }
  const ref = matmulRef(a, b, { ...opts, c: out0?.data }).data;
  const scale = matmulScale(a, b, opts, out0?.data);
  return { name: `${m}x${n}x${k} transA=${transA} transB=${transB}${withOut ? ' alpha/beta/out' : ''}`, a, b, opts, out0, ref, scale };
}

function run(c: Case): Tensor<'f32'> {
  if (!c.out0) return matmul(c.a, c.b, c.opts);
  const out = c.out0.clone() as Tensor<'f32'>;
  const r = matmul(c.a, c.b, { ...c.opts, out });
  expect(r).toBe(out);
  return out;
}

// Sampled (M, N, K) from SIZES^3 (seeded), plus shapes that pin each path: M = 1 (decode), small M,
// small N (the transposed small path), and the largest size on every side.
const triples: [number, number, number][] = [
  [1, 1, 1], [1, 257, 129], [3, 129, 257], [257, 1, 65], [129, 3, 31], [257, 257, 257], [65, 127, 63], [7, 17, 1],
];
{
  const rng = new Rng(2024);
  while (triples.length < 30) triples.push([SIZES[rng.int(10)], SIZES[rng.int(10)], SIZES[rng.int(10)]]);
}
let cases: Case[] | undefined;
function allCases(): Case[] {
  if (!cases) {
    cases = [];
    let seed = 1;
    for (const [m, n, k] of triples) {
      for (const [ta, tb] of TRANS) {
        cases.push(makeCase(m, n, k, ta, tb, seed, seed % 3 === 0));
        seed += 3;
      }
    }
  }
  return cases;
}

describe('matmul against the float64 oracle', () => {
  for (const level of levels) {
    it(`sizes from {${SIZES.join(', ')}}, every transpose combination, alpha/beta/out (${level})`, () => {
      withIsa(level, () => {
        for (const c of allCases()) {
          const err = gemmError(run(c).data, c.ref, c.scale);
          if (!(err <= TOL)) expect({ case: c.name, err }).toEqual({ case: c.name, err: '<= 1e-5' });
        }
      });
    });

    it(`blocks and paths: K across several KC blocks, M across MC blocks, N across NC blocks, M <= 4 and N <= 4 (${level})`, () => {
      withIsa(level, () => {
        const shapes: [number, number, number][] = [
          [5, 3100, 40], // N past one NC block
          [200, 33, 600], // M past one MC block, K across KC blocks
          [2, 300, 1000], [3, 130, 77], [4, 65, 513], // small M
          [5, 100, 33], [8, 70, 300], [7, 9, 17], // 5-8 rows: dot products in row chunks (transB), else blocked
          [300, 2, 1000], [77, 4, 130], [90, 6, 40], [65, 8, 257], // small N (and 5-8 columns)
          [6, 5, 9], [5, 6, 1],
        ];
        let seed = 500;
        for (const [m, n, k] of shapes) {
          for (const [ta, tb] of TRANS) {
            const c = makeCase(m, n, k, ta, tb, (seed += 3), seed % 2 === 0);
            const err = gemmError(run(c).data, c.ref, c.scale);
            if (!(err <= TOL)) expect({ case: c.name, err }).toEqual({ case: c.name, err: '<= 1e-5' });
          }
        }
      });
    });
  }

  it('an identity and a small exact example', () => {
    const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]);
    expect(matmul(a, b).toArray()).toEqual([[4, 5], [10, 11]]);
    expect(matmul(a, a, { transB: true }).toArray()).toEqual([[14, 32], [32, 77]]);
    expect(matmul(a, a, { transA: true }).shape).toEqual([3, 3]);
    const x = randn([37, 53], 9);
    const eye = Tensor.zeros([53, 53]);
    for (let i = 0; i < 53; i++) eye.data[i * 53 + i] = 1;
    expect(sameBytes(matmul(x, eye).data, x.data)).toBe(true);
  });

  it('beta = 0 never reads out (NaN there does not leak); alpha = 0 gives beta·out', () => {
    const a = randn([9, 20], 1);
    const b = randn([20, 11], 2);
    const out = Tensor.full([9, 11], NaN) as Tensor<'f32'>;
    matmul(a, b, { out });
    expect(relError(out.data, matmulRef(a, b).data)).toBeLessThanOrEqual(TOL);
    const o2 = randn([9, 11], 3);
    const before = Float64Array.from(o2.data);
    matmul(a, b, { out: o2, alpha: 0, beta: 2 });
    for (let i = 0; i < before.length; i++) expect(o2.data[i]).toBe(Math.fround(2 * before[i]));
  });

  it('K = 0 gives zeros (or beta·out); empty M, N and batch give empty results', () => {
    expect(Array.from(matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 4])).data)).toEqual(new Array(12).fill(0));
    const out = Tensor.full([3, 4], 2) as Tensor<'f32'>;
    matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 4]), { out, beta: 0.5 });
    expect(Array.from(out.data)).toEqual(new Array(12).fill(1));
    expect(matmul(Tensor.zeros([0, 5]), Tensor.zeros([5, 4])).shape).toEqual([0, 4]);
    expect(matmul(Tensor.zeros([3, 5]), Tensor.zeros([5, 0])).shape).toEqual([3, 0]);
    expect(matmul(Tensor.zeros([0, 3, 5]), Tensor.zeros([2, 1, 5, 4])).shape).toEqual([2, 0, 3, 4]);
  });

  it('NaN and infinity propagate', () => {
    const a = randn([6, 40], 1);
    const b = randn([40, 30], 2);
    a.data[2 * 40 + 7] = NaN;
    b.data[5 * 30 + 3] = Infinity;
    const c = matmul(a, b);
    for (let j = 0; j < 30; j++) expect(c.data[2 * 30 + j]).toBeNaN();
    for (let i = 0; i < 6; i++) if (i !== 2) expect(Math.abs(c.data[i * 30 + 3])).toBe(Infinity);
  });

  it('works on tensors at any byte offset (unaligned views)', () => {
    const big = randn([1 + 33 * 47 + 47 * 29], 4);
    const a = new Tensor(big.data.subarray(1, 1 + 33 * 47), [33, 47], 'f32');
    const b = new Tensor(big.data.subarray(1 + 33 * 47), [47, 29], 'f32');
    expect(relError(matmul(a, b).data, matmulRef(a, b).data)).toBeLessThanOrEqual(TOL);
  });
});

describe('batched matmul and broadcasting', () => {
  const shapes: [number[], number[]][] = [
    [[2, 3, 17, 31], [2, 3, 31, 7]], // same batch: one merged batch dimension
    [[4, 65, 33], [33, 17]], // shared b: folded into one product with 4 * 65 rows
    [[33, 17], [5, 17, 9]], // shared a (stride 0)
    [[2, 1, 7, 9], [1, 3, 9, 5]], // broadcast both ways: an outer loop and an inner batch
    [[3, 1, 2, 1, 6, 5], [4, 2, 5, 5, 3]], // 6 dims, broadcast in several places
    [[8, 1, 20], [8, 20, 70]], // M = 1 per batch
    [[1, 1, 3, 4], [3, 4, 2]], // size-1 batch dims on one side only
  ];
  for (const level of levels) {
    it(`matches the oracle in every transpose combination (${level})`, () => {
      withIsa(level, () => {
        let seed = 100;
        for (const [sa, sb] of shapes) {
          for (const [ta, tb] of TRANS) {
            const swapLast = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
            const a = randn(swapLast(sa, ta), (seed += 2));
            const b = randn(swapLast(sb, tb), seed + 1);
            const ref = matmulRef(a, b, { transA: ta, transB: tb });
            const c = matmul(a, b, { transA: ta, transB: tb });
            expect(c.shape).toEqual(ref.shape);
            const err = gemmError(c.data, ref.data, matmulScale(a, b, { transA: ta, transB: tb }));
            if (!(err <= TOL)) expect({ sa, sb, ta, tb, err }).toEqual('<= 1e-5');
            // with out, alpha and beta
            const out = randn(ref.shape, seed + 7);
            const out0 = Float64Array.from(out.data);
            const ref2 = matmulRef(a, b, { transA: ta, transB: tb, alpha: 0.75, beta: -1, c: out.data });
            matmul(a, b, { transA: ta, transB: tb, alpha: 0.75, beta: -1, out });
            const o2 = { transA: ta, transB: tb, alpha: 0.75, beta: -1 };
            expect(gemmError(out.data, ref2.data, matmulScale(a, b, o2, out0))).toBeLessThanOrEqual(TOL);
          }
        }
      });
    });
  }
});

describe('determinism', () => {
  // One shape per path: blocked (several row and column blocks), small M streaming B, small M with dot
  // products (transB; also 6 rows in chunks), small N (3; and 7 with dot products), batched small products
  // run one per thread, batch folded into M.
  const shapes: { a: number[]; b: number[]; opts: MatmulOptions }[] = [
    { a: [257, 300], b: [300, 129], opts: {} },
    { a: [257, 300], b: [129, 300], opts: { transB: true } },
    { a: [1, 513], b: [513, 1000], opts: {} },
    { a: [3, 513], b: [1000, 513], opts: { transB: true } },
    { a: [300, 129], b: [129, 3], opts: {} },
    { a: [6, 513], b: [700, 513], opts: { transB: true } },
    { a: [300, 129], b: [129, 7], opts: {} },
    { a: [16, 33, 65], b: [16, 65, 17], opts: {} },
    { a: [6, 40, 64], b: [64, 96], opts: {} },
  ];
  for (const level of levels) {
    it(`1 and ${many} threads give bitwise-equal results (${level})`, () => {
      withIsa(level, () => {
        let seed = 900;
        for (const s of shapes) {
          const a = randn(s.a, (seed += 2));
          const b = randn(s.b, seed + 1);
          const one = withThreads(1, () => matmul(a, b, s.opts));
          const n = withThreads(many, () => matmul(a, b, s.opts));
          const again = withThreads(2, () => matmul(a, b, s.opts));
          expect(sameBytes(one.data, n.data)).toBe(true);
          expect(sameBytes(one.data, again.data)).toBe(true);
        }
      });
    });
  }
});

describe('skinny path (9 rows up to the row block against an operand contiguous along K)', () => {
  // 9 to 192 rows (AVX2; the level's MC) with op(B) columns contiguous (transB: x·Wᵀ with an [out, in] weight),
  // at least as many columns as rows and at least two column panels per thread (so on 1 thread from 25
  // columns): op(A) packed whole, op(B) packed one panel block at a time. The mirrored shapes (as many columns
  // against a row-major op(A)) and 100 x 53 (fewer columns than rows) take the blocked path.
  // Shapes: M around the micro-tile height and the row-block limit (127, 128, 129, 192, 193); K not a multiple
  // of the vector width or of KC, across KC blocks (1037), tiny (3); N odd, past several panels, partial last
  // panel (97, 301).
  const shapes: [number, number, number][] = [
    [9, 53, 300], [10, 97, 1037], [13, 301, 3], [31, 61, 513], [64, 97, 129], [127, 253, 1001], [128, 197, 515],
    [129, 301, 70], [192, 297, 300], [193, 261, 257], [100, 53, 300],
  ];
  for (const level of levels) {
    it(`equals the float64 oracle, alpha/beta/out, transA, mirrored; 1 thread (${level})`, () => {
      withIsa(level, () => withThreads(1, () => {
        let seed = 3000;
        for (const [m, n, k] of shapes) {
          // [rows, cols, transA, transB]: x·Wᵀ (transA copies op(A)), then mirrored (few columns against a
          // row-major op(A): the blocked path), with op(B) either way
          const variants: [number, number, boolean, boolean][] = [[m, n, false, true], [m, n, true, true], [n + 300, m, false, false], [n + 300, m, false, true]];
          for (const [mm, nn, ta, tb] of variants) {
            for (const withOut of [false, true]) {
              const c = makeCase(mm, nn, k, ta, tb, (seed += 3), withOut);
              const err = gemmError(run(c).data, c.ref, c.scale);
              if (!(err <= TOL)) expect({ case: c.name, err }).toEqual({ case: c.name, err: '<= 1e-5' });
            }
          }
        }
      }));
    });

    it(`1, 2 and ${many} threads bitwise; the blocked path's bits (B as is, a packed weight) (${level})`, () => {
      withIsa(level, () => {
        let seed = 3500;
        for (const [m, n, k] of [[9, 53, 300], [16, 700, 1037], [37, 301, 515], [128, 197, 1030], [190, 200, 257]] as [number, number, number][]) {
          const x = randn([m, k], (seed += 3));
          const w = randn([n, k], seed + 1);
          const bias = randn([n], seed + 2);
          const one = withThreads(1, () => matmul(x, w, { transB: true }));
          expect(sameBytes(one.data, withThreads(2, () => matmul(x, w, { transB: true })).data)).toBe(true);
          expect(sameBytes(one.data, withThreads(many, () => matmul(x, w, { transB: true })).data)).toBe(true);
          // the same KC blocks through the same micro-kernel as the blocked path: B given as [k, n] (blocked
          // path) and the packed weight give the same bytes
          const wt = new Float32Array(n * k);
          for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) wt[p * n + j] = w.data[j * k + p];
          expect(sameBytes(one.data, matmul(x, Tensor.from(wt, [k, n])).data)).toBe(true);
          const pw = packLinear(w);
          expect(sameBytes(withThreads(2, () => linear(x, w, bias)).data, linear(x, pw, bias).data)).toBe(true);
          pw.dispose();
          // mirrored: W·xᵀ (m columns against W's rows) is the transpose of x·Wᵀ bitwise (the same KC blocks
          // through the same micro-kernel, each FMA's product the same either way round), on any thread count
          const mir = withThreads(1, () => matmul(w, x, { transB: true }));
          expect(sameBytes(mir.data, withThreads(many, () => matmul(w, x, { transB: true })).data)).toBe(true);
          let same = true;
          for (let i = 0; i < m && same; i++) for (let j = 0; j < n; j++) if (!Object.is(mir.data[j * m + i], one.data[i * n + j])) { same = false; break; }
          expect(same).toBe(true);
          const scale = norm(linearRef(abs(x), abs(w), abs(bias).data).data) / Math.sqrt(k);
          expect(gemmError(linear(x, w, bias).data, linearRef(x, w, bias.data).data, scale)).toBeLessThanOrEqual(TOL);
        }
      });
    });
  }
});

describe('linear', () => {
  for (const level of levels) {
    it(`x·Wᵀ + bias with weight [out, in] (${level})`, () => {
      withIsa(level, () => {
        const dims: [number[], number][] = [[[2, 3, 31], 17], [[65], 129], [[1, 257], 63], [[129, 7], 3], [[5, 4, 33], 200]];
        let seed = 300;
        for (const [xs, nOut] of dims) {
          const x = randn(xs, (seed += 3));
          const w = randn([nOut, xs[xs.length - 1]], seed + 1);
          const bias = randn([nOut], seed + 2);
          const y = linear(x, w, bias);
          const ref = linearRef(x, w, bias.data);
          expect(y.shape).toEqual(ref.shape);
          const k = xs[xs.length - 1];
          const scale = norm(linearRef(abs(x), abs(w), abs(bias).data).data) / Math.sqrt(k);
          const scale0 = norm(linearRef(abs(x), abs(w)).data) / Math.sqrt(k);
          expect(gemmError(y.data, ref.data, scale)).toBeLessThanOrEqual(TOL);
          expect(gemmError(linear(x, w).data, linearRef(x, w).data, scale0)).toBeLessThanOrEqual(TOL);
          expect(gemmError(linear(x, w, null).data, linearRef(x, w).data, scale0)).toBeLessThanOrEqual(TOL);
        }
      });
    });
  }

  it('equals matmul with transB, in = 0 gives the bias, threads do not change it', () => {
    const x = randn([7, 50], 1);
    const w = randn([30, 50], 2);
    expect(sameBytes(linear(x, w).data, matmul(x, w, { transB: true }).data)).toBe(true);
    const bias = randn([4], 3);
    expect(Array.from(linear(Tensor.zeros([2, 0]), Tensor.zeros([4, 0]), bias).data)).toEqual([...bias.data, ...bias.data]);
    const big = randn([3, 700], 4);
    const wb = randn([900, 700], 5);
    const one = withThreads(1, () => linear(big, wb, null));
    const n = withThreads(many, () => linear(big, wb, null));
    expect(sameBytes(one.data, n.data)).toBe(true);
  });
});

describe('packLinear (a weight packed once)', () => {
  // M: 1-3 (partial row tiles), 4, 9 (first blocked size), 65; in: across KC blocks (600 > 256); out: not a
  // multiple of any micro-tile width, and one product past the NC block (3100 > 3072) with small M and K.
  const shapes: [number, number, number][] = [[1, 37, 29], [2, 600, 50], [3, 64, 7], [4, 129, 200], [9, 600, 65], [65, 31, 129], [13, 40, 3100]];
  for (const level of levels) {
    it(`equals the float64 oracle, and linear() bitwise from 9 rows up (${level})`, () => {
      withIsa(level, () => {
        let seed = 900;
        for (const [m, k, n] of shapes) {
          const x = randn([m, k], (seed += 3));
          const w = randn([n, k], seed + 1);
          const bias = randn([n], seed + 2);
          const pw = packLinear(w);
          expect(pw).toBeInstanceOf(PackedLinearWeight);
          expect(pw.shape).toEqual([n, k]);
          expect(pw.kernel).toBe(binding.peakProbe(1, 1).kernel);
          const y = linear(x, pw, bias);
          expect(y.shape).toEqual([m, n]);
          const scale = norm(linearRef(abs(x), abs(w), abs(bias).data).data) / Math.sqrt(k);
          expect(gemmError(y.data, linearRef(x, w, bias.data).data, scale)).toBeLessThanOrEqual(TOL);
          if (m > 8) expect(sameBytes(y.data, linear(x, w, bias).data)).toBe(true);
          const scale0 = norm(linearRef(abs(x), abs(w)).data) / Math.sqrt(k);
          expect(gemmError(linear(x, pw).data, linearRef(x, w).data, scale0)).toBeLessThanOrEqual(TOL);
        }
      });
    });
  }

  // 1-8 rows take the few-row path (each packed panel over its whole depth): in across KC blocks and not a
  // multiple of any KC (300, 600), tiny (5); out not a multiple of the panel width, and past the NC block
  // (3100: several column blocks, the panel ranges of a thread crossing them).
  for (const level of levels) {
    it(`few rows (1-8) equal the float64 oracle, with and without bias, 1 vs N threads bitwise (${level})`, () => {
      withIsa(level, () => {
        let seed = 1200;
        for (const [k, n] of [[600, 53], [300, 3100], [5, 7]] as [number, number][]) {
          const w = randn([n, k], (seed += 7));
          const bias = randn([n], seed + 1);
          const pw = packLinear(w);
          for (let m = 1; m <= 8; m++) {
            const x = randn([m, k], seed + 10 + m);
            const y = withThreads(1, () => linear(x, pw, bias));
            const scale = norm(linearRef(abs(x), abs(w), abs(bias).data).data) / Math.sqrt(k);
            expect(gemmError(y.data, linearRef(x, w, bias.data).data, scale)).toBeLessThanOrEqual(TOL);
            expect(sameBytes(y.data, withThreads(many, () => linear(x, pw, bias)).data)).toBe(true);
            const y0 = withThreads(1, () => linear(x, pw));
            const scale0 = norm(linearRef(abs(x), abs(w)).data) / Math.sqrt(k);
            expect(gemmError(y0.data, linearRef(x, w).data, scale0)).toBeLessThanOrEqual(TOL);
            expect(sameBytes(y0.data, withThreads(2, () => linear(x, pw)).data)).toBe(true);
          }
          pw.dispose();
        }
      });
    });
  }

  it('is thread-independent, takes leading dims, async equals sync, in = 0 gives the bias', async () => {
    const x = randn([2, 5, 700], 1);
    const pw = packLinear(randn([900, 700], 2));
    const one = withThreads(1, () => linear(x, pw));
    const n = withThreads(many, () => linear(x, pw));
    expect(one.shape).toEqual([2, 5, 900]);
    expect(sameBytes(one.data, n.data)).toBe(true);
    for (const rows of [1, 3]) {
      const xr = randn([rows, 700], 10 + rows);
      expect(sameBytes(withThreads(1, () => linear(xr, pw)).data, withThreads(many, () => linear(xr, pw)).data)).toBe(true);
    }
    const bias = randn([900], 3);
    expect(sameBytes((await linearAsync(x, pw, bias)).data, linear(x, pw, bias).data)).toBe(true);
    const b4 = randn([4], 4);
    expect(Array.from(linear(Tensor.zeros([2, 0]), packLinear(Tensor.zeros([4, 0])), b4).data)).toEqual([...b4.data, ...b4.data]);
    expect(linear(Tensor.zeros([0, 3]), packLinear(randn([5, 3], 5))).shape).toEqual([0, 5]);
  });

  it('refuses a weight packed for another level, a mismatched x, and bad raw arguments', () => {
    const w = randn([30, 20], 1);
    const pw = packLinear(w);
    expect(() => linear(randn([4, 21], 2), pw)).toThrow(/x has 21 features .* packed weight \[out, in\] = \[30, 20\] expects 20/);
    expect(() => linear(randn([4, 20], 2), pw, randn([31], 3))).toThrow(/bias must have shape \[out\] = \[30\]/);
    if (levels.length > 1) {
      const other = levels.find((l) => l !== binding.info().isa.active)!;
      withIsa(other, () => expect(() => linear(randn([4, 20], 2), pw)).toThrow(/packed for the GEMM kernel .* pack it again/));
    }
    const raw = binding;
    expect(() => raw.packLinear(randn([2, 3, 4], 1))).toThrow(/^weight must have 2 dimensions/);
    expect(() => raw.packLinear(Tensor.zeros([2, 2], 'i32') as Any)).toThrow(/^weight must have dtype f32/);
    expect(() => raw.linearPacked(randn([1, 20], 1), pw.data, 5 as Any, 30, 20)).toThrow(/^weight\.kernel must be a string/);
    expect(() => raw.linearPacked(randn([1, 20], 1), pw.data, pw.kernel, -1, 20)).toThrow(/^weight\.outFeatures must be/);
    expect(() => raw.linearPacked(randn([1, 20], 1), pw.data, pw.kernel, 2 ** 45, 20)).toThrow(/^weight\.outFeatures must be/);
    expect(() => raw.linearPacked(randn([1, 20], 1), pw.data, pw.kernel, 30, 2 ** 41)).toThrow(/^weight\.inFeatures must be/);
    expect(() => raw.linearPacked(randn([1, 20], 1), pw.data, pw.kernel, 50, 20)).toThrow(/^weight\.data holds \d+ floats, not the \d+ of a packed \[50, 20\] weight/);
    expect(() => raw.linearPacked(randn([1, 20], 1), null as Any, pw.kernel, 30, 20)).toThrow(/^weight\.data must be a tensor/);
    expect(() => raw.linearPackedAsync(randn([1, 19], 1), pw.data, pw.kernel, 30, 20)).toThrow(RangeError);
    pw.dispose();
    expect(() => linear(randn([1, 20], 1), pw)).toThrow(/disposed|detached/);
  });
});

describe('async forms', () => {
  it('matmulAsync and linearAsync equal the sync forms bitwise', async () => {
    const a = randn([2, 65, 129], 1);
    const b = randn([129, 63], 2);
    const sync = matmul(a, b, { alpha: 2 });
    const [r1, r2] = await Promise.all([matmulAsync(a, b, { alpha: 2 }), matmulAsync(a, b, { alpha: 2 })]);
    expect(sameBytes(r1.data, sync.data)).toBe(true);
    expect(sameBytes(r2.data, sync.data)).toBe(true);
    const out = Tensor.full([2, 65, 63], 1) as Tensor<'f32'>;
    const syncOut = Tensor.full([2, 65, 63], 1) as Tensor<'f32'>;
    matmul(a, b, { out: syncOut, beta: 3 });
    const r3 = await matmulAsync(a, b, { out, beta: 3 });
    expect(r3).toBe(out);
    expect(sameBytes(out.data, syncOut.data)).toBe(true);
    const x = randn([3, 40], 3);
    const w = randn([50, 40], 4);
    const bias = randn([50], 5);
    expect(sameBytes((await linearAsync(x, w, bias)).data, linear(x, w, bias).data)).toBe(true);
  });

  it('a running async product keeps its inputs alive and pinned (dispose waits or refuses)', async () => {
    const a = Tensor.fromNative(binding.alloc('f32', [200, 300]));
    a.data.set(randn([200, 300], 1).data);
    const b = randn([300, 200], 2);
    const p = matmulAsync(a, b);
    let refused = false;
    try {
      a.dispose();
    } catch {
      refused = true;
    }
    const c = await p;
    if (!refused) expect(c.shape).toEqual([200, 200]); // finished before dispose
    else expect(relError(c.data, matmulRef(a, b).data)).toBeLessThanOrEqual(TOL);
  });
});

describe('bad inputs', () => {
  const t = (shape: number[]) => Tensor.zeros(shape) as Tensor<'f32'>;
  const raw = binding;
  const cases: [string, () => unknown, RegExp, typeof TypeError | typeof RangeError][] = [
    ['a not a tensor', () => raw.matmul(5 as Any, t([2, 2])), /^a must be a tensor/, TypeError],
    ['b missing', () => raw.matmul(t([2, 2]), undefined as Any), /^b must be a tensor/, TypeError],
    ['a of the wrong dtype', () => raw.matmul(Tensor.zeros([2, 2], 'i32') as Any, t([2, 2])), /^a must have dtype f32, got i32/, TypeError],
    ['b of the wrong dtype', () => raw.matmul(t([2, 2]), Tensor.zeros([2, 2], 'f16') as Any), /^b must have dtype f32, got f16/, TypeError],
    ['a 1-D', () => raw.matmul(t([3]), t([3, 2])), /^a must have at least 2 dimensions/, RangeError],
    ['b 1-D', () => raw.matmul(t([2, 3]), t([3])), /^b must have at least 2 dimensions/, RangeError],
    ['inner dimensions differ', () => raw.matmul(t([2, 3]), t([4, 2])), /^b does not match a: .*K = 3.*K = 4/, RangeError],
    ['inner dimensions differ (transB)', () => raw.matmul(t([2, 3]), t([3, 2]), { transB: true }), /^b does not match a/, RangeError],
    ['batch dims do not broadcast', () => raw.matmul(t([2, 2, 3]), t([3, 3, 2])), /^a and b have batch dimensions that do not broadcast/, RangeError],
    ['opts not an object', () => raw.matmul(t([2, 2]), t([2, 2]), 'x' as Any), /^opts must be an object/, TypeError],
    ['opts.transA not a boolean', () => raw.matmul(t([2, 2]), t([2, 2]), { transA: 1 } as Any), /^opts\.transA must be a boolean/, TypeError],
    ['opts.transB not a boolean', () => raw.matmul(t([2, 2]), t([2, 2]), { transB: 'yes' } as Any), /^opts\.transB must be a boolean/, TypeError],
    ['opts.alpha not a number', () => raw.matmul(t([2, 2]), t([2, 2]), { alpha: '2' } as Any), /^opts\.alpha must be a number/, TypeError],
    ['opts.alpha NaN', () => raw.matmul(t([2, 2]), t([2, 2]), { alpha: NaN }), /^opts\.alpha must be a finite number/, RangeError],
    ['opts.beta infinite', () => raw.matmul(t([2, 2]), t([2, 2]), { beta: Infinity }), /^opts\.beta must be a finite number/, RangeError],
    ['opts.out not a tensor', () => raw.matmul(t([2, 2]), t([2, 2]), { out: [1, 2] } as Any), /^opts\.out must be a tensor/, TypeError],
    ['opts.out of the wrong dtype', () => raw.matmul(t([2, 2]), t([2, 2]), { out: Tensor.zeros([2, 2], 'i32') } as Any), /^opts\.out must have dtype f32/, TypeError],
    ['opts.out of the wrong shape', () => raw.matmul(t([2, 3]), t([3, 4]), { out: t([2, 3]) }), /^opts\.out has shape \[2, 3\] but the result has shape \[2, 4\]/, RangeError],
    ['x not a tensor', () => raw.linear(null as Any, t([2, 2])), /^x must be a tensor/, TypeError],
    ['weight of the wrong dtype', () => raw.linear(t([2, 2]), Tensor.zeros([2, 2], 'u8') as Any), /^weight must have dtype f32/, TypeError],
    ['weight 3-D', () => raw.linear(t([2, 2]), t([1, 2, 2])), /^weight must have 2 dimensions/, RangeError],
    ['x features differ', () => raw.linear(t([2, 5]), t([3, 4])), /^x has 5 features .* expects 4/, RangeError],
    ['x 0-D', () => raw.linear(t([]), t([3, 4])), /^x must have at least 1 dimension/, RangeError],
    ['bias of the wrong shape', () => raw.linear(t([2, 4]), t([3, 4]), t([4])), /^bias must have shape \[out\] = \[3\], got \[4\]/, RangeError],
    ['bias not a tensor', () => raw.linear(t([2, 4]), t([3, 4]), 7 as Any), /^bias must be a tensor/, TypeError],
    ['peakProbe iters', () => raw.peakProbe(0), /^iters must be in/, RangeError],
  ];
  for (const [what, fn, message, kind] of cases) {
    it(`${what}: ${kind.name} naming the argument`, () => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(kind);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('out sharing memory with an input is refused', () => {
    const buf = new Float32Array(8);
    const a = new Tensor(buf.subarray(0, 4), [2, 2], 'f32');
    const outA = new Tensor(buf.subarray(2, 6), [2, 2], 'f32');
    expect(() => matmul(a, t([2, 2]), { out: outA })).toThrow(/opts\.out must not share memory with a/);
    expect(() => matmul(t([2, 2]), a, { out: outA })).toThrow(/opts\.out must not share memory with b/);
    expect(() => matmul(a, t([2, 2]), { out: new Tensor(buf.subarray(4, 8), [2, 2], 'f32') })).not.toThrow();
  });

  it('async forms validate before queuing (synchronous throw)', () => {
    expect(() => raw.matmulAsync(t([2, 3]), t([4, 2]))).toThrow(RangeError);
    expect(() => raw.linearAsync(t([2, 3]), t([4, 2]))).toThrow(/x has 3 features/);
  });
});

describe('peakProbe', () => {
  it('reports a positive rate and the micro-kernel of the active level', () => {
    const p = binding.peakProbe(100000, 1);
    expect(p.gflops).toBeGreaterThan(0);
    expect(p.threads).toBe(1);
    expect(p.isa).toBe(binding.info().isa.active);
    expect(p.kernel).toMatch(/^(scalar|avx2|avx512|neon) \d+x\d+$/);
  });
});
