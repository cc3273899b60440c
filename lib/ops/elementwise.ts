/** Element-wise ops. */
import { binding } from '../native';
import { Tensor } from '../tensor';

/**
 * a + b for two f32 tensors of the same shape, computed natively on the addon's thread pool.
 * @example ops.add(Tensor.from([1, 2], [2]), Tensor.from([3, 4], [2])) // [4, 6]
 */
export function add(a: Tensor<'f32'>, b: Tensor<'f32'>): Tensor<'f32'> {
  return Tensor.fromNative(binding.add(a, b));
}

/** add() computed off the main thread; the event loop keeps running. */
export async function addAsync(a: Tensor<'f32'>, b: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.addAsync(a, b));
}
