/**
 * Float64 oracles for the 16-bit float formats, written from the definitions (value-level arithmetic,
 * not bit tricks), to check the native conversions against.
 */

/** The value of an IEEE binary16 bit pattern (NaN for any NaN pattern). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The value of a bfloat16 bit pattern. */
export function bf16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 7) & 0xff;
  const mant = h & 0x7f;
  if (exp === 0xff) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** -133;
  return sign * (1 + mant / 128) * 2 ** (exp - 127);
}

/** Rounds x / unit to an integer, ties to even. x / unit is exact here (powers of two). */
function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const r = q - f;
  if (r > 0.5) return f + 1;
  if (r < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Rounds a finite or infinite value to a float format with `mantBits` stored mantissa bits and the given
 * exponent range, ties to even, overflow to infinity. Returns the rounded value.
 */
function roundToFormat(x: number, mantBits: number, minExp: number, maxExp: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1; // guard log2 rounding
  if (2 ** (e + 1) <= a) e += 1;
  const unit = 2 ** (Math.max(e, minExp) - mantBits); // spacing of representable values near a
  const r = roundHalfEven(a / unit) * unit;
  const max = (2 - 2 ** -mantBits) * 2 ** maxExp;
  if (r > max) return s * Infinity;
  return s * r;
}

/** The f16 value nearest to x (ties to even). */
export function roundToF16(x: number): number {
  return roundToFormat(x, 10, -14, 15);
}

/** The bf16 value nearest to x (ties to even). */
export function roundToBF16(x: number): number {
  return roundToFormat(x, 7, -126, 127);
}
