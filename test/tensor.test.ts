import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { Rng } from '../lib/random';
import { Tensor, checkShape } from '../lib/tensor';
import { levels, sameBytes, withIsa } from './helpers';
import { bf16BitsToNumber, f16BitsToNumber, roundToBF16, roundToF16 } from './reference/half';

describe('Tensor.from', () => {
  it('wraps a matching TypedArray without copying and infers the dtype', () => {
    const data = new Float32Array(6);
    const t = Tensor.from(data, [2, 3]);
    expect(t.dtype).toBe('f32');
    expect(t.data).toBe(data);
    expect(t.shape).toEqual([2, 3]);
    expect(t.size).toBe(6);
    expect(t.strides).toEqual([3, 1]);
    expect(t.nbytes).toBe(24);
    expect(Tensor.from(new Int32Array(2), [2]).dtype).toBe('i32');
    expect(Tensor.from(new Int8Array(2), [2]).dtype).toBe('i8');
    expect(Tensor.from(new Uint8Array(2), [2]).dtype).toBe('u8');
    expect(Tensor.from(new BigInt64Array(2), [2]).dtype).toBe('i64');
    expect(Tensor.from(new Uint16Array(2), [2], 'bf16').dtype).toBe('bf16');
  });

  it('converts plain arrays and Float64Array', () => {
    expect(Array.from(Tensor.from([1.5, -2], [2]).data)).toEqual([1.5, -2]);
    expect(Array.from(Tensor.from(new Float64Array([0.1]), [1]).data)).toEqual([Math.fround(0.1)]);
    expect(Array.from(Tensor.from([1, 2, 3], [3], 'i64').data)).toEqual([1n, 2n, 3n]);
    expect(Array.from(Tensor.from([1, 0.5], [2], 'f16').data)).toEqual([0x3c00, 0x3800]);
    expect(Tensor.from([7], [], 'i32').toArray()).toBe(7);
    expect(() => Tensor.from([1.5], [1], 'i64')).toThrow(/data\[0\] must be an integer/);
  });

  it('rejects bad data, dtype and shapes with errors naming them', () => {
    expect(() => Tensor.from(new Uint16Array(2), [2])).toThrow(/pass dtype/);
    expect(() => Tensor.from(new Int32Array(2), [2], 'f32')).toThrow(/Float32Array for dtype f32/);
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(RangeError);
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(/5 elements but shape \[2, 3\] needs 6/);
    expect(() => Tensor.from(new Float32Array(1), [-1])).toThrow(/shape\[0\] must be a non-negative integer/);
    expect(() => Tensor.from(new Float32Array(1), [1.5])).toThrow(TypeError);
    expect(() => Tensor.from(new Float32Array(1), ['1' as unknown as number])).toThrow(/shape\[0\]/);
    expect(() => Tensor.from(new Float32Array(1), 3 as unknown as number[])).toThrow(/shape must be an array/);
    expect(() => Tensor.from(new Float32Array(1), [1], 'f64' as 'f32')).toThrow(/dtype must be one of/);
    expect(() => Tensor.from(null as unknown as number[], [1])).toThrow(/data must be/);
    expect(() => Tensor.zeros([1, 1, 1, 1, 1, 1, 1, 1, 1])).toThrow(/at most 8/);
    expect(() => checkShape([2 ** 40, 2 ** 40])).toThrow(/overflows/);
  });
});

