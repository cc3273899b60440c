// RetNet retention (torchscale MultiScaleRetention + RetNetRelPos), the three forms with upstream's own per-row
// normalisations (they agree only up to those, about 1e-3 before the group norm; each matches its own upstream):
//
//   gamma_h = exp(decay_h) (decay = log(1 - 2^(-5-h)), per head); D[i, j] = gamma^(i-j) for j <= i, else 0
//   parallel:   s_ij = (q_i . k_j) D[i, j] / sqrt(sum_j D[i, j]);  out_i = sum_j s_ij v_j / clamp(sum_j |s_ij|, 1, 5e4)
//   recurrent:  scale_t = scale_{t-1} gamma + 1;  KV_t = KV_{t-1} sqrt(scale_{t-1}) gamma / sqrt(scale_t)
//               + k_t v_t^T / sqrt(scale_t);  out_t = q_t KV_t  (a fresh state is KV = 0, scale = 0)
//   chunkwise:  chunks of B tokens: the parallel form inside a chunk (per-row scale clamp(sum |s|, min 1)) plus
//               the decayed state of the previous chunks, both rescaled to the larger of the two scales
//               (torchscale's chunk_recurrent_forward, with RetNetRelPos's inner_mask / cross_decay /
//               query_inner_decay / value_inner_decay)
//
// q, k: [batch, heads, T, dk] (after the xpos-style rotation; k already scaled by dk^-0.5); v: [batch, T, heads*dv];
// out: [batch, T, heads, dv]. The recurrent state: kv [batch, heads, dv, dk], scale [heads].
// Threads run over (batch, head) for the parallel form; the recurrent and chunkwise forms run over (batch, group of
// heads), each group block by block (chunk by chunk) across its heads (retention.cc). Each (batch, head) is computed
// by one thread in a fixed order whatever its group: the same bits at any thread count.
#pragma once
#include <algorithm>
#include <cstdint>

namespace tf::cpu {

enum class RetentionForm : int { Parallel = 0, Recurrent = 1, Chunkwise = 2 };

struct RetentionArgs {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  const float* decay = nullptr;  // [heads], log decay
  float* out = nullptr;
  const float* kv_in = nullptr;     // recurrent: [batch, heads, dv, dk] or null (fresh)
  const float* scale_in = nullptr;  // recurrent: [heads] or null (fresh)
  float* kv_out = nullptr;          // recurrent: [batch, heads, dv, dk] or null
  float* scale_out = nullptr;       // recurrent: [heads] or null
  int64_t batch = 0, heads = 0, T = 0, dk = 0, dv = 0, chunk = 0;
  RetentionForm form = RetentionForm::Parallel;
};

void retention_f32(const RetentionArgs& a);

// The chunkwise form's scratch (retention_chunk_group_f32): buffers of whole 64-byte lines
inline int64_t retention_r16(int64_t n) { return (n + 15) / 16 * 16; }

// The recurrent form's blocks of tokens (retention_rec_group_f32): 2048 / dk of them (at least 8), whose keys and
// queries stay in L1 while the state's rows pass through them
inline int64_t retention_rec_block(int64_t dk) { return std::max<int64_t>(8, 2048 / std::max<int64_t>(dk, 1)); }
// its scratch for a group of nh heads: their scales, a block's plan (7 floats a token), 16 (alignment), the block's
// keys and queries
inline int64_t retention_rec_group_floats(int64_t dk, int64_t nh) {
  const int64_t Tb = retention_rec_block(dk);
  return retention_r16(nh) + 7 * Tb + 16 + 2 * Tb * dk;
}
// per head of a group: its state [dk, dv + 16], inner mask [B, B], query and value inner decays [B] each
inline int64_t retention_chunk_head_floats(int64_t B, int64_t dk, int64_t dv) {
  return retention_r16(dk * (dv + 16)) + retention_r16(B * B) + retention_r16(2 * B);
}
// a group of nh heads: 16 (alignment) + the chunk's buffers (powers, values, scores and queries, keys, inner scales,
// column sums, the heads' scales) + nh heads
inline int64_t retention_chunk_group_floats(int64_t B, int64_t dk, int64_t dv, int64_t nh) {
  return 16 + retention_r16(B) + retention_r16(B * (dv + 16)) + retention_r16(B * (B + dk)) + retention_r16(B * dk) +
         retention_r16(B) + retention_r16(2 * dv) + retention_r16(2 * nh) + nh * retention_chunk_head_floats(B, dk, dv);
}

}  // namespace tf::cpu
