/**
 * Flash attention on the CPU (native, fp32, SIMD): softmax(scale·QKᵀ + bias + masks)·V computed tile by tile
 * with an online softmax. No Nq×Nk score matrix is ever built: memory is linear in the sequence length
 * (each pool thread holds one tile of scratch), and causal / windowed attention skips the key tiles no query
 * of a tile can see, so causal costs about half. Results are bitwise independent of the thread count.
 */
import {
  binding,
  type RawAttentionOptions,
  type RawAttentionResult,
  type RawBigBirdOptions,
  type RawBlockSparseOptions,
  type RawLongformerOptions,
  type RawTensor,
} from '../native';
import { Tensor } from '../tensor';

export interface AttentionOptions {
  /**
   * Memory order of q, k, v and the output: 'bhnd' = [B, H, N, D] (default) or 'bnhd' = [B, N, H, D] (the
   * order a fused QKV projection produces before any transpose). q is read in place; 'bnhd' keys and values
   * are repacked once per call into [B, H, N, D] scratch (2·B·Hkv·Nk·D floats, linear in N) when several query
   * tiles read them, since rows H·D apart are slow to re-read; the output has q's layout.
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
  /** An existing f32 tensor of the result's shape (q's shape and layout) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

export interface AttentionWithLse {
  /** The attention output, q's shape and layout. */
  out: Tensor<'f32'>;
  /** log Σ_j exp(scale·q·k_j + bias), [B, Hq, Nq]. */
  lse: Tensor<'f32'>;
}

// opts.out, when given, is the returned output itself (the binding wrote into it)
function wrap(raw: RawTensor<'f32'> | RawAttentionResult, out: Tensor<'f32'> | null | undefined): Tensor<'f32'> | AttentionWithLse {
  if ('lse' in raw) return { out: out ?? Tensor.fromNative(raw.out), lse: Tensor.fromNative(raw.lse) };
  return out ?? Tensor.fromNative(raw);
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
  return wrap(binding.attention(q, k, v, opts satisfies RawAttentionOptions | undefined), opts?.out);
}

/** attention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: AttentionOptions & { returnLse: true }): Promise<AttentionWithLse>;
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Promise<Tensor<'f32'>>;
export async function attentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: AttentionOptions): Promise<Tensor<'f32'> | AttentionWithLse> {
  return wrap(await binding.attentionAsync(q, k, v, opts satisfies RawAttentionOptions | undefined), opts?.out);
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
  /** An existing f32 tensor of the result's shape (q's shape and layout) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
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
  return wrap(binding.blockSparseAttention(q, k, v, layout, opts satisfies RawBlockSparseOptions), opts?.out);
}

/** blockSparseAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions & { returnLse: true }): Promise<AttentionWithLse>;
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Promise<Tensor<'f32'>>;
export async function blockSparseAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, layout: BlockLayout, opts: BlockSparseAttentionOptions): Promise<Tensor<'f32'> | AttentionWithLse> {
  return wrap(await binding.blockSparseAttentionAsync(q, k, v, layout, opts satisfies RawBlockSparseOptions), opts?.out);
}

/** An integer [B, N] mask, Hugging Face convention (nonzero = on). */
export type TokenMask = Tensor<'u8' | 'i8' | 'i32' | 'i64'>;

export interface LongformerAttentionOptions {
  /**
   * The layer's `attention_window` (config.attention_window, or its entry for this layer): a positive even
   * integer w. Each local query i sees the keys i − w/2 … i + w/2 (one-sided window w/2).
   */
  window: number;
  /** Memory order of every q, k, v (local and global) and of the output: 'bhnd' (default) or 'bnhd' = [B, N, H, D]. */
  layout?: 'bhnd' | 'bnhd';
  /** Multiplies the queries (local and global) before the products. Default 1/√D, as upstream. */
  scale?: number;
  /** [B, N], nonzero = token, 0 = padding (Hugging Face attention_mask). Padded queries give zero rows. */
  attentionMask?: TokenMask | null;
  /** [B, N], nonzero = global token (Hugging Face global_attention_mask); may differ per batch row. */
  globalAttentionMask?: TokenMask | null;
  /**
   * The global projections (query_global, key_global, value_global of the same hidden states), q's and k's
   * shapes and layout. Required when some unpadded token is global; only the rows of global tokens of globalQ
   * are read.
   */
  globalQ?: Tensor<'f32'> | null;
  globalK?: Tensor<'f32'> | null;
  globalV?: Tensor<'f32'> | null;
  /** An existing f32 tensor of the result's shape (q's shape and layout) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

/**
 * Longformer self-attention exactly as Hugging Face's LongformerSelfAttention computes it (transformers 4.41),
 * after the layer's projections. q, k, v: [B, H, N, D] (or [B, N, H, D] with layout 'bnhd'), one sequence
 * length N (any N: upstream's padding to a multiple of the window adds only padded tokens, which change
 * nothing, so this op needs none).
 *
 * - A local (non-global, unpadded) query i attends, in one softmax, to the unpadded non-global keys j with
 *   |i − j| ≤ window/2 and to every global key of its batch row (each key once: upstream gives global and padded
 *   keys finfo.min inside the band, which underflows to exactly zero, and adds the global keys as separate
 *   columns), with k and v.
 * - A global query i attends to every unpadded key with globalQ[i]·globalK, values globalV.
 * - Padded queries give zero rows; the queries are scaled by 1/√D before the products.
 *
 * The band runs on the block-sparse kernel (blocks of 64 queries, the window masked per query, global keys
 * gathered as extra keys), the global rows on flash attention: memory stays linear in N.
 *
 * @example const out = longformerAttention(q, k, v, { window: 512, attentionMask, globalAttentionMask, globalQ, globalK, globalV });
 */
export function longformerAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: LongformerAttentionOptions): Tensor<'f32'> {
  const raw = binding.longformerAttention(q, k, v, opts satisfies RawLongformerOptions);
  return opts?.out ?? Tensor.fromNative(raw);
}

/** longformerAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function longformerAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: LongformerAttentionOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.longformerAttentionAsync(q, k, v, opts satisfies RawLongformerOptions);
  return opts?.out ?? Tensor.fromNative(raw);
}

export interface BigBirdAttentionOptions {
  /** config.block_size: an integer in [1, 128]. N must be a multiple of it and N / block ≥ 4. */
  block: number;
  /**
   * config.num_random_blocks r (default 3, upstream's default; taken from randomTable's last dim when a table
   * is given).
   */
  numRandomBlocks?: number;
  /**
   * The random key blocks, i32 or i64 [H, N/block − 2, r]: entry [h, i − 1, k] is the k-th random block of query
   * block row i of head h (every batch row uses the same table, as upstream). Absent: all zeros, upstream's
   * eval-mode table (every random block is block 0). A table recorded from upstream (e.g. the fixture's
   * aux.rand_attn.layer{i}) replays a train-mode draw; bigbirdRandomTable() (lib/ops/layouts.ts) draws a new one.
   */
  randomTable?: Tensor<'i32' | 'i64'> | null;
  /** Memory order of q, k, v and the output: 'bhnd' (default) or 'bnhd' = [B, N, H, D]. */
  layout?: 'bhnd' | 'bnhd';
  /** Multiplies QKᵀ before the softmax. Default 1/√D, as upstream. */
  scale?: number;
  /** [B, N], nonzero = token, 0 = padding (Hugging Face attention_mask). Padded queries give zero rows. */
  attentionMask?: TokenMask | null;
  /** An existing f32 tensor of the result's shape (q's shape and layout) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

/**
 * BigBird block-sparse self-attention exactly as Hugging Face's BigBirdBlockSparseAttention computes it
 * (transformers 4.41, bigbird_block_sparse_attention), after the projections. q, k, v: [B, H, N, D] (or 'bnhd'),
 * N a multiple of `block`, nb = N / block ≥ 4 blocks. Query block row i sees, in one softmax:
 *
 * - i = 0 and i = nb − 1: every key;
 * - i = 1: key blocks 0, 1, 2, nb − 1 and the random blocks of row i;
 * - i = nb − 2: key blocks 0, nb − 3, nb − 2, nb − 1 and its random blocks;
 * - otherwise: blocks 0, i − 1, i, i + 1, nb − 1 and its random blocks.
 *
 * Blocks are gathered and concatenated as upstream does, so a block listed twice (a random block that is also a
 * sliding or global block; with the eval-mode all-zero table, block 0 r + 1 times) counts twice in the softmax.
 * Padded keys get zero weight (upstream adds −10000, which underflows to exactly zero whenever the row has an
 * unpadded key, as every unpadded query does: it sees itself) and padded queries give zero rows.
 *
 * Not included: upstream's fallback to full attention when N ≤ (5 + 2r)·block (BigBirdModel switches to
 * attention_type 'original_full'; a model does that with attention()), and the padding of the sequence to a
 * multiple of the block (BigBirdModel pads the inputs; pass the padded tensors and mask).
 *
 * @example const out = bigbirdAttention(q, k, v, { block: 64, numRandomBlocks: 3, attentionMask }); // eval-mode table
 */
export function bigbirdAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: BigBirdAttentionOptions): Tensor<'f32'> {
  const raw = binding.bigbirdAttention(q, k, v, opts satisfies RawBigBirdOptions);
  return opts?.out ?? Tensor.fromNative(raw);
}

/** bigbirdAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function bigbirdAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts: BigBirdAttentionOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.bigbirdAttentionAsync(q, k, v, opts satisfies RawBigBirdOptions);
  return opts?.out ?? Tensor.fromNative(raw);
}
