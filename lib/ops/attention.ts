/**
 * Flash attention on the CPU (native, fp32, SIMD): softmax(scale·QKᵀ + bias + masks)·V computed tile by tile
 * with an online softmax. No Nq×Nk score matrix is ever built: memory is linear in the sequence length
 * (each pool thread holds one tile of scratch), and causal / windowed attention skips the key tiles no query
 * of a tile can see, so causal costs about half. Results are bitwise independent of the thread count.
 */
import { binding, type RawAttentionOptions, type RawAttentionResult, type RawBlockSparseOptions, type RawTensor } from '../native';
import { Tensor } from '../tensor';

export interface AttentionOptions {
  /**
   * Memory order of q, k, v and the output: 'bhnd' = [B, H, N, D] (default) or 'bnhd' = [B, N, H, D] (the
   * order a fused QKV projection produces before any transpose). Both are read in place, without a copy;
   * the output has q's layout.
   */
  layout?: 'bhnd' | 'bnhd';
  /**
   * Causal masking, aligned bottom-right: query i sees key j iff j ≤ i + (Nk − Nq). With Nq < Nk this is
   * decoding with a KV cache (the new queries are the last Nq positions); with Nq > Nk the first Nq − Nk
   * queries see no key (their output is zeros, their lse −Infinity). Default false.
   */
  causal?: boolean;
  /** Multiplies QKᵀ before the bias and the softmax. Default 1/√D. */
  scale?: number;
  /**
   * [B, Nk], dtype u8, i8, i32 or i64, Hugging Face convention: nonzero = attend, 0 = padding (a boolean mask
   * as u8 0/1 works). Padded keys are invisible to every query of their batch row.
   */
  keyPaddingMask?: Tensor<'u8' | 'i8' | 'i32' | 'i64'> | null;
  /**
   * Additive f32 bias, broadcastable (numpy rules, right-aligned) to [B, Hq, Nq, Nk], e.g. [1, H, Nq, Nk]
   * (relative-position bias), [B, 1, Nq, Nk], [B, 1, 1, Nk], [Nq, Nk]. Read tile by tile in place; −Infinity
   * entries act as a mask.
   */
  bias?: Tensor<'f32'> | null;
  /**
   * Local attention [left, right]: query i sees key j iff i' − left ≤ j ≤ i' + right with i' = i + (Nk − Nq)
   * (the same bottom-right alignment as causal). Each side a non-negative integer or Infinity. Combined with
   * `causal`, right becomes 0.
   */
  window?: readonly [number, number] | null;
  /** Also return the log-sum-exp of each row's scaled, biased scores, [B, Hq, Nq] (−Infinity for rows with no visible key). */
  returnLse?: boolean;
}

export interface AttentionWithLse {
  /** The attention output, q's shape and layout. */
  out: Tensor<'f32'>;
  /** log Σ_j exp(scale·q·k_j + bias), [B, Hq, Nq]. */
  lse: Tensor<'f32'>;
}

function wrap(raw: RawTensor<'f32'> | RawAttentionResult): Tensor<'f32'> | AttentionWithLse {
  if ('lse' in raw) return { out: Tensor.fromNative(raw.out), lse: Tensor.fromNative(raw.lse) };
  return Tensor.fromNative(raw);
}

/**
 * Scaled dot-product attention softmax(scale·QKᵀ + bias + masks)·V, flash style (fp32).
 *
 * q is [B, Hq, Nq, D]; k and v are [B, Hkv, Nk, D] with Hq a multiple of Hkv (grouped-query attention: query
 * head h uses key/value head ⌊h / (Hq/Hkv)⌋; Hkv = 1 is multi-query attention). Or all three in [B, N, H, D]
 * order with `layout: 'bnhd'`. 1 ≤ D ≤ 256. A row whose keys are all masked gives zeros (never NaN).
 * Throws TypeError / RangeError naming the bad argument.
 *
 * @example const out = attention(q, k, v, { causal: true }); // [B, H, N, D]
 * @example const { out, lse } = attention(q, kCache, vCache, { causal: true, returnLse: true }); // decode step
 * @example attention(q, k, v, { keyPaddingMask: attentionMask, bias: relPosBias }); // mask [B, Nk] i64, bias [1, H, Nq, Nk]
 */
