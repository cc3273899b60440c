/** CUDA ops. Available when the addon was built with CUDA and a device is present (see info().cuda). */
import { binding } from '../native';
import { Tensor } from '../tensor';

/** True when CUDA kernels can run here. */
export function cudaAvailable(): boolean {
  return binding.info().cuda.available;
}

/**
 * a + b on a CUDA device (copy in, kernel, copy out): the proof of the CUDA launch path. Throws a clear
 * error when CUDA is unavailable.
 */
export function cudaAdd(a: Tensor<'f32'>, b: Tensor<'f32'>, device = 0): Tensor<'f32'> {
  return Tensor.fromNative(binding.cudaAdd(a, b, device));
}

export async function cudaAddAsync(a: Tensor<'f32'>, b: Tensor<'f32'>, device = 0): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.cudaAddAsync(a, b, device));
}