describe('helpers', () => {
  it('zeros, full and alloc', () => {
    expect(Array.from(Tensor.zeros([3], 'i32').data)).toEqual([0, 0, 0]);
    expect(Array.from(Tensor.full([2], 2.5).data)).toEqual([2.5, 2.5]);
    expect(Array.from(Tensor.full([2], 1.5, 'bf16').toFloat32Array())).toEqual([1.5, 1.5]);
    const a = Tensor.alloc([4, 5], 'f32');
    expect(a.nativeOwned).toBe(true);
    expect(a.data.byteOffset % 64).toBe(0);
    expect(Array.from(a.data).every((v) => v === 0)).toBe(true);
  });

  it('randn and rand are reproducible from the seed and have the right moments', () => {
    const a = Tensor.randn([10000], { seed: 7 });
    const b = Tensor.randn([10000], { seed: 7 });
    const c = Tensor.randn([10000], { seed: 8 });
    expect(sameBytes(a.data, b.data)).toBe(true);
    expect(sameBytes(a.data, c.data)).toBe(false);
    const mean = a.data.reduce((s, v) => s + v, 0) / a.size;
    const variance = a.data.reduce((s, v) => s + (v - mean) ** 2, 0) / a.size;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const u = Tensor.rand([10000], { seed: 3, low: -2, high: 2 });
    expect(Math.min(...u.data)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u.data)).toBeLessThan(2);
    expect(Tensor.randn([4], { seed: 1, dtype: 'f16' }).dtype).toBe('f16');
    const scaled = Tensor.randn([5000], { seed: 2, mean: 3, std: 0.5 });
    expect(Math.abs(scaled.data.reduce((s, v) => s + v, 0) / 5000 - 3)).toBeLessThan(0.05);
  });

  it('Rng gives a fixed sequence for a seed (the same on every platform)', () => {
    const r = new Rng(42);
    const first = [r.nextUint32(), r.nextUint32(), r.nextUint32()];
    const again = new Rng(42);
    expect([again.nextUint32(), again.nextUint32(), again.nextUint32()]).toEqual(first);
    expect(new Rng(2 ** 40).nextUint32()).not.toBe(new Rng(0).nextUint32());
    expect(() => new Rng(0.5)).toThrow(/seed/);
  });
});

describe('views', () => {
  it('reshape, view, slice and select share memory', () => {
    const t = Tensor.from(new Float32Array([0, 1, 2, 3, 4, 5]), [2, 3]);
    const r = t.reshape([3, -1]);
    expect(r.shape).toEqual([3, 2]);
    expect(r.data).toBe(t.data);
    expect(t.view([6]).shape).toEqual([6]);
    const s = t.slice(1);
    expect(s.shape).toEqual([1, 3]);
    s.data[0] = 42;
    expect(t.data[3]).toBe(42);
    expect(Array.from(t.select(0).data)).toEqual([0, 1, 2]);
    expect(t.select(1).shape).toEqual([3]);
    expect(() => t.reshape([4, -1])).toThrow(/cannot reshape/);
    expect(() => t.reshape([-1, -1])).toThrow(/at most one -1/);
    expect(() => t.reshape([7])).toThrow(RangeError);
    expect(() => t.slice(1, 3)).toThrow(/out of range/);
    expect(Tensor.zeros([0, 3]).reshape([-1, 3]).shape).toEqual([0, 3]);
  });

  it('toArray nests by shape', () => {
    expect(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]).toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(Tensor.from([1, 2], [2], 'i64').toArray()).toEqual([1n, 2n]);
  });
});

