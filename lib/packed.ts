/**
 * The packed form of a hot op's tensor arguments (native/napi/common.h `PackedTensors`): each tensor goes to the
 * addon as its data TypedArray, and its dtype and shape as one record of a shared Float64Array,
 * `[dtype code, ndim, dims...]` (RECORD doubles; code -1: absent). JS reads `{data, shape, dtype}` through inline
 * caches in nanoseconds, where the addon pays ~10 N-API calls per tensor object (about 0.7 µs; a one-token Mamba
 * step with 10 tensors spent more time there than in its kernel).
 *
 * packTensor() only packs what is plainly well formed (an object with a known dtype name and a shape array of at most
 * 8 safe non-negative integers); anything else makes the caller use the object form, whose checks and messages are
 * the reference. The addon checks every record and array again (kind, length, detached buffer, size overflow) with
 * the object form's messages.
 */
import type { RawTensor, TypedArray } from './native';

/** Doubles per record. */
export const RECORD = 10;

// DType's values in native/core/dtype.h.
const CODES = new Map<unknown, number>([
  ['f32', 0],
  ['f16', 1],
  ['bf16', 2],
  ['i8', 3],
  ['u8', 4],
  ['i32', 5],
  ['i64', 6],
]);

/**
 * Writes record `slot` of `records` for `t` (undefined or null: absent) and returns true, or returns false when `t`
 * is not a plain, well-formed tensor object.
 */
export function packTensor(records: Float64Array, slot: number, t: RawTensor | null | undefined): boolean {
  const o = slot * RECORD;
  if (t === undefined || t === null) {
    records[o] = -1;
    return true;
  }
  if (typeof t !== 'object' || Array.isArray(t) || ArrayBuffer.isView(t)) return false;
  const code = CODES.get(t.dtype);
  const shape = t.shape;
  if (code === undefined || !Array.isArray(shape) || shape.length > 8) return false;
  records[o] = code;
  records[o + 1] = shape.length;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !(d >= 0 && d <= Number.MAX_SAFE_INTEGER) || Math.floor(d) !== d) return false;
    records[o + 2 + i] = d;
  }
  return true;
}

/** The data of a packed tensor (absent: itself). */
export function dataOf(t: RawTensor | null | undefined): TypedArray | null | undefined {
  return t === undefined || t === null ? t : t.data;
}
