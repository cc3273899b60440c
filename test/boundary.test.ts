// Bad input at the native boundary: every raw binding function, called directly with wrong arguments,
// throws a JS error that names the argument, and the process survives.
import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';

const good = () => ({ data: new Float32Array(6), shape: [2, 3], dtype: 'f32' as const });
type Any = never;

describe('tensor arguments', () => {
  const cases: [string, unknown, RegExp, 'TypeError' | 'RangeError'][] = [
    ['not an object', 5, /a must be a tensor/, 'TypeError'],
    ['null', null, /a must be a tensor/, 'TypeError'],
    ['an array', [1, 2], /a must be a tensor/, 'TypeError'],
    ['a bare TypedArray', new Float32Array(2), /a must be a tensor/, 'TypeError'],
    ['missing dtype', { data: new Float32Array(1), shape: [1] }, /a\.dtype must be/, 'TypeError'],
    ['unknown dtype', { ...good(), dtype: 'f64' }, /a\.dtype must be one of/, 'TypeError'],
    ['wrong dtype', { ...good(), data: new Int32Array(6), dtype: 'i32' }, /a must have dtype f32, got i32/, 'TypeError'],
    ['data of the wrong kind', { ...good(), data: new Float64Array(6) }, /a\.data must be a Float32Array for dtype f32, got Float64Array/, 'TypeError'],
    ['data a plain array', { ...good(), data: [1, 2, 3, 4, 5, 6] }, /a\.data must be a Float32Array/, 'TypeError'],
    ['shape not an array', { ...good(), shape: 6 }, /a\.shape must be an array/, 'TypeError'],
    ['negative dim', { ...good(), shape: [-2, -3] }, /a\.shape\[0\] must be a non-negative integer, got -2/, 'RangeError'],
    ['fractional dim', { ...good(), shape: [2, 2.5] }, /a\.shape\[1\] must be a non-negative integer, got 2\.5/, 'TypeError'],
    ['NaN dim', { ...good(), shape: [NaN] }, /a\.shape\[0\]/, 'TypeError'],
    ['string dim', { ...good(), shape: ['2', 3] }, /a\.shape\[0\] must be a non-negative integer, got a string/, 'TypeError'],
    ['huge dim', { ...good(), shape: [2 ** 60] }, /a\.shape\[0\]/, 'RangeError'],
    ['length mismatch', { ...good(), shape: [2, 2] }, /a\.data has 6 elements but shape \[2, 2\] needs 4/, 'RangeError'],
    ['byte size overflow', { ...good(), shape: [2 ** 31, 2 ** 31] }, /a\.shape: the size of the shape overflows/, 'RangeError'],
    ['too many dims', { ...good(), shape: [1, 1, 1, 1, 1, 1, 1, 1, 6] }, /a\.shape has 9 dimensions/, 'RangeError'],
  ];
  for (const [what, value, message, kind] of cases) {
    it(`${what}: ${kind} naming the argument`, () => {
      let err: unknown;
      try {
        binding.add(value as Any, good());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(kind === 'TypeError' ? TypeError : RangeError);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('names the second argument too, and shape mismatches', () => {
    expect(() => binding.add(good(), { ...good(), shape: [3, 2] })).toThrow(/a and b must have the same shape, got \[2, 3\] and \[3, 2\]/);
    expect(() => binding.add(good(), undefined as Any)).toThrow(/b must be a tensor/);
  });

  it('a throwing getter on the tensor object propagates as a JS error', () => {
    const evil = { get data(): Float32Array { throw new Error('boom'); }, shape: [1], dtype: 'f32' };
    expect(() => binding.add(evil as Any, good())).toThrow(/boom/);
  });

  it('async forms validate before queuing (synchronous throw, no promise)', () => {
    expect(() => binding.addAsync(good(), { ...good(), dtype: 'i8' } as Any)).toThrow(/b\.data must be a Int8Array|b must have dtype/);
    expect(() => binding.convertAsync(good(), 'bogus' as Any)).toThrow(/dtype must be one of/);
  });

  it('empty tensors are valid', () => {
    const e = { data: new Float32Array(0), shape: [0, 4], dtype: 'f32' as const };
    expect(binding.add(e, e).shape).toEqual([0, 4]);
  });
});

describe('other arguments', () => {
  it('setNumThreads', () => {
    expect(() => binding.setNumThreads(0)).toThrow(RangeError);
    expect(() => binding.setNumThreads(1.5)).toThrow(/threads must be an integer/);
    expect(() => binding.setNumThreads('2' as Any)).toThrow(TypeError);
    expect(() => binding.setNumThreads(1e6)).toThrow(/threads must be in \[1, 1024\]/);
  });
  it('setIsa', () => {
    expect(() => binding.setIsa('sse9' as Any)).toThrow(/isa must be one of/);
    expect(() => binding.setIsa(3 as Any)).toThrow(/isa must be a string/);
  });
  it('alloc', () => {
    expect(() => binding.alloc('f99' as Any, [1])).toThrow(/dtype must be one of/);
    expect(() => binding.alloc('f32', [-1])).toThrow(/shape\[0\]/);
    expect(() => binding.alloc('f32', [2 ** 52, 2 ** 52])).toThrow(/overflows/);
    expect(() => binding.alloc('f32', [2 ** 50])).toThrow(/cannot allocate/);
  });
  it('mapFile', () => {
    expect(() => binding.mapFile(42 as Any)).toThrow(/path must be a string/);
    expect(() => binding.mapFile('')).toThrow(/path must not be empty/);
    expect(() => binding.mapFile('/no/such/file')).toThrow(/cannot open '\/no\/such\/file'/);
    expect(() => binding.mapFile('/tmp')).toThrow(/not a regular file/);
    expect(() => binding.mapFile('a\0b')).toThrow(/NUL/);
  });
  it('detach', () => {
    expect(() => binding.detach(new Float32Array(1) as Any)).toThrow(/buffer must be an ArrayBuffer/);
  });
});