describe('dtype conversion', () => {
  // Every f16 bit pattern, and f32 values around every f16 rounding boundary.
  const allHalf = new Uint16Array(65536).map((_, i) => i);
  const rng = new Rng(5);
  const probe = new Float32Array(200000);
  for (let i = 0; i < probe.length; i++) {
    const h = rng.int(0x7c00); // a finite positive f16
    const base = f16BitsToNumber(h);
    const next = f16BitsToNumber(h + 1);
    const kind = i % 4; // exactly on a value, exactly halfway, just below / above halfway
    const mid = (base + next) / 2;
    const v = kind === 0 ? base : kind === 1 ? mid : kind === 2 ? mid * (1 - 2 ** -23) : mid * (1 + 2 ** -23);
    probe[i] = (i % 8 < 4 ? 1 : -1) * v;
  }
  const specials = new Float32Array([0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 1e-8, 2 ** -25, 3 * 2 ** -26, 2 ** -24, 1e38, -1e-45, 3.4e38]);
  const rand = Tensor.randn([100003], { seed: 9, std: 100 }).data;

  for (const level of levels) {
    it(`f16 -> f32 is exact for all 65536 patterns (${level})`, () => {
      withIsa(level, () => {
        const out = new Tensor(allHalf, [65536], 'f16').to('f32').data;
        for (let h = 0; h < 65536; h++) {
          const want = f16BitsToNumber(h);
          if (Number.isNaN(want)) expect(Number.isNaN(out[h])).toBe(true);
          else if (!Object.is(out[h], want)) expect([h, out[h]]).toEqual([h, want]);
        }
      });
    });

    it(`f32 -> f16 rounds to nearest even (${level})`, () => {
      withIsa(level, () => {
        for (const src of [probe, specials, rand]) {
          const bits = Tensor.from(src, [src.length]).to('f16').data;
          for (let i = 0; i < src.length; i++) {
            const got = f16BitsToNumber(bits[i]);
            const want = roundToF16(src[i]);
            if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
            else if (!Object.is(got, want)) expect([src[i], got]).toEqual([src[i], want]);
          }
        }
      });
    });

    it(`f32 <-> bf16 rounds to nearest even and round-trips (${level})`, () => {
      withIsa(level, () => {
        for (const src of [specials, rand, probe]) {
          const t = Tensor.from(src, [src.length]);
          const bits = t.to('bf16').data;
          const back = new Tensor(bits, [src.length], 'bf16').to('f32').data;
          for (let i = 0; i < src.length; i++) {
            const want = roundToBF16(src[i]);
            const got = bf16BitsToNumber(bits[i]);
            if (Number.isNaN(want)) {
              expect(Number.isNaN(got) && Number.isNaN(back[i])).toBe(true);
            } else if (!Object.is(got, want) || !Object.is(back[i], want)) {
              expect([src[i], got, back[i]]).toEqual([src[i], want, want]);
            }
          }
        }
      });
    });
  }

  it('f16/bf16 patterns survive f16 -> f32 -> f16 unchanged (NaNs stay NaN)', () => {
    const back = new Tensor(allHalf, [65536], 'f16').to('f32').to('f16').data;
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) expect((back[h] & 0x7c00) === 0x7c00 && (back[h] & 0x3ff) !== 0).toBe(true);
      else if (back[h] !== h) expect([h, back[h]]).toEqual([h, h]);
    }
  });

  it('converts between the other dtypes through numbers', () => {
    expect(Array.from(Tensor.from([1.7, -1.7, 300], [3]).to('i32').data)).toEqual([1, -1, 300]);
    expect(Array.from(Tensor.from([1.7, -1.7], [2]).to('i64').data)).toEqual([1n, -1n]);
    expect(Array.from(Tensor.from([1, 2], [2], 'i64').to('f16').toFloat32Array())).toEqual([1, 2]);
    const t = Tensor.from([1, 2], [2]);
    expect(t.to('f32')).toBe(t);
  });

  it('toAsync equals to', async () => {
    const t = Tensor.randn([5000], { seed: 4 });
    expect(sameBytes((await t.toAsync('bf16')).data, t.to('bf16').data)).toBe(true);
    expect(sameBytes((await t.toAsync('i32')).data, t.to('i32').data)).toBe(true);
  });

  it('the native convert rejects pairs it does not handle', () => {
    expect(() => binding.convert(Tensor.from([1], [1], 'i32'), 'f16')).toThrow(/f32 -> f16\/bf16/);
    expect(() => binding.convert(Tensor.from([1], [1]), 'i8')).toThrow(TypeError);
  });
});

describe('dispose', () => {
  it('frees native memory at once and makes every sharing tensor unusable', async () => {
    const before = binding.memoryStats().liveBytes;
    const t = Tensor.alloc([1024, 256]);
    const held = binding.memoryStats().liveBytes;
    expect(held - before).toBeGreaterThanOrEqual(1024 * 256 * 4);
    const v = t.reshape([-1]);
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.data).toThrow(/disposed/);
    expect(() => v.data).toThrow(/disposed/);
    expect(() => binding.add(v as Tensor<'f32'>, v as Tensor<'f32'>)).toThrow(/disposed/);
    t.dispose(); // twice is harmless
    await new Promise((r) => setImmediate(r)); // Node runs the finalizer on the next turn
    // Other garbage may be collected meanwhile, so check that at least this block went away.
    expect(binding.memoryStats().liveBytes).toBeLessThanOrEqual(held - 1024 * 256 * 4);
  });

  it('Symbol.dispose disposes; JS-owned tensors only drop their reference', () => {
    const t = Tensor.zeros([3]);
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
    expect(() => t.data).toThrow(/disposed/);
    expect(String(t)).toContain('disposed');
  });

  it('refuses to free a tensor that a pending async op reads', async () => {
    const a = Tensor.alloc([1 << 20]);
    const p = binding.addAsync(a as Tensor<'f32'>, a as Tensor<'f32'>);
    expect(() => a.dispose()).toThrow(/pending async operation/);
    await p;
    a.dispose();
    expect(a.disposed).toBe(true);
  });
});
