/**
 * Softmax and log-softmax over the last axis (native, SIMD), numerically stable: the row maximum is
 * subtracted first and the sum is accumulated in double.
 *
 * An optional additive f32 mask is added to x before the softmax; it broadcasts to x with numpy rules, e.g. a
 * padding mask [B, 1, 1, N] (0 to keep, -Infinity or a large negative number to drop) against attention
 * scores [B, H, M, N], or a causal mask [M, N]. A row that is -Infinity everywhere (fully masked) gives zeros
 * from softmax and -Infinity from logSoftmax, never NaN; a NaN anywhere in a row makes the row NaN.
 */
import { binding } from '../native';
import { Tensor } from '../tensor';

/**
 * softmax(x + mask) over the last axis.
 * @example softmax(Tensor.from([1, 2, 3], [3])) // [0.0900, 0.2447, 0.6652]
 * @example softmax(scores, paddingMask) // scores [B, H, M, N], paddingMask [B, 1, 1, N]
 */
export function softmax(x: Tensor<'f32'>, mask?: Tensor<'f32'> | null): Tensor<'f32'> {
  return Tensor.fromNative(binding.softmax(x, mask));
}

/** softmax() computed off the main thread. */
export async function softmaxAsync(x: Tensor<'f32'>, mask?: Tensor<'f32'> | null): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.softmaxAsync(x, mask));
}

/**
 * log(softmax(x + mask)) over the last axis, computed as x + mask - max - log(sum) (no log of tiny values).
 * @example logSoftmax(logits) // log-probabilities for sampling or a loss
 */
export function logSoftmax(x: Tensor<'f32'>, mask?: Tensor<'f32'> | null): Tensor<'f32'> {
  return Tensor.fromNative(binding.logSoftmax(x, mask));
}

/** logSoftmax() computed off the main thread. */
export async function logSoftmaxAsync(x: Tensor<'f32'>, mask?: Tensor<'f32'> | null): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.logSoftmaxAsync(x, mask));
}
