/**
 * Normalization over the last axis (native, SIMD). Statistics are accumulated in double and the mean is
 * subtracted in two parts, so rows with a large mean stay accurate (relative error ~1e-7 against float64);
 * results are the same bits at any thread count.
 */
import { binding } from '../native';
import { Tensor } from '../tensor';

/**
 * Layer normalization over the last axis (PyTorch `layer_norm` with normalized_shape = [n]):
 * (x - mean) / sqrt(var + eps) · weight + bias, with the biased variance.
 *
 * @param x f32 tensor [..., n]
 * @param weight f32 [n] (gamma), or null/undefined for 1
 * @param bias f32 [n] (beta), or null/undefined for 0
 * @param eps added to the variance; default 1e-5 (PyTorch's); BERT-style configs use 1e-12 (`layer_norm_eps`)
 * @example layerNorm(h, ln.weight, ln.bias, config.layer_norm_eps)
 */
export function layerNorm(x: Tensor<'f32'>, weight?: Tensor<'f32'> | null, bias?: Tensor<'f32'> | null, eps = 1e-5): Tensor<'f32'> {
  return Tensor.fromNative(binding.layerNorm(x, weight, bias, eps));
}

/** layerNorm() computed off the main thread. */
export async function layerNormAsync(
  x: Tensor<'f32'>,
  weight?: Tensor<'f32'> | null,
  bias?: Tensor<'f32'> | null,
  eps = 1e-5,
): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.layerNormAsync(x, weight, bias, eps));
}

/**
 * RMS normalization over the last axis (LLaMA / Mistral `RMSNorm`): x / sqrt(mean(x²) + eps) · weight.
 *
 * @param x f32 tensor [..., n]
 * @param weight f32 [n], or null/undefined for 1
 * @param eps default 1e-6 (`rms_norm_eps` in Hugging Face configs)
 * @example rmsNorm(h, norm.weight, config.rms_norm_eps)
 */
export function rmsNorm(x: Tensor<'f32'>, weight?: Tensor<'f32'> | null, eps = 1e-6): Tensor<'f32'> {
  return Tensor.fromNative(binding.rmsNorm(x, weight, eps));
}

/** rmsNorm() computed off the main thread. */
export async function rmsNormAsync(x: Tensor<'f32'>, weight?: Tensor<'f32'> | null, eps = 1e-6): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.rmsNormAsync(x, weight, eps));
}
