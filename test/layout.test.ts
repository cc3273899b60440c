import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import {
  concat,
  concatAsync,
  embedding,
  embeddingAsync,
  permute,
  permuteAsync,
  split,
  splitAsync,
  transpose,
  transposeAsync,
} from '../lib/ops/layout';
import { Tensor } from '../lib/tensor';
import type { DType } from '../lib/native';
import { sameBytes, withThreads } from './helpers';
import * as ref from './reference/layout';

/** Every permutation of [0, n). */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/** A tensor of `dtype` whose elements are distinct (their flat index, wrapped for the narrow types). */
function iota<D extends DType>(shape: number[], dtype: D): Tensor<D> {
  const n = shape.reduce((p, d) => p * d, 1);
  const values = Array.from({ length: n }, (_, i) => (dtype === 'i8' ? (i % 251) - 125 : dtype === 'u8' ? i % 256 : i));
  if (dtype === 'i64') return Tensor.from(values.map((v) => BigInt(v) * 3000000000n), shape, dtype);
  if (dtype === 'f16' || dtype === 'bf16') return Tensor.from(Uint16Array.from(values, (v) => v & 0xffff), shape, dtype);
  return Tensor.from(values, shape, dtype);
}

const dtypes: DType[] = ['f32', 'f16', 'i8', 'i64'];

