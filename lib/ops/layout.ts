/**
 * Layout ops: moving elements without arithmetic. They work on every dtype (f32, f16, bf16, i8, u8, i32,
 * i64), return new contiguous tensors, and split the copy over the addon's thread pool. Axes may be
 * negative (counted from the end).
 */
import { binding, type DType } from '../native';
import { Tensor } from '../tensor';

function axisIndex(axis: number, ndim: number, name: string): number {
  if (typeof axis !== 'number' || !Number.isInteger(axis)) throw new TypeError(`${name} must be an integer, got ${String(axis)}`);
  if (axis < -ndim || axis >= ndim) {
    throw new RangeError(`${name} must be in [${-ndim}, ${ndim - 1}] for a tensor with ${ndim} dimensions, got ${axis}`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Reorders the axes: result dim i is x's dim axes[i].
 * @example permute(x, [0, 2, 1, 3]) // [batch, seq, heads, dim] -> [batch, heads, seq, dim]
 */
export function permute<D extends DType>(x: Tensor<D>, axes: readonly number[]): Tensor<D> {
  return Tensor.fromNative(binding.permute(x, axes));
}

/** permute() computed off the main thread. */
export async function permuteAsync<D extends DType>(x: Tensor<D>, axes: readonly number[]): Promise<Tensor<D>> {
  return Tensor.fromNative(await binding.permuteAsync(x, axes));
}

function swapAxes(ndim: number, dim0: number, dim1: number): number[] {
  const a = axisIndex(dim0, ndim, 'dim0');
  const b = axisIndex(dim1, ndim, 'dim1');
  const axes = Array.from({ length: ndim }, (_, i) => i);
  axes[a] = b;
  axes[b] = a;
  return axes;
}

/**
 * Swaps two axes (default: the last two, a matrix transpose of each batch entry).
 * @example transpose(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3])).toArray() // [[1, 4], [2, 5], [3, 6]]
 * @example transpose(k, 1, 2) // [batch, seq, heads, dim] -> [batch, heads, seq, dim]
 */
export function transpose<D extends DType>(x: Tensor<D>, dim0 = -2, dim1 = -1): Tensor<D> {
  return permute(x, swapAxes(x.ndim, dim0, dim1));
}

/** transpose() computed off the main thread. */
export function transposeAsync<D extends DType>(x: Tensor<D>, dim0 = -2, dim1 = -1): Promise<Tensor<D>> {
  return permuteAsync(x, swapAxes(x.ndim, dim0, dim1));
}

/**
 * Joins tensors along `axis` (default 0); they must share dtype and every other dim.
 * @example concat([a, b], 1) // [2, 3] and [2, 5] -> [2, 8]
 * @example concat([pastKeys, newKeys], -2) // grow a KV cache along the sequence
 */
export function concat<D extends DType>(tensors: readonly Tensor<D>[], axis = 0): Tensor<D> {
  return Tensor.fromNative(binding.concat(tensors, axis));
}

/** concat() computed off the main thread. */
export async function concatAsync<D extends DType>(tensors: readonly Tensor<D>[], axis = 0): Promise<Tensor<D>> {
  return Tensor.fromNative(await binding.concatAsync(tensors, axis));
}

function splitSizes(x: Tensor, sizeOrSections: number | readonly number[], axis: number): readonly number[] {
  if (Array.isArray(sizeOrSections)) return sizeOrSections;
  const size = sizeOrSections as number;
  if (typeof size !== 'number' || !Number.isInteger(size)) {
    throw new TypeError(`sizeOrSections must be a positive integer or an array of sizes, got ${String(size)}`);
  }
  if (size <= 0) throw new RangeError(`sizeOrSections must be a positive integer, got ${size}`);
  if (x.ndim === 0) throw new RangeError('x is a scalar; split needs a tensor with at least 1 dimension');
  const len = x.shape[axisIndex(axis, x.ndim, 'axis')];
  const sizes: number[] = [];
  for (let s = 0; s < len; s += size) sizes.push(Math.min(size, len - s));
  return sizes.length ? sizes : [0];
}

/**
 * Cuts x along `axis` (default 0), as PyTorch's `split`: a number gives pieces of that size (the last may
 * be shorter); an array gives the size of each piece (they must add up to the axis length).
 * @example const [q, k, v] = split(qkv, hidden, -1) // a fused [.., 3 * hidden] projection
 * @example split(x, [2, 5], 1) // [3, 7] -> [3, 2] and [3, 5]
 */
export function split<D extends DType>(x: Tensor<D>, sizeOrSections: number | readonly number[], axis = 0): Tensor<D>[] {
  return binding.split(x, splitSizes(x, sizeOrSections, axis), axis).map((t) => Tensor.fromNative(t));
}

/** split() computed off the main thread. */
export async function splitAsync<D extends DType>(
  x: Tensor<D>,
  sizeOrSections: number | readonly number[],
  axis = 0,
): Promise<Tensor<D>[]> {
  return (await binding.splitAsync(x, splitSizes(x, sizeOrSections, axis), axis)).map((t) => Tensor.fromNative(t));
}

/**
 * Gathers rows of `table` [vocab, dim] at `ids` (i32 or i64, any shape): the result is [...ids.shape, dim]
 * with the table's dtype. An id outside [0, vocab) throws a RangeError naming its position and value.
 * @example embedding(inputIds, wte) // [batch, seq] ids, [vocab, hidden] table -> [batch, seq, hidden]
 */
export function embedding<D extends DType>(ids: Tensor<'i32' | 'i64'>, table: Tensor<D>): Tensor<D> {
  return Tensor.fromNative(binding.embedding(ids, table));
}

/** embedding() computed off the main thread (the ids are checked before it starts). */
export async function embeddingAsync<D extends DType>(ids: Tensor<'i32' | 'i64'>, table: Tensor<D>): Promise<Tensor<D>> {
  return Tensor.fromNative(await binding.embeddingAsync(ids, table));
}
