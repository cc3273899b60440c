/**
 * Float64 oracles of the quantized formats (lib/ops/quant.ts), written from the format definitions. Where the
 * native code rounds in float32 (scales, x·(1/d), + 8.5), Math.fround reproduces it, so quantized bytes can be
 * compared exactly. GGML's q8_0 / q4_0 follow its reference quantize_row_q8_0_ref / quantize_row_q4_0_ref.
 */
import { roundToF16 } from './half';

export type Format = 'q8_0' | 'q4_0' | 'int8' | 'int4';
const f = Math.fround;

/** C's roundf: to the nearest integer, halves away from zero. */
export function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** IEEE binary16 bits of a value already representable in f16 (roundToF16 first). */
export function f16Bits(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7e00;
  if (a === Infinity) return sign | 0x7c00;
  if (a === 0) return sign;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  const mant = Math.round((a / 2 ** e - 1) * 1024);
  return sign | ((e + 15) << 10) | mant;
}

export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Bytes of a [n, k] weight. */
export function nbytesRef(format: Format, n: number, k: number, group = 32): number {
  if (format === 'q8_0') return n * (k / 32) * 34;
  if (format === 'q4_0') return n * (k / 32) * 18;
  if (format === 'int8') return n * k + 4 * n;
  return (n * k) / 2 + n * (k / group) * 5;
}

/** Symmetric 8-bit codes (GGML q8_0 rule): scale amax/127 in float32, codes roundf(x·(1/d)). */
function sym8(x: ArrayLike<number>, off: number, len: number): { d: number; q: number[] } {
  let amax = 0;
  for (let j = 0; j < len; j++) amax = Math.max(amax, Math.abs(x[off + j]));
  const d = f(amax / 127);
  const id = d !== 0 ? f(1 / d) : 0;
  const q: number[] = [];
  for (let j = 0; j < len; j++) q.push(Math.max(-127, Math.min(127, roundf(f(x[off + j] * id)))));
  return { d, q };
}

/** Quantizes a row-major [n, k] float32 weight; returns the bytes of the format. */
export function quantizeRef(w: ArrayLike<number>, n: number, k: number, format: Format, group = 32): Uint8Array {
  const out = new Uint8Array(nbytesRef(format, n, k, group));
  const dv = new DataView(out.buffer);
  if (format === 'q8_0') {
    let p = 0;
    for (let r = 0; r < n; r++)
      for (let b = 0; b < k / 32; b++, p += 34) {
        const { d, q } = sym8(w, r * k + b * 32, 32);
        dv.setUint16(p, f16Bits(roundToF16(d)), true);
        for (let j = 0; j < 32; j++) dv.setInt8(p + 2 + j, q[j]);
      }
  } else if (format === 'q4_0') {
    let p = 0;
    for (let r = 0; r < n; r++)
      for (let b = 0; b < k / 32; b++, p += 18) {
        const o = r * k + b * 32;
        let amax = 0;
        let max = 0;
        for (let j = 0; j < 32; j++)
          if (amax < Math.abs(w[o + j])) {
            amax = Math.abs(w[o + j]);
            max = w[o + j];
          }
        const d = f(max / -8);
        const id = d !== 0 ? f(1 / d) : 0;
        dv.setUint16(p, f16Bits(roundToF16(d === 0 ? -0 : d)), true); // 0 / -8 is -0 (a zero max is +0)
        const code = (x: number) => Math.min(15, Math.trunc(f(f(x * id) + 8.5)));
        for (let j = 0; j < 16; j++) out[p + 2 + j] = code(w[o + j]) | (code(w[o + j + 16]) << 4);
      }
  } else if (format === 'int8') {
    for (let r = 0; r < n; r++) {
      const { d, q } = sym8(w, r * k, k);
      for (let j = 0; j < k; j++) dv.setInt8(r * k + j, q[j]);
      dv.setFloat32(n * k + 4 * r, d, true);
    }
  } else {
    const G = k / group;
    for (let r = 0; r < n; r++)
      for (let g = 0; g < G; g++) {
        const o = r * k + g * group;
        let lo = 0;
        let hi = 0;
        for (let j = 0; j < group; j++) {
          lo = Math.min(lo, w[o + j]);
          hi = Math.max(hi, w[o + j]);
        }
        const s = f(f(hi - lo) / 15);
        const id = s !== 0 ? f(1 / s) : 0;
        const z = s !== 0 ? Math.max(0, Math.min(15, roundf(f(-lo * id)))) : 0;
        dv.setFloat32((n * k) / 2 + (r * G + g) * 4, s, true);
        out[(n * k) / 2 + n * G * 4 + r * G + g] = z;
        for (let j = 0; j < group; j += 2) {
          const c = (x: number) => (s !== 0 ? Math.max(0, Math.min(15, roundf(f(x * id)) + z)) : 0);
          out[r * (k / 2) + (g * group + j) / 2] = c(w[o + j]) | (c(w[o + j + 1]) << 4);
        }
      }
  }
  return out;
}