export function attention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: AttentionOptions & { returnLse: true }): AttentionWithLse;
export function attention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Tensor<'f32'>;
export function attention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Tensor<'f32'> | AttentionWithLse {
  return wrap(binding.attention(q, k, v, opts satisfies RawAttentionOptions | undefined));
}

/** attention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: AttentionOptions & { returnLse: true }): Promise<AttentionWithLse>;
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Promise<Tensor<'f32'>>;
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Promise<Tensor<'f32'> | AttentionWithLse> {
  return wrap(await binding.attentionAsync(q, k, v, opts satisfies RawAttentionOptions | undefined));
}

export interface BlockSparseAttentionOptions {
  /** Block size in tokens, an integer in [8, 128] (16, 32, 64, 128 fastest). Nq and Nk must be multiples of it. */
  block: number;
  /** Memory order of q, k, v and the output, as for attention(): 'bhnd' (default) or 'bnhd'. */
  layout?: 'bhnd' | 'bnhd';
  /**
   * Causal masking inside the present blocks (bottom-right aligned: query i sees key j iff j ≤ i + Nk − Nq).
   * DeepSpeed applies none by itself, even to 'unidirectional' layouts (their diagonal blocks are full).
   */
  causal?: boolean;
  /** Multiplies QKᵀ before the softmax. Default 1/√D. */
  scale?: number;
  /** [B, Nk], dtype u8, i8, i32 or i64, nonzero = attend. */
  keyPaddingMask?: Tensor<'u8' | 'i8' | 'i32' | 'i64'> | null;
  /** Also return the log-sum-exp of each row, [B, Hq, Nq] (−Infinity for rows with no visible key). */
  returnLse?: boolean;
}

/** A block layout: [H, Nq/block, Nk/block] (one per query head), [1, Nq/block, Nk/block] or [Nq/block, Nk/block] (shared). */
export type BlockLayout = Tensor<'u8' | 'i8' | 'i32' | 'i64'>;

/**
 * Block-sparse attention (fp32): the math of attention() where query i sees key j only if
 * layout[h, ⌊i/block⌋, ⌊j/block⌋] ≠ 0 (nonzero = present block), as DeepSpeed's SparseSelfAttention
 * computes it. The cost is proportional to the number of present blocks (each query-block row walks its own
 * list of present key blocks, merged into runs, through flash attention's tile code). Rows with no visible key
 * give zeros (lse −Infinity). q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (Hq a multiple of Hkv), or 'bnhd'.
 * Sequence lengths must be multiples of `block` (RangeError otherwise; no internal padding: pad the inputs
 * and mask the padded keys with keyPaddingMask). Layouts come from lib/ops/layouts.ts.
 *
 * @example const out = blockSparseAttention(q, k, v, bigbirdLayout({ numHeads: 12, block: 64, seqLen: 4096, seed: 1 }), { block: 64 });
 */
export function blockSparseAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions & { returnLse: true }): AttentionWithLse;
export function blockSparseAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Tensor<'f32'>;
export function blockSparseAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Tensor<'f32'> | AttentionWithLse {
  return wrap(binding.blockSparseAttention(q, k, v, layout, opts satisfies RawBlockSparseOptions));
}

/** blockSparseAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions & { returnLse: true }): Promise<AttentionWithLse>;
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Promise<Tensor<'f32'>>;
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Promise<Tensor<'f32'> | AttentionWithLse> {
  return wrap(await binding.blockSparseAttentionAsync(q, k, v, layout, opts satisfies RawBlockSparseOptions));
}
