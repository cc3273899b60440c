/**
 * Matrix products (native fp32 GEMM: cache-blocked, packed, SIMD micro-kernels on the addon's thread pool;
 * a streaming path for the decode shape M = 1).
 */
import { binding, type RawMatmulOptions } from '../native';
import { Tensor } from '../tensor';

export interface MatmulOptions {
  /** Use aᵀ: a is [..., K, M] instead of [..., M, K]. Default false. */
  transA?: boolean;
  /** Use bᵀ: b is [..., N, K] instead of [..., K, N]. Default false. */
  transB?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Scale of `out`'s previous contents (used only with `out`). Default 0. */
  beta?: number;
  /**
   * An existing f32 tensor of the result's shape, written in place: out = alpha·op(a)·op(b) + beta·out.
   * It must not share memory with a or b. Without it, a new tensor is returned.
   */
  out?: Tensor<'f32'>;
}

/**
 * The matrix product alpha·op(a)·op(b) (+ beta·out), fp32.
 *
 * a is [..., M, K] and b is [..., K, N] (or transposed with `transA` / `transB`); leading batch dimensions
 * broadcast numpy-style (each pair equal, or one of them 1, or missing), so the result is
 * [...broadcast(batchA, batchB), M, N]. Results do not depend on the thread count (bitwise).
 *
 * @example
 * const a = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
 * const b = Tensor.from([1, 0, 0, 1, 1, 1], [3, 2]);
 * matmul(a, b).toArray(); // [[4, 5], [10, 11]]
 * @example
 * // attention scores q·kᵀ for [batch, heads, T, d] inputs
 * const scores = matmul(q, k, { transB: true, alpha: 1 / Math.sqrt(d) });
 * @example
 * // accumulate into an existing tensor: acc = acc + x·w
 * matmul(x, w, { out: acc, beta: 1 });
 */
export function matmul(a: Tensor<'f32'>, b: Tensor<'f32'>, opts?: MatmulOptions): Tensor<'f32'> {
  const raw = binding.matmul(a, b, opts satisfies RawMatmulOptions | undefined);
  return opts?.out ?? Tensor.fromNative(raw);
}

/**
 * matmul() computed off the main thread (the event loop keeps running). The inputs and `out` must not be
 * disposed or written until the promise settles.
 * @example const c = await matmulAsync(a, b, { transB: true });
 */
export async function matmulAsync(a: Tensor<'f32'>, b: Tensor<'f32'>, opts?: MatmulOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.matmulAsync(a, b, opts satisfies RawMatmulOptions | undefined);
  return opts?.out ?? Tensor.fromNative(raw);
}

/**
 * A fully connected layer with the Hugging Face / PyTorch weight layout: x·weightᵀ + bias.
 *
 * x is [..., in], weight is [out, in], bias (optional) is [out]; the result is [..., out].
 *
 * @example
 * const x = Tensor.randn([4, 768], { seed: 1 });
 * const w = Tensor.randn([3072, 768], { seed: 2 });
 * const b = Tensor.zeros([3072]);
 * linear(x, w, b).shape; // [4, 3072]
 */
export function linear(x: Tensor<'f32'>, weight: Tensor<'f32'>, bias?: Tensor<'f32'> | null): Tensor<'f32'> {
  return Tensor.fromNative(binding.linear(x, weight, bias ?? undefined));
}

/**
 * linear() computed off the main thread.
 * @example const y = await linearAsync(x, w, b);
 */
export async function linearAsync(x: Tensor<'f32'>, weight: Tensor<'f32'>, bias?: Tensor<'f32'> | null): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.linearAsync(x, weight, bias ?? undefined));
}