/** The float32 values a quantized weight stands for (each one scale × integer product, rounded to float32). */
export function dequantizeRef(bytes: Uint8Array, n: number, k: number, format: Format, group = 32): Float64Array {
  const y = new Float64Array(n * k);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === 'q8_0' || format === 'q4_0') {
    const bs = format === 'q8_0' ? 34 : 18;
    for (let r = 0; r < n; r++)
      for (let b = 0; b < k / 32; b++) {
        const p = (r * (k / 32) + b) * bs;
        const d = f16Value(dv.getUint16(p, true));
        for (let j = 0; j < 32; j++) {
          const v = format === 'q8_0' ? dv.getInt8(p + 2 + j) : j < 16 ? (bytes[p + 2 + j] & 15) - 8 : (bytes[p + 2 + j - 16] >> 4) - 8;
          y[r * k + b * 32 + j] = f(d * v);
        }
      }
  } else if (format === 'int8') {
    for (let r = 0; r < n; r++) {
      const s = dv.getFloat32(n * k + 4 * r, true);
      for (let j = 0; j < k; j++) y[r * k + j] = f(s * dv.getInt8(r * k + j));
    }
  } else {
    const G = k / group;
    for (let r = 0; r < n; r++)
      for (let j = 0; j < k; j++) {
        const g = Math.floor(j / group);
        const s = dv.getFloat32((n * k) / 2 + (r * G + g) * 4, true);
        const z = bytes[(n * k) / 2 + n * G * 4 + r * G + g];
        const byte = bytes[r * (k / 2) + (j >> 1)];
        const c = j & 1 ? byte >> 4 : byte & 15;
        y[r * k + j] = f(s * (c - z));
      }
  }
  return y;
}

/** Symmetric 16-bit codes: scale amax/32767 in float32, codes roundf(x·(1/d)). */
function sym16(x: ArrayLike<number>, off: number, len: number): { d: number; q: number[] } {
  let amax = 0;
  for (let j = 0; j < len; j++) amax = Math.max(amax, Math.abs(x[off + j]));
  const d = f(amax / 32767);
  const id = d !== 0 ? f(1 / d) : 0;
  const q: number[] = [];
  for (let j = 0; j < len; j++) q.push(Math.max(-32767, Math.min(32767, roundf(f(x[off + j] * id)))));
  return { d, q };
}

/**
 * The activations as the small-M path sees them: each row cut in blocks of 32 (the last zero-padded), each block
 * quantized symmetrically to `bits` = 8 (like q8_0: d = amax/127, codes roundf(x·(1/d)); used with the 4-bit
 * formats) or 16 (d = amax/32767; used with the 8-bit formats), returned dequantized (d·code, exact in float64).
 */
export function quantizeActivationsRef(x: ArrayLike<number>, m: number, k: number, bits: 8 | 16 = 8): Float64Array {
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++)
    for (let b = 0; b < k; b += 32) {
      const len = Math.min(32, k - b);
      const { d, q } = (bits === 8 ? sym8 : sym16)(x, i * k + b, len);
      for (let j = 0; j < len; j++) out[i * k + b + j] = d * q[j];
    }
  return out;
}

/**
 * The activations as the int8 weight's integer GEMM (every M) sees them: each row quantized to int16 with one
 * scale amax(row)/32767, returned dequantized.
 */
export function quantizeActivationsRowRef(x: ArrayLike<number>, m: number, k: number): Float64Array {
  const out = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    const { d, q } = sym16(x, i * k, k);
    for (let j = 0; j < k; j++) out[i * k + j] = d * q[j];
  }
  return out;
}

/** The activation width the small-M path uses with a format. */
export const activationBits = (format: Format): 8 | 16 => (format === 'q8_0' || format === 'int8' ? 16 : 8);

/** y[m, n] = x[m, k]·wᵀ + bias in float64. */
export function linearRef64(x: ArrayLike<number>, w: ArrayLike<number>, m: number, n: number, k: number, bias?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = bias ? bias[j] : 0;
      for (let t = 0; t < k; t++) s += x[i * k + t] * w[j * k + t];
      y[i * n + j] = s;
    }
  return y;
}
