import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import {
  dequantize, dequantizeAsync, qlinear, qlinearAsync, quantize, quantizeAsync, QuantizedTensor, type QuantFormat,
} from '../lib/ops/quant';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa, withThreads } from './helpers';
import {
  activationBits, dequantizeRef, f16Value, linearRef64, quantizeActivationsRef, quantizeActivationsRowRef, quantizeRef,
} from './reference/quant';

const many = Math.max(3, binding.info().threads.hardware + 1);
const FORMATS: { format: QuantFormat; group?: number }[] = [
  { format: 'q8_0' }, { format: 'q4_0' }, { format: 'int8' }, { format: 'int4', group: 32 }, { format: 'int4', group: 64 }, { format: 'int4', group: 128 },
];
const label = (c: { format: QuantFormat; group?: number }) => c.format + (c.group ? `/g${c.group}` : '');

function randn(shape: number[], seed: number, std = 1): Tensor<'f32'> {
  return Tensor.randn(shape, { seed, std }) as Tensor<'f32'>;
}

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

/** ‖out − ref‖ / max(‖ref‖, ‖|x|·|w|ᵀ‖/√k): the floor keeps outputs that cancel by chance from failing. */
function linError(out: ArrayLike<number>, ref: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number): number {
  let num = 0;
  for (let i = 0; i < ref.length; i++) num += (out[i] - ref[i]) ** 2;
  const scale = norm(linearRef64(Float64Array.from(x, Math.abs), Float64Array.from(w, Math.abs), m, n, k)) / Math.sqrt(Math.max(1, k));
  const den = Math.max(norm(ref), scale);
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num) / den;
}

const bytesOf = (...xs: number[]) => Uint8Array.from(xs.map((v) => v & 0xff));

describe('q8_0 / q4_0 block encodings (GGML byte layout), hand-worked', () => {
  it('q8_0: amax 127 gives d = 1 (fp16 0x3C00) and codes roundf(x), halves away from zero', () => {
    const x = new Float32Array(32);
    x.set([127, -127, 0.5, -0.5, 1.5, 2.49, -3, 0, 100.5]);
    const q = quantize(new Tensor(x, [1, 32], 'f32'), 'q8_0');
    // bytes 0-1: fp16(1.0) = 0x3C00 little-endian; then int8 codes: 127, -127 (0x81), 1, -1 (0xFF), 2, 2, -3 (0xFD), 0,
    // 101 (100.5 rounds away from zero), zeros
    const want = new Uint8Array(34);
    want.set(bytesOf(0x00, 0x3c, 127, -127, 1, -1, 2, 2, -3, 0, 101));
    expect(Array.from(q.data)).toEqual(Array.from(want));
    expect(Array.from(dequantize(q).data.slice(0, 9))).toEqual([127, -127, 1, -1, 2, 2, -3, 0, 101]);
  });

  it('q8_0: an all-zero block stores d = +0 and zero codes', () => {
    const q = quantize(Tensor.zeros([1, 32]) as Tensor<'f32'>, 'q8_0');
    expect(Array.from(q.data)).toEqual(new Array(34).fill(0));
  });

  it('q4_0: max = +8 gives d = -1 (fp16 0xBC00); low nibble = element j, high nibble = element j + 16', () => {
    const x = new Float32Array(32);
    x.set([8, -8, 1, -1, 0.5, -0.5, 0]);
    x[16] = 3;
    x[17] = -2.5;
    const q = quantize(new Tensor(x, [1, 32], 'f32'), 'q4_0');
    // d = max / -8 with max = +8 (the first element of largest magnitude: -8 ties and loses) = -1; id = -1.
    // code = min(15, trunc(x·id + 8.5)): 8 -> 0; -8 -> 16.5 -> 15; 1 -> 7; -1 -> 9; 0.5 -> 8; -0.5 -> 9; 0 -> 8;
    // x16 = 3 -> 5; x17 = -2.5 -> 11. byte j = code[j] | code[j + 16] << 4:
    // byte0 = 0 | 5<<4 = 0x50, byte1 = 15 | 11<<4 = 0xBF, byte2 = 7 | 8<<4 = 0x87, byte3 = 0x89, byte4 = 0x88,
    // byte5 = 0x89, bytes 6..15 = 0x88.
    const want = bytesOf(0x00, 0xbc, 0x50, 0xbf, 0x87, 0x89, 0x88, 0x89, ...new Array(10).fill(0x88));
    expect(Array.from(q.data)).toEqual(Array.from(want));
    // dequantized: d·(code − 8) = -(code − 8): -8 clamps to 15 -> -7 (the format's asymmetry); code 8 gives
    // -1·0 = -0, as GGML's dequantize_row_q4_0 does
    expect(Array.from(dequantize(q).data.slice(0, 7))).toEqual([8, -7, 1, -1, -0, -1, -0]);
  });

  it('q4_0: an all-zero block stores d = -0 (fp16 0x8000) and codes 8', () => {
    const q = quantize(Tensor.zeros([1, 32]) as Tensor<'f32'>, 'q4_0');
    expect(Array.from(q.data)).toEqual([0x00, 0x80, ...new Array(16).fill(0x88)]);
  });

  it('reads GGML blocks written elsewhere (dequantize of hand-made bytes)', () => {
    // q4_0 block: d = 0.5 (fp16 0x3800), qs[0] = 0x1F: element 0 = (15 - 8)·0.5 = 3.5, element 16 = (1 - 8)·0.5 = -3.5
    const b4 = bytesOf(0x00, 0x38, 0x1f, ...new Array(15).fill(0x88));
    const d4 = dequantize(new QuantizedTensor('q4_0', [1, 32], b4)).data;
    expect(d4[0]).toBe(3.5);
    expect(d4[16]).toBe(-3.5);
    expect(d4[1]).toBe(0);
    // q8_0 block: d = 0.25 (0x3400), codes -128 and 5
    const b8 = bytesOf(0x00, 0x34, -128, 5, ...new Array(30).fill(0));
    const d8 = dequantize(new QuantizedTensor('q8_0', [1, 32], b8)).data;
    expect([d8[0], d8[1], d8[2]]).toEqual([-32, 1.25, 0]);
    expect(f16Value(0x3400)).toBe(0.25);
    // code -128 (never written by our quantizer, legal in the format) through the integer path
    const rows = new Uint8Array(34 * 2 * 3);
    for (let r = 0; r < 3; r++)
      for (let b = 0; b < 2; b++) {
        const p = (r * 2 + b) * 34;
        rows.set(bytesOf(0x00, 0x34), p);
        for (let j = 0; j < 32; j++) rows[p + 2 + j] = (j * 37 + r * 11 + b * 101) & 0xff; // includes 0x80 = -128
      }
    const q3 = new QuantizedTensor('q8_0', [3, 64], rows);
    const x = randn([2, 64], 5);
    x.data[0] = -4; // the block's largest magnitude: activation code -32767 against weight code -128
    const ref = linearRef64(quantizeActivationsRef(x.data, 2, 64, 16), dequantizeRef(rows, 3, 64, 'q8_0'), 2, 3, 64);
    for (const level of levels) expect(relError(withIsa(level, () => qlinear(x, q3)).data, ref), level).toBeLessThan(1e-6);
  });
});

