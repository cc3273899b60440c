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
export function linear(x: Tensor<'f32'>, weight: Tensor<'f32'> | PackedLinearWeight, bias?: Tensor<'f32'> | null): Tensor<'f32'> {
  if (weight instanceof PackedLinearWeight)
    return Tensor.fromNative(binding.linearPacked(x, weight.data, weight.kernel, weight.out, weight.in, bias ?? undefined));
  return Tensor.fromNative(binding.linear(x, weight, bias ?? undefined));
}

/**
 * linear() computed off the main thread.
 * @example const y = await linearAsync(x, w, b);
 */
export async function linearAsync(
  x: Tensor<'f32'>,
  weight: Tensor<'f32'> | PackedLinearWeight,
  bias?: Tensor<'f32'> | null,
): Promise<Tensor<'f32'>> {
  if (weight instanceof PackedLinearWeight)
    return Tensor.fromNative(await binding.linearPackedAsync(x, weight.data, weight.kernel, weight.out, weight.in, bias ?? undefined));
  return Tensor.fromNative(await binding.linearAsync(x, weight, bias ?? undefined));
}

/**
 * A linear layer's weight packed once into the GEMM's panel layout (see {@link packLinear}). It holds its
 * own copy of the weight (the [out, in] tensor it came from can be dropped) and is only valid for the
 * GEMM kernel that was active when it was packed; linear() says so if the ISA level changed since.
 */
export class PackedLinearWeight {
  /** [out, in], the shape of the weight it was packed from. */
  readonly shape: readonly [number, number];
  /** The GEMM micro-kernel it was packed for, e.g. "avx2 4x24". */
  readonly kernel: string;
  /** The packed floats (a little more than out·in: out is rounded up to the micro-kernel's width). */
  readonly data: Tensor<'f32'>;

  private constructor(shape: readonly [number, number], kernel: string, data: Tensor<'f32'>) {
    this.shape = shape;
    this.kernel = kernel;
    this.data = data;
  }

  /** @internal packs `weight` [out, in] (use {@link packLinear}). */
  static pack(weight: Tensor<'f32'>): PackedLinearWeight {
    const raw = binding.packLinear(weight);
    return new PackedLinearWeight([weight.shape[0], weight.shape[1]], raw.kernel, Tensor.fromNative(raw.data));
  }

  get out(): number {
    return this.shape[0];
  }
  get in(): number {
    return this.shape[1];
  }
  /** Frees the packed copy now (later use throws). */
  dispose(): void {
    this.data.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Packs a [out, in] weight once for linear(): every later product skips the packing of the weight that
 * an ordinary linear() does on each call, which is most of the time of a few-row product (tens of tokens
 * through a BERT-sized layer). Results are the same bits as linear() with the unpacked weight whenever that
 * takes the blocked path (more than 8 rows of x); with 1–8 rows the packed weight has a few-row path of its
 * own (each packed panel read once for its whole depth, several panels at a time) and the unpacked one
 * takes dot products, so results agree to rounding (each is deterministic and the same on any thread
 * count). For decode (1–2 rows) both read a weight streamed from memory at about the read bandwidth; at
 * 3–4 rows from memory the unpacked weight is still somewhat faster. Repack after setIsa().
 *
 * @example
 * const w = Tensor.randn([3072, 768], { seed: 2 });
 * const pw = packLinear(w);
 * const x = Tensor.randn([32, 768], { seed: 1 });
 * linear(x, pw).shape; // [32, 3072]
 */
export function packLinear(weight: Tensor<'f32'>): PackedLinearWeight {
  return PackedLinearWeight.pack(weight);
}
