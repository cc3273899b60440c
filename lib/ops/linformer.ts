/**
 * Linformer attention (native, fp32), with the semantics of lucidrains/linformer `LinformerSelfAttention`:
 * keys and values are projected along the sequence axis to kp positions, K' = E[:Nk]ᵀK and V' = F[:Nk]ᵀV with
 * projections E, F of shape [maxSeqLen, kp] (upstream's proj_k / proj_v parameters; only their first Nk rows
 * are used for a shorter input, as upstream slices them), then exact attention softmax(scale·QK'ᵀ)V' over the
 * kp projected positions (the flash kernel). Cost O(N·kp·D).
 */
import { binding } from '../native';
import { Tensor } from '../tensor';

export interface LinformerOptions {
  /** Multiplies QK'ᵀ before the softmax. Default 1/√D (upstream dim_head^-0.5). */
  scale?: number;
  /** An existing f32 tensor of the result's shape (q's, [B, H, Nq, D]) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

/**
 * q [B, H, Nq, D]; k, v [B, Hkv, Nk, D] with H a multiple of Hkv (Hkv = 1: upstream's one_kv_head);
 * projK [maxSeqLen, kp] with maxSeqLen ≥ Nk; projV the same shape, or null to share projK (upstream share_kv,
 * where the values are the keys: pass k as v). Returns [B, H, Nq, D]. Throws TypeError / RangeError naming
 * the bad argument.
 * @example linformerAttention(q, k, v, projK, projV) // projK, projV [seqLen, 256]
 */
export function linformerAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, projK: Tensor<'f32'>, projV?: Tensor<'f32'> | null, opts?: LinformerOptions): Tensor<'f32'> {
  const raw = binding.linformerAttention(q, k, v, projK, projV, opts);
  return opts?.out ?? Tensor.fromNative(raw);
}

/** linformerAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function linformerAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, projK: Tensor<'f32'>, projV?: Tensor<'f32'> | null, opts?: LinformerOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.linformerAttentionAsync(q, k, v, projK, projV, opts);
  return opts?.out ?? Tensor.fromNative(raw);
}