describe('quantize / dequantize against the float64 oracles', () => {
  for (const c of FORMATS) {
    it(`${label(c)}: bytes equal the oracle, dequantize equals its oracle bitwise, error within the format's bound`, () => {
      const ks = c.format === 'int8' ? [45, 128, 1] : c.format === 'int4' ? [c.group!, 2 * c.group!, 256] : [32, 96, 256];
      for (const [i, k] of ks.entries()) {
        const n = [5, 17, 3][i];
        const w = randn([n, k], 100 + i, 0.7);
        w.data[3] = 0; // an exact zero
        const q = quantize(w, c.format, { group: c.group });
        expect(q.format).toBe(c.format);
        expect(q.shape).toEqual([n, k]);
        const ref = quantizeRef(w.data, n, k, c.format, c.group);
        expect(q.data.byteLength).toBe(ref.byteLength);
        expect(sameBytes(q.data, ref)).toBe(true);
        const d = dequantize(q);
        expect(d.shape).toEqual([n, k]);
        expect(Array.from(d.data)).toEqual(Array.from(dequantizeRef(q.data, n, k, c.format, c.group)));
        // round-to-nearest bound: at most half a step (plus the fp16 rounding of the stored scale, and q4_0's
        // clamp of the -8 end that costs one step), where a step is the block/row/group scale
        const err = relError(d.data, w.data);
        expect(err).toBeLessThan(c.format === 'q8_0' || c.format === 'int8' ? 0.01 : 0.12);
      }
    });
  }

  it('empty shapes: [0, 32] and [4, 0] (int8)', () => {
    expect(quantize(Tensor.zeros([0, 32]) as Tensor<'f32'>, 'q8_0').data.byteLength).toBe(0);
    const q = quantize(Tensor.zeros([4, 0]) as Tensor<'f32'>, 'int8');
    expect(q.data.byteLength).toBe(16);
    expect(dequantize(q).shape).toEqual([4, 0]);
  });

  it('every dispatch level quantizes and dequantizes the same bytes', () => {
    const w = randn([9, 128], 7);
    const base = FORMATS.map((c) => quantize(w, c.format, { group: c.group }).data);
    for (const level of levels)
      withIsa(level, () =>
        FORMATS.forEach((c, i) => {
          const q = quantize(w, c.format, { group: c.group });
          expect(sameBytes(q.data, base[i])).toBe(true);
          expect(Array.from(dequantize(q).data), `${level} ${label(c)}`).toEqual(Array.from(dequantizeRef(q.data, 9, 128, c.format, c.group)));
        }),
      );
    // int8 with a partial last block at every level
    const w8 = randn([3, 45], 8);
    const q8 = quantize(w8, 'int8');
    for (const level of levels) withIsa(level, () => expect(Array.from(dequantize(q8).data)).toEqual(Array.from(dequantizeRef(q8.data, 3, 45, 'int8'))));
  });
});

