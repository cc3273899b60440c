/**
 * Reductions: sum and mean over an axis (accumulated in double, rounded once to f32; the same bits at any
 * thread count), and top-k over the last axis.
 */
import { binding } from '../native';
import { Tensor } from '../tensor';

export interface ReduceOptions {
  /** Keep the reduced axis with length 1 (so the result broadcasts against x). Default false. */
  keepdim?: boolean;
}

/**
 * The sum over `axis` (negative counts from the end), or of every element when `axis` is omitted (a
 * scalar of shape [], or all ones with keepdim).
 * @example sum(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]), 1) // [6, 15]
 * @example sum(x) // shape []
 */
export function sum(x: Tensor<'f32'>, axis?: number | null, opts: ReduceOptions = {}): Tensor<'f32'> {
  return Tensor.fromNative(binding.sum(x, axis, opts.keepdim ?? false));
}

/** sum() computed off the main thread. */
export async function sumAsync(x: Tensor<'f32'>, axis?: number | null, opts: ReduceOptions = {}): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.sumAsync(x, axis, opts.keepdim ?? false));
}

/**
 * The mean over `axis`, or of every element when `axis` is omitted. The mean of no elements is NaN.
 * @example mean(h, 1) // mean pooling over the sequence of [batch, seq, hidden]
 * @example mean(x, -1, { keepdim: true }) // [..., 1]
 */
export function mean(x: Tensor<'f32'>, axis?: number | null, opts: ReduceOptions = {}): Tensor<'f32'> {
  return Tensor.fromNative(binding.mean(x, axis, opts.keepdim ?? false));
}

/** mean() computed off the main thread. */
export async function meanAsync(x: Tensor<'f32'>, axis?: number | null, opts: ReduceOptions = {}): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.meanAsync(x, axis, opts.keepdim ?? false));
}

export interface TopKOptions<I extends 'i32' | 'i64' = 'i32' | 'i64'> {
  /** The k largest (default) or, with false, the k smallest. */
  largest?: boolean;
  /** Dtype of the indices: 'i32' (default; an Int32Array) or 'i64' (a BigInt64Array, as PyTorch returns). */
  indexDtype?: I;
}

export interface TopK<I extends 'i32' | 'i64' = 'i32'> {
  /** [..., k] the selected values, best first. */
  values: Tensor<'f32'>;
  /** [..., k] their positions along the last axis of x. */
  indices: Tensor<I>;
}

/**
 * The k largest (or smallest) entries along the last axis, sorted best first. Ties go to the lower index;
 * NaN ranks above every number (as in PyTorch); -0 and +0 tie. k must be in [0, n].
 * @example
 * const { values, indices } = topk(Tensor.from([1, 5, 3, 5], [4]), 2);
 * // values [5, 5], indices [1, 3]
 * @example topk(logits, 50).indices // top-50 sampling candidates, Int32Array
 */
export function topk<I extends 'i32' | 'i64' = 'i32'>(x: Tensor<'f32'>, k: number, opts: TopKOptions<I> = {}): TopK<I> {
  const r = binding.topk(x, k, opts.largest ?? true, opts.indexDtype ?? ('i32' as I));
  return { values: Tensor.fromNative(r.values), indices: Tensor.fromNative(r.indices) };
}

/** topk() computed off the main thread. */
export async function topkAsync<I extends 'i32' | 'i64' = 'i32'>(
  x: Tensor<'f32'>,
  k: number,
  opts: TopKOptions<I> = {},
): Promise<TopK<I>> {
  const r = await binding.topkAsync(x, k, opts.largest ?? true, opts.indexDtype ?? ('i32' as I));
  return { values: Tensor.fromNative(r.values), indices: Tensor.fromNative(r.indices) };
}