describe('permute and transpose', () => {
  it('match the index oracle for every permutation of 4-D shapes, every element size', () => {
    for (const dtype of dtypes) {
      for (const shape of [[3, 5, 7, 9], [1, 17, 1, 33], [2, 1, 3, 1]]) {
        const x = iota(shape, dtype);
        for (const axes of permutations(4)) {
          const out = permute(x, axes);
          const want = ref.permute(x.data as ArrayLike<number | bigint>, shape, axes);
          expect(out.shape).toEqual(want.shape);
          expect(out.dtype).toBe(dtype);
          expect([dtype, shape, axes, Array.from(out.data as ArrayLike<number | bigint>)]).toEqual([dtype, shape, axes, want.data]);
        }
      }
    }
  });

  it('transposes large odd matrices and batches through the tiled path', () => {
    for (const shape of [[129, 257], [3, 65, 31], [1, 1000], [33, 1]]) {
      const x = iota(shape, 'f32');
      const out = transpose(x);
      const axes = shape.map((_, i) => i);
      [axes[axes.length - 1], axes[axes.length - 2]] = [axes[axes.length - 2], axes[axes.length - 1]];
      const want = ref.permute(x.data, shape, axes);
      expect(out.shape).toEqual(want.shape);
      expect(sameBytes(out.data, Float32Array.from(want.data))).toBe(true);
      expect(sameBytes(transpose(out).data, x.data)).toBe(true);
    }
    // heads split: [b, s, h, d] -> [b, h, s, d]
    const q = iota([2, 7, 3, 5], 'f32');
    expect(sameBytes(transpose(q, 1, 2).data, Float32Array.from(ref.permute(q.data, [2, 7, 3, 5], [0, 2, 1, 3]).data))).toBe(true);
  });

  it('handles identity, scalars and empty tensors', () => {
    const x = iota([4, 5], 'f32');
    expect(sameBytes(permute(x, [0, 1]).data, x.data)).toBe(true);
    expect(permute(Tensor.from([3], []), []).data[0]).toBe(3);
    expect(permute(Tensor.zeros([0, 3, 2]), [2, 0, 1]).shape).toEqual([2, 0, 3]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const x = Tensor.randn([5, 131, 67], { seed: 1 });
    for (const axes of [[2, 1, 0], [1, 0, 2], [0, 2, 1]]) {
      const one = withThreads(1, () => permute(x, axes));
      const three = withThreads(3, () => permute(x, axes));
      expect(sameBytes(one.data, three.data)).toBe(true);
      expect(sameBytes((await permuteAsync(x, axes)).data, one.data)).toBe(true);
    }
    expect(sameBytes((await transposeAsync(x, 0, 2)).data, permute(x, [2, 1, 0]).data)).toBe(true);
  });

  it('rejects bad axes, naming them', () => {
    const x = Tensor.zeros([2, 3, 4]);
    expect(() => permute(x, [0, 1])).toThrow(/axes must list each of the 3 axes of x once, got 2 axes/);
    expect(() => permute(x, [0, 1, 1])).toThrow(/axis 1 appears twice/);
    expect(() => permute(x, [0, 1, 3])).toThrow(/axes\[2\] must be in \[-3, 2\] for x with 3 dimensions, got 3/);
    expect(() => permute(x, [0, 1, 1.5])).toThrow(TypeError);
    expect(() => binding.permute(x, 'abc' as never)).toThrow(/axes must be an array/);
    expect(() => transpose(x, 0, 3)).toThrow(/dim1 must be in \[-3, 2\]/);
    expect(permute(x, [-1, 0, -2]).shape).toEqual([4, 2, 3]);
  });
});

describe('concat and split', () => {
  it('match the oracle along every axis for every element size, and split undoes concat', () => {
    for (const dtype of dtypes) {
      const base = [3, 4, 5];
      for (let axis = 0; axis < 3; axis++) {
        const parts = [1, 0, 7, 2].map((len) => iota(base.map((d, i) => (i === axis ? len : d)), dtype));
        const out = concat(parts, axis);
        const want = ref.concat(parts.map((p) => ({ data: p.data as ArrayLike<number | bigint>, shape: p.shape })), axis);
        expect(out.shape).toEqual(base.map((d, i) => (i === axis ? 10 : d)));
        expect([dtype, axis, Array.from(out.data as ArrayLike<number | bigint>)]).toEqual([dtype, axis, want]);
        const back = split(out, [1, 0, 7, 2], axis - 3);
        back.forEach((p, i) => {
          expect(p.shape).toEqual(parts[i].shape);
          expect(sameBytes(p.data, parts[i].data)).toBe(true);
        });
      }
    }
  });

  it('splits by a size like PyTorch (the last piece shorter)', () => {
    const x = iota([2, 7], 'f32');
    const pieces = split(x, 3, 1);
    expect(pieces.map((p) => p.shape)).toEqual([[2, 3], [2, 3], [2, 1]]);
    expect(Array.from(pieces[2].data)).toEqual([6, 13]);
    expect(split(x, 10, -1).map((p) => p.shape)).toEqual([[2, 7]]);
    const [q, k, v] = split(iota([4, 3 * 5], 'f32'), 5, -1);
    expect(Array.from(k.data.subarray(0, 5))).toEqual([5, 6, 7, 8, 9]);
    expect(v.shape).toEqual([4, 5]);
    expect(q.shape).toEqual([4, 5]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const a = Tensor.randn([64, 3, 1000], { seed: 1 });
    const b = Tensor.randn([64, 5, 1000], { seed: 2 });
    const one = withThreads(1, () => concat([a, b], 1));
    const three = withThreads(3, () => concat([a, b], 1));
    expect(sameBytes(one.data, three.data)).toBe(true);
    expect(sameBytes((await concatAsync([a, b], 1)).data, one.data)).toBe(true);
    const parts = await splitAsync(one, [3, 5], 1);
    expect(sameBytes(parts[0].data, a.data)).toBe(true);
    expect(sameBytes(parts[1].data, b.data)).toBe(true);
  });

  it('rejects bad arguments, naming them', () => {
    const a = Tensor.zeros([2, 3]);
    expect(() => concat([a, Tensor.zeros([3, 3])], 1)).toThrow(/tensors\[1\] has shape \[3, 3\], which differs from tensors\[0\] \(\[2, 3\]\) outside axis 1/);
    expect(() => concat([a, Tensor.zeros([2, 3], 'i32') as never])).toThrow(/tensors\[1\] has dtype i32 but tensors\[0\] has f32/);
    expect(() => concat([a, Tensor.zeros([2])])).toThrow(RangeError);
    expect(() => concat([])).toThrow(/tensors must hold at least one tensor/);
    expect(() => concat([a], 2)).toThrow(/axis must be in \[-2, 1\]/);
    expect(() => concat([a, 5 as never])).toThrow(/tensors\[1\] must be a tensor/);
    expect(() => binding.concat(a as never, 0)).toThrow(/tensors must be an array/);
    expect(() => split(a, [1, 1], 1)).toThrow(/sizes add up to 2 but x has 3 entries along axis 1/);
    expect(() => split(a, [1, -1, 3], 1)).toThrow(/sizes\[1\] must be in \[0, 3\]/);
    expect(() => split(a, 0)).toThrow(/sizeOrSections must be a positive integer/);
    expect(() => split(a, 1, 5)).toThrow(/axis must be in \[-2, 1\]/);
    expect(() => split(Tensor.zeros([]), 1)).toThrow(RangeError);
  });
});

describe('embedding', () => {
  it('gathers rows for i32 and i64 ids of any shape, any table dtype', () => {
    const table = iota([11, 7], 'f32');
    const ids = Tensor.from([3, 0, 10, 3, 5, 1], [2, 3], 'i32');
    const out = embedding(ids, table);
    expect(out.shape).toEqual([2, 3, 7]);
    expect(Array.from(out.data)).toEqual(ref.embedding(ids.data, table.data, 7));
    const ids64 = Tensor.from([3n, 0n, 10n, 3n, 5n, 1n], [2, 3], 'i64');
    expect(sameBytes(embedding(ids64, table).data, out.data)).toBe(true);
    const t16 = iota([11, 7], 'f16');
    const o16 = embedding(ids, t16);
    expect(o16.dtype).toBe('f16');
    expect(Array.from(o16.data)).toEqual(ref.embedding(ids.data, t16.data, 7));
    expect(embedding(Tensor.from([4], [], 'i32'), table).shape).toEqual([7]);
    expect(embedding(Tensor.zeros([0, 3], 'i32'), table).shape).toEqual([0, 3, 7]);
  });

  it('gives the same bits with 1 and 3 threads, and async equals sync', async () => {
    const table = Tensor.randn([1000, 65], { seed: 1 });
    const ids = Tensor.from(Array.from({ length: 4097 }, (_, i) => (i * 7919) % 1000), [4097], 'i32');
    const one = withThreads(1, () => embedding(ids, table));
    const three = withThreads(3, () => embedding(ids, table));
    expect(sameBytes(one.data, three.data)).toBe(true);
    expect(sameBytes((await embeddingAsync(ids, table)).data, one.data)).toBe(true);
  });

  it('rejects out-of-range ids with a RangeError naming the position and value', async () => {
    const table = Tensor.zeros([10, 4]);
    const bad = Tensor.from([1, 2, 3, 4, 10, 5], [2, 3], 'i32');
    expect(() => embedding(bad, table)).toThrow(RangeError);
    expect(() => embedding(bad, table)).toThrow(/ids\[1, 1\] = 10 is out of range for a table of 10 rows \(valid ids: 0 to 9\)/);
    expect(() => embedding(Tensor.from([0, -1], [2], 'i32'), table)).toThrow(/ids\[1\] = -1 is out of range/);
    expect(() => embedding(Tensor.from([2n ** 40n], [1], 'i64'), table)).toThrow(/ids\[0\] = 1099511627776 is out of range/);
    await expect(embeddingAsync(Tensor.from([11], [], 'i32'), table)).rejects.toThrow(/ids = 11 is out of range/);
    expect(() => binding.embeddingAsync(Tensor.from([11], [], 'i32'), table)).toThrow(RangeError); // before queuing
    expect(() => embedding(Tensor.zeros([2], 'f32') as never, table)).toThrow(/ids must have dtype i32 or i64, got f32/);
    expect(() => embedding(Tensor.zeros([2], 'i32'), Tensor.zeros([10]))).toThrow(/table must have shape \[vocab, dim\], got \[10\]/);
  });
});