describe('qlinear', () => {
  // shapes: M <= 8 runs the integer path (per-block activations), larger M the dequantize + fp32 GEMM path, except
  // int8 weights: the integer GEMM (per-row int16 activations) at every M (packed from M = 9)
  const MS = [1, 3, 8, 9, 21, 70];
  const gemmI8 = (format: QuantFormat) => format === 'int8';
  for (const c of FORMATS) {
    it(`${label(c)}: every level, both paths, against the dequantized fp32 product`, () => {
      const k = c.format === 'int8' ? 77 : c.format === 'int4' ? 2 * c.group! : 96;
      const n = 37;
      const w = randn([n, k], 11, 0.5);
      const qw = quantize(w, c.format, { group: c.group });
      const wd = dequantizeRef(qw.data, n, k, c.format, c.group);
      const bias = randn([n], 12);
      for (const m of MS) {
        const x = randn([m, k], 13 + m);
        const ref = linearRef64(x.data, wd, m, n, k, bias.data); // fp32 product of the dequantized weight
        const xq = quantizeActivationsRef(x.data, m, k, activationBits(c.format));
        const refq = linearRef64(xq, wd, m, n, k, bias.data); // the same with the integer path's rounded activations
        const actErr = linError(refq, ref, x.data, wd, m, n, k); // what activation rounding costs
        for (const level of levels) {
          const y = withIsa(level, () => qlinear(x, qw, bias));
          expect(y.shape).toEqual([m, n]);
          if (gemmI8(c.format)) {
            // the integer GEMM: exactly the product with per-row int16 activations, up to float32 rounding
            const xr = quantizeActivationsRowRef(x.data, m, k);
            const refr = linearRef64(xr, wd, m, n, k, bias.data);
            const rowErr = linError(refr, ref, x.data, wd, m, n, k);
            expect(linError(y.data, refr, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(2e-6);
            expect(linError(y.data, ref, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(rowErr * 1.01 + 2e-6);
            expect(rowErr).toBeLessThan(1e-4);
          } else if (m <= 8) {
            // the integer path computes exactly refq up to float32 accumulation
            expect(linError(y.data, refq, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(2e-6);
            // so its distance to the fp32 product is the activation rounding: ~4e-3 for Gaussian data with int8
            // activations (4-bit formats), ~2e-5 with int16 ones (8-bit formats)
            expect(linError(y.data, ref, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(actErr * 1.01 + 2e-6);
            expect(actErr).toBeLessThan(activationBits(c.format) === 16 ? 1e-4 : 0.01);
          } else {
            expect(linError(y.data, ref, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(1e-5);
          }
        }
      }
    });
  }

  it('8-bit formats: relative error < 1e-3 against the dequantized fp32 product on both paths, every level', () => {
    for (const format of ['q8_0', 'int8'] as const) {
      const w = randn([64, 256], 21);
      const qw = quantize(w, format);
      const wd = dequantizeRef(qw.data, 64, 256, format);
      for (const m of [1, 3, 8, 16, 48, 49, 130]) {
        const x = randn([m, 256], 22 + m);
        const ref = linearRef64(x.data, wd, m, 64, 256);
        for (const level of levels) expect(relError(withIsa(level, () => qlinear(x, qw)).data, ref), `${format} m=${m} ${level}`).toBeLessThan(1e-3);
      }
    }
  });

  it('4-bit formats: the integer path is within the int8 activation rounding bound of the dequantized product', () => {
    // bound per output: Σ_k |w_k|·d_x(k)/2 (plus float32 accumulation), d_x the scale of x's block of 32
    for (const c of FORMATS.filter((f) => activationBits(f.format) === 8)) {
      const k = 256;
      const qw = quantize(randn([48, k], 71), c.format, { group: c.group });
      const wd = dequantizeRef(qw.data, 48, k, c.format, c.group);
      const x = randn([3, k], 72);
      const ref = linearRef64(x.data, wd, 3, 48, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(x, qw)).data;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 48; j++) {
            let bound = 0;
            let mag = 0;
            for (let b = 0; b < k; b += 32) {
              let amax = 0;
              for (let t = 0; t < 32; t++) amax = Math.max(amax, Math.abs(x.data[i * k + b + t]));
              for (let t = 0; t < 32; t++) {
                bound += (Math.abs(wd[j * k + b + t]) * amax) / 127 / 2;
                mag += Math.abs(wd[j * k + b + t] * x.data[i * k + b + t]);
              }
            }
            expect(Math.abs(y[i * 48 + j] - ref[i * 48 + j])).toBeLessThanOrEqual(bound * 1.0001 + mag * 1e-6);
          }
      }
    }
  });

  it('int8 integer GEMM: exact chunk sums at the extremes (codes ±127, activations ±32767), k not a multiple of 16', () => {
    // k = 1100: two full chunks of 512 and a tail of 76 (not a multiple of 16); every product is ±127·32767, so a
    // chunk sum reaches 512·127·32767 = 2 130 706 432, just inside int32
    // m = 1 (decode: 4 weight rows at a time, their chunk sums reduced together), 5 (rows outer), 12, 49 and 130
    // (the packed GEMM: 6-row tiles, one partial 16-column panel)
    const k = 1100;
    const n = 5;
    const w = new Float32Array(n * k);
    for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) w[r * k + j] = r === 1 ? -1 : r === 2 && j % 3 === 0 ? -1 : 1;
    const qw = quantize(new Tensor(w, [n, k], 'f32'), 'int8');
    const wd = dequantizeRef(qw.data, n, k, 'int8');
    for (const m of [1, 5, 12, 49, 130]) {
      const x = new Float32Array(m * k);
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) x[i * k + j] = i % 2 ? -2 : 2;
      const ref = linearRef64(quantizeActivationsRowRef(x, m, k), wd, m, n, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(new Tensor(x, [m, k], 'f32'), qw)).data;
        for (let i = 0; i < m * n; i++) expect(Math.abs(y[i] - ref[i]), `${level} m=${m} ${i}`).toBeLessThanOrEqual(Math.abs(ref[i]) * 1e-6);
        expect(y[0]).toBeCloseTo(2 * k, 1);
        expect(y[1]).toBeCloseTo(-2 * k, 1);
      }
    }
  });

  it('int8 packed integer GEMM (M >= 9): tile, panel and chunk edges against the float64 oracle, every level', () => {
    // M around the 6-row tiles and the 120-row blocks; K below, at and past the 512 chunk (odd, not multiples of 16
    // or 32); N odd, below and past the 16-column panels and the 192-column blocks
    const shapes: [number, number, number][] = [
      [9, 32, 17], [17, 77, 37], [31, 511, 15], [48, 513, 203], [49, 1100, 33], [127, 1025, 19], [130, 600, 197], [121, 33, 1],
      [130, 1100, 203], // x's codes past 256 KiB: the weight packed per chunk of k in blocks of 192 columns, rows in blocks of 120
    ];
    for (const [m, k, n] of shapes) {
      const qw = quantize(randn([n, k], 101 + k, 0.3), 'int8');
      const wd = dequantizeRef(qw.data, n, k, 'int8');
      const bias = randn([n], 102);
      const x = randn([m, k], 103 + m);
      const xr = quantizeActivationsRowRef(x.data, m, k);
      const refr = linearRef64(xr, wd, m, n, k, bias.data); // the integer GEMM's exact product, in float64
      const mag = linearRef64(Float64Array.from(xr, Math.abs), Float64Array.from(wd, Math.abs), m, n, k);
      const ref = linearRef64(x.data, wd, m, n, k, bias.data);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(x, qw, bias)).data;
        // exact integer sums: only the float32 steps (chunk sums, their additions, the scales and the bias) round
        for (let i = 0; i < m * n; i++)
          expect(Math.abs(y[i] - refr[i]), `${level} [${m}, ${k}, ${n}] ${i}`).toBeLessThanOrEqual(6e-7 * (mag[i] + Math.abs(bias.data[i % n])));
        expect(relError(y, ref), `${level} [${m}, ${k}, ${n}]`).toBeLessThan(1e-3);
      }
    }
  });

  it('int8 packed integer GEMM: codes -128 and activations ±32767 fill a chunk to the int32 edge exactly', () => {
    // raw codes -128 (legal bytes, not what quantize writes) times activation codes ±32767 over a full chunk:
    // 512·128·32767 = 2 147 418 112, just inside int32; k = 1100 (two chunks and a tail), m = 49 and 130
    const k = 1100;
    const n = 17;
    const bytes = new Uint8Array(n * k + 4 * n);
    for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) bytes[r * k + j] = r % 2 ? 0x80 : j % 5 ? 0x7f : 0x80;
    const scales = new Float32Array(n).fill(1 / 128);
    bytes.set(new Uint8Array(scales.buffer), n * k);
    const qw = new QuantizedTensor('int8', [n, k], bytes);
    const wd = dequantizeRef(qw.data, n, k, 'int8');
    for (const m of [49, 130]) {
      const x = new Float32Array(m * k);
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) x[i * k + j] = i % 3 === 1 ? -3 : 3;
      const ref = linearRef64(quantizeActivationsRowRef(x, m, k), wd, m, n, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(new Tensor(x, [m, k], 'f32'), qw)).data;
        for (let i = 0; i < m * n; i++) expect(Math.abs(y[i] - ref[i]), `${level} m=${m} ${i}`).toBeLessThanOrEqual(Math.abs(ref[i]) * 1e-6);
        expect(y[n + 1]).toBeCloseTo(3 * k, 1); // row 1 (x = -3) times row 1 (all -1)
      }
    }
  });

  it('int8 packed integer GEMM: few output columns (rows split across threads too), bitwise 1 vs many threads', () => {
    for (const [m, n, k] of [[130, 20, 300], [300, 1, 300], [61, 45, 300], [250, 20, 600], [250, 400, 600]]) {
      const qw = quantize(randn([n, k], 111), 'int8');
      const bias = randn([n], 112);
      const x = randn([m, k], 113);
      const one = withThreads(1, () => qlinear(x, qw, bias));
      for (const t of [2, many]) expect(sameBytes(one.data, withThreads(t, () => qlinear(x, qw, bias)).data), `m=${m} n=${n} t=${t}`).toBe(true);
      const ref = linearRef64(quantizeActivationsRowRef(x.data, m, k), dequantizeRef(qw.data, n, k, 'int8'), m, n, k, bias.data);
      expect(relError(one.data, ref)).toBeLessThan(1e-6);
    }
  });

  it('4-bit formats, M <= 8: eight-block steps, pairs and single blocks in one row, and a thread split', () => {
    // q4_0 k = 19 blocks: two steps of eight, a pair and a single block; int4 k = 384 (12 blocks): one step of eight
    // and two pairs, so that g64 and g128 (whose eight-block steps span 4 and 2 groups) are covered too; n = 23 leaves
    // rows past the 4-, 3- and 2-row tiles; m up to 8 covers every activation tile (4, 3, 2, 1 and 4 + 4)
    for (const c of FORMATS.filter((f) => activationBits(f.format) === 8)) {
      const k = c.format === 'q4_0' ? 19 * 32 : 384;
      const n = 23;
      const qw = quantize(randn([n, k], 81, 0.3), c.format, { group: c.group });
      const wd = dequantizeRef(qw.data, n, k, c.format, c.group);
      for (const m of [1, 2, 3, 4, 5, 7, 8]) {
        const x = randn([m, k], 82 + m);
        const refq = linearRef64(quantizeActivationsRef(x.data, m, k, 8), wd, m, n, k);
        for (const level of levels) {
          const y = withIsa(level, () => qlinear(x, qw)).data;
          expect(linError(y, refq, x.data, wd, m, n, k), `${label(c)} ${level} m=${m}`).toBeLessThan(2e-6);
          expect(sameBytes(withThreads(many, () => withIsa(level, () => qlinear(x, qw))).data, y), `${label(c)} ${level} m=${m} threads`).toBe(true);
        }
      }
    }
  });

  it('q8_0, M <= 8: 19 blocks a row, every activation tile, a thread split, each row as alone', () => {
    // k = 19 blocks (not a multiple of 2, 4 or 8: any grouping of blocks a kernel uses leaves a tail); n = 23 leaves
    // rows past the 4-, 3- and 2-row tiles; m up to 8 covers every activation tile
    const k = 19 * 32;
    const n = 23;
    const qw = quantize(randn([n, k], 85, 0.3), 'q8_0');
    const wd = dequantizeRef(qw.data, n, k, 'q8_0');
    for (const m of [1, 2, 3, 4, 5, 7, 8]) {
      const x = randn([m, k], 86 + m);
      const refq = linearRef64(quantizeActivationsRef(x.data, m, k, 16), wd, m, n, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(x, qw)).data;
        expect(linError(y, refq, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(2e-6);
        expect(sameBytes(withThreads(many, () => withIsa(level, () => qlinear(x, qw))).data, y), `${level} m=${m} threads`).toBe(true);
        for (let r = 0; r < n; r += 5) {
          const row = new QuantizedTensor('q8_0', [1, k], qw.data.slice(r * 19 * 34, (r + 1) * 19 * 34));
          const yr = withIsa(level, () => qlinear(x, row)).data;
          for (let i = 0; i < m; i++) expect(y[i * n + r], `${level} m=${m} row ${r} alone`).toBe(yr[i]);
        }
      }
    }
  });

  it('q8_0: exact block sums at the extremes (codes 127 and -128, activation codes ±32767)', () => {
    // k = 9 blocks, d = 1 in every block: row 0 all codes 127, row 1 all -128, row 2 -128 and 127 by block, row 3
    // mixed signs; x ±2 by block (codes ±32767), so a block sum reaches 32·128·32767, beyond float32's exact integers
    const kb = 9;
    const k = kb * 32;
    const n = 4;
    const bytes = new Uint8Array(n * kb * 34);
    for (let r = 0; r < n; r++)
      for (let b = 0; b < kb; b++) {
        const o = (r * kb + b) * 34;
        bytes[o] = 0x00;
        bytes[o + 1] = 0x3c; // fp16 1.0
        for (let j = 0; j < 32; j++) {
          const code = r === 0 ? 127 : r === 1 ? -128 : r === 2 ? (b % 2 ? 127 : -128) : (j + b) % 3 ? -128 : 127;
          bytes[o + 2 + j] = code & 0xff;
        }
      }
    const qw = new QuantizedTensor('q8_0', [n, k], bytes);
    const wd = dequantizeRef(bytes, n, k, 'q8_0');
    for (const m of [1, 2, 5]) {
      const x = new Float32Array(m * k);
      for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) x[i * k + j] = ((j >> 5) + i) % 3 ? 2 : -2;
      const ref = linearRef64(quantizeActivationsRef(x, m, k, 16), wd, m, n, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(new Tensor(x, [m, k], 'f32'), qw)).data;
        for (let i = 0; i < m * n; i++) expect(Math.abs(y[i] - ref[i]), `${level} m=${m} ${i}`).toBeLessThanOrEqual(Math.abs(ref[i]) * 1e-6);
        expect(Math.abs(y[0])).toBeGreaterThan(3 * 32 * 254 * 0.999); // 6 blocks of +127·2·32, 3 of −127·2·32
      }
    }
  });

  it('M <= 8: each output equals the one of its weight row alone (rows taken from R slices of the range, leftovers, threads)', () => {
    // a row's output depends on x and that row only (the arithmetic depends on M, not on which rows share a tile),
    // so weights of n = 4·s + 3 rows (4, 3 and 2 slices and leftover rows for M = 1, 2, 3+; uneven thread chunks)
    // must give, column by column, the bits of the same row quantized and multiplied alone
    for (const c of FORMATS) {
      const k = c.format === 'int8' ? 200 : c.format === 'int4' ? 2 * c.group! : 96;
      const n = 43;
      const w = randn([n, k], 91, 0.4);
      const qw = quantize(w, c.format, { group: c.group });
      const bias = randn([n], 92);
      const rows = Array.from({ length: n }, (_, r) =>
        quantize(new Tensor(w.data.slice(r * k, (r + 1) * k), [1, k], 'f32'), c.format, { group: c.group }),
      );
      for (const m of [1, 2, 3, 5]) {
        const x = randn([m, k], 93 + m);
        for (const level of levels) {
          const y = withIsa(level, () => qlinear(x, qw, bias)).data;
          const yt = withThreads(many, () => withIsa(level, () => qlinear(x, qw, bias))).data;
          expect(sameBytes(yt, y), `${label(c)} ${level} m=${m} threads`).toBe(true);
          for (let r = 0; r < n; r++) {
            const yr = withIsa(level, () => qlinear(x, rows[r], new Tensor(bias.data.slice(r, r + 1), [1], 'f32'))).data;
            for (let i = 0; i < m; i++) expect(y[i * n + r], `${label(c)} ${level} m=${m} row ${r}`).toBe(yr[i]);
          }
        }
      }
    }
  });

  it('4-bit formats: exact integer block sums at the extremes (nibbles 0 and 15, activation codes ±127)', () => {
    // each block's 32 products are ±15·127 (or 0·127): the int16 partial sums of the eight-block step reach 16·15·127 =
    // 30480 in magnitude, just inside int16. Weight rows: q4_0 row 0 one -1 and the rest 0.875 (nibbles 15, d = 1/8),
    // row 1 one +1 and the rest -1 (nibbles 0); int4 all 1 (codes 15, zero 0) and all -1 (codes 0, zero 15)
    for (const c of FORMATS.filter((f) => activationBits(f.format) === 8)) {
      const k = 512;
      const n = 6;
      const w = new Float32Array(n * k);
      for (let r = 0; r < n; r++)
        for (let j = 0; j < k; j++) {
          const s = r % 2 ? -1 : 1;
          w[r * k + j] = c.format === 'q4_0' ? (j % 32 === 5 ? -s : s * 0.875 ** (r % 2 ? 0 : 1)) : s;
        }
      const qw = quantize(new Tensor(w, [n, k], 'f32'), c.format, { group: c.group });
      const wd = dequantizeRef(qw.data, n, k, c.format, c.group);
      for (const m of [1, 3, 4]) {
        const x = new Float32Array(m * k);
        for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) x[i * k + j] = (j >> 6) % 2 === i % 2 ? 1 : -1;
        const refq = linearRef64(quantizeActivationsRef(x, m, k, 8), wd, m, n, k);
        for (const level of levels) {
          const y = withIsa(level, () => qlinear(new Tensor(x, [m, k], 'f32'), qw)).data;
          for (let i = 0; i < m * n; i++) expect(Math.abs(y[i] - refq[i]), `${label(c)} ${level} m=${m} ${i}`).toBeLessThanOrEqual(Math.abs(refq[i]) * 1e-6 + 1e-3);
        }
      }
    }
  });

  for (const m of [12, 60]) {
    it(`int8 with M = ${m} > 8: a row with an outlier channel (peak > 32 rms) sends the call to the fp32 path`, () => {
      const k = 4096; // one outlier of 1e4 among Gaussian values: peak ≈ 64 rms
      const n = 20;
      const qw = quantize(randn([n, k], 91), 'int8');
      const wd = dequantizeRef(qw.data, n, k, 'int8');
      const x = randn([m, k], 92);
      x.data[3 * k + 7] = 1e4;
      const ref = linearRef64(x.data, wd, m, n, k);
      // one int16 scale for that row would cost far more than the fp32 path's rounding
      const rowErr = linError(linearRef64(quantizeActivationsRowRef(x.data, m, k), wd, m, n, k), ref, x.data, wd, m, n, k);
      expect(rowErr).toBeGreaterThan(1e-4);
      for (const level of levels) expect(linError(withIsa(level, () => qlinear(x, qw)).data, ref, x.data, wd, m, n, k), level).toBeLessThan(1e-5);
    });
  }

  it('int8 with M <= 8: a row with an outlier channel sends the call to the per-block integer path', () => {
    const k = 4096 + 77; // a partial last block too
    const n = 21;
    for (const m of [1, 5]) {
      const qw = quantize(randn([n, k], 93), 'int8');
      const wd = dequantizeRef(qw.data, n, k, 'int8');
      const x = randn([m, k], 94 + m);
      x.data[(m - 1) * k + 11] = -1e4;
      const ref = linearRef64(x.data, wd, m, n, k);
      const rowErr = linError(linearRef64(quantizeActivationsRowRef(x.data, m, k), wd, m, n, k), ref, x.data, wd, m, n, k);
      expect(rowErr).toBeGreaterThan(1e-4);
      // per block of 32, int16: exactly those activations up to float32 accumulation
      const refq = linearRef64(quantizeActivationsRef(x.data, m, k, 16), wd, m, n, k);
      for (const level of levels) {
        const y = withIsa(level, () => qlinear(x, qw)).data;
        expect(linError(y, refq, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(2e-6);
        expect(linError(y, ref, x.data, wd, m, n, k), `${level} m=${m}`).toBeLessThan(1e-4);
      }
    }
  });

  it('a NaN in x makes its row of outputs NaN on every path, the other rows stay finite', () => {
    const k = 128;
    for (const c of FORMATS)
      for (const m of [1, 5, 12, 60]) {
        const qw = quantize(randn([6, k], 81), c.format, { group: c.group });
        const x = randn([m, k], 82);
        x.data[(m - 1) * k + 5] = Number.NaN;
        for (const level of levels) {
          const y = withIsa(level, () => qlinear(x, qw)).data;
          for (let i = 0; i < m; i++)
            for (let j = 0; j < 6; j++) expect(Number.isNaN(y[i * 6 + j]), `${label(c)} m=${m} ${level} (${i}, ${j})`).toBe(i === m - 1);
        }
      }
  });

  it('batch dims, no bias, and a weight with one row', () => {
    const w = randn([1, 64], 31);
    const qw = quantize(w, 'q8_0');
    const x = randn([2, 3, 64], 32);
    const y = qlinear(x, qw);
    expect(y.shape).toEqual([2, 3, 1]);
    const ref = linearRef64(quantizeActivationsRef(x.data, 6, 64, 16), dequantizeRef(qw.data, 1, 64, 'q8_0'), 6, 1, 64);
    expect(relError(y.data, ref)).toBeLessThan(1e-5);
  });

  it('1 thread and many threads give bitwise-equal results (both paths, every format)', () => {
    const k = 256;
    const n = 300;
    for (const c of FORMATS) {
      const qw = quantize(randn([n, k], 41), c.format, { group: c.group });
      for (const m of [1, 5, 8, 13, 40, 70, 131]) {
        const x = randn([m, k], 42 + m);
        const one = withThreads(1, () => qlinear(x, qw));
        const lots = withThreads(many, () => qlinear(x, qw));
        expect(sameBytes(one.data, lots.data), `${label(c)} m=${m}`).toBe(true);
      }
    }
  });

  it('async forms equal the sync ones', async () => {
    const w = randn([40, 128], 51);
    for (const c of FORMATS) {
      const qw = quantize(w, c.format, { group: c.group });
      const qa = await quantizeAsync(w, c.format, { group: c.group });
      expect(sameBytes(qa.data, qw.data)).toBe(true);
      expect(sameBytes((await dequantizeAsync(qw)).data, dequantize(qw).data)).toBe(true);
      for (const m of [2, 12, 50]) {
        const x = randn([m, 128], 52);
        expect(sameBytes((await qlinearAsync(x, qw)).data, qlinear(x, qw).data)).toBe(true);
        const bias = randn([40], 53);
        expect(sameBytes((await qlinearAsync(x, qw, bias)).data, qlinear(x, qw, bias).data)).toBe(true);
      }
    }
  });
});

