// Linformer attention on the CPU, fp32, with the semantics of lucidrains/linformer LinformerSelfAttention:
// keys and values are projected along the sequence axis, K' = E[:Nk]ᵀ K and V' = F[:Nk]ᵀ V with E, F of shape
// [n_max, kp] (only their first Nk rows are used when the input is shorter, as upstream slices them), then
// exact attention softmax(scale · Q K'ᵀ) V' over the kp projected positions (flash attention, no mask).
// Shapes: q [B, H, Nq, D]; k, v [B, Hkv, Nk, D] with H a multiple of Hkv (Hkv = 1: one key/value head);
// proj_v null shares E for the values. Memory: 2 · B · Hkv · kp · D floats for K' and V'.
#pragma once
#include <cstdint>

namespace tf::cpu {

struct LinformerParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* proj_k = nullptr;  // [n_max, kp], rows 0..Nk-1 used
  const float* proj_v = nullptr;  // same shape, or null: proj_k
  float* out = nullptr;           // [B, H, Nq, D]
  int64_t B = 0, H = 0, Hkv = 0, Nq = 0, Nk = 0, D = 0, Kp = 0;
  float scale = 1.0f;
};

// Arguments are not checked here (the N-API layer does that): 1 <= D <= 256, H % Hkv == 0, Nk <= n_max.
void linformer_attention_f32(const LinformerParams& p);

}  // namespace tf::cpu