describe('errors', () => {
  const w = randn([4, 64], 61);
  const qw = quantize(w, 'q4_0');

  it('in not a multiple of the block or group: RangeError', () => {
    expect(() => quantize(randn([2, 48], 1), 'q8_0')).toThrow(RangeError);
    expect(() => quantize(randn([2, 48], 1), 'q8_0')).toThrow(/in = 48 is not a multiple of the q8_0 block of 32/);
    expect(() => quantize(randn([2, 40], 1), 'q4_0')).toThrow(/q4_0 block of 32/);
    expect(() => quantize(randn([2, 96], 1), 'int4', { group: 64 })).toThrow(/not a multiple of the int4 group 64/);
    expect(() => new QuantizedTensor('q8_0', [2, 48], new Uint8Array(0))).toThrow(RangeError);
  });

  it('bad format names and groups', () => {
    expect(() => quantize(w, 'q5_0' as QuantFormat)).toThrow(RangeError);
    expect(() => quantize(w, 'q5_0' as QuantFormat)).toThrow(/format/);
    expect(() => quantize(w, 5 as unknown as QuantFormat)).toThrow(TypeError);
    expect(() => quantize(w, 'int4', { group: 16 })).toThrow(/group must be 32, 64 or 128/);
    expect(() => new QuantizedTensor('q3' as QuantFormat, [1, 32], new Uint8Array(18))).toThrow(/format/);
  });

  it('bad weight tensors: dtype and shape, naming w', () => {
    expect(() => binding.quantize(Tensor.zeros([2, 32], 'i32') as never, 'q8_0')).toThrow(TypeError);
    expect(() => binding.quantize(Tensor.zeros([2, 32], 'i32') as never, 'q8_0')).toThrow(/\bw\b/);
    expect(() => quantize(randn([64], 1), 'q8_0')).toThrow(RangeError);
    expect(() => quantize(randn([64], 1), 'q8_0')).toThrow(/w must have 2 dimensions/);
    expect(() => quantize(randn([2, 2, 32], 1), 'q8_0')).toThrow(RangeError);
  });

  it('corrupted quantized tensors: byte length, data type, shape, format (raw binding and class)', () => {
    const raw = { format: qw.format, shape: [4, 64], group: 32, data: qw.data };
    expect(() => binding.qlinear(randn([1, 64], 1), { ...raw, data: qw.data.subarray(1) })).toThrow(RangeError);
    expect(() => binding.qlinear(randn([1, 64], 1), { ...raw, data: qw.data.subarray(1) })).toThrow(/qweight\.data has 143 bytes/);
    expect(() => binding.dequantize({ ...raw, data: new Int8Array(144) as never })).toThrow(TypeError);
    expect(() => binding.dequantize({ ...raw, data: new Int8Array(144) as never })).toThrow(/qw\.data must be a Uint8Array/);
    expect(() => binding.dequantize({ ...raw, shape: [4, 64, 1] })).toThrow(/qw\.shape must be \[out, in\]/);
    expect(() => binding.dequantize({ ...raw, shape: [4, 48] })).toThrow(RangeError);
    expect(() => binding.dequantize({ ...raw, format: 'q2' as never })).toThrow(/qw\.format/);
    expect(() => binding.dequantize({ ...raw, shape: [4, -64] })).toThrow(/qw\.shape/);
    expect(() => binding.dequantize(null as never)).toThrow(TypeError);
    expect(() => binding.qlinear(randn([1, 64], 1), { ...raw, format: 'int4', group: 48 })).toThrow(/qweight\.group/);
    expect(() => new QuantizedTensor('q4_0', [4, 64], qw.data.subarray(2))).toThrow(/data has 142 bytes/);
    expect(() => new QuantizedTensor('q4_0', [4, 64], [1, 2] as never)).toThrow(TypeError);
  });

  it('qlinear: x and bias shapes and dtypes', () => {
    expect(() => qlinear(randn([2, 63], 1), qw)).toThrow(RangeError);
    expect(() => qlinear(randn([2, 63], 1), qw)).toThrow(/x has 63 features/);
    expect(() => qlinear(randn([2, 64], 1), qw, randn([5], 2))).toThrow(/bias must have shape \[out\] = \[4\]/);
    expect(() => binding.qlinear(Tensor.zeros([2, 64], 'f16') as never, qw)).toThrow(TypeError);
    expect(() => binding.qlinear(Tensor.zeros([2, 64], 'f16') as never, qw)).toThrow(/\bx\b/);
  });
});
