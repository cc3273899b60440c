// RWKV-4 WKV (time mixing) with the numerically stabilised running-maximum form of Hugging Face's
// `rwkv_linear_attention_cpu` (transformers/models/rwkv/modeling_rwkv.py). Per channel c, with
// w = -exp(time_decay[c]) and u = time_first[c], and the state (num, den, max) (initially 0, 0, -1e38):
//
//   m  = max(max, k_t + u)                      out_t = (e^(max-m) num + e^(k_t+u-m) v_t) / (e^(max-m) den + e^(k_t+u-m))
//   m' = max(max + w, k_t)                      num = e^(max+w-m') num + e^(k_t-m') v_t
//                                               den = e^(max+w-m') den + e^(k_t-m'),  max = m'
//
// Channels are independent: SIMD runs over channels, the thread pool over (batch, channel block). Each channel
// is computed by exactly one thread in one fixed order, so results do not depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../../core/scratch.h"  // used by wkv_impl.h: included here, before the per-ISA files' target regions

namespace tf::cpu {

// Initial `max` of a fresh state (Hugging Face's value).
constexpr float kWkvInitialMax = -1e38f;

// time_decay, time_first: [C] (raw parameters: the kernel uses w = -exp(time_decay)); k, v, out: [batch, T, C];
// num, den, max: [batch, C], read as the initial state and overwritten with the state after the last token.
void wkv_f32(const float* time_decay, const float* time_first, const float* k, const float* v, float* out,
             int64_t batch, int64_t T, int64_t C, float* num, float* den, float* max);

// The most mixes token_shift_f32 takes in one call (RWKV-4 needs 3 for time mixing, 2 for channel mixing).
constexpr int kTokenShiftMaxMixes = 8;

// RWKV's token shift with its mixes (Hugging Face RwkvSelfAttention.extract_key_value, RwkvFeedForward): for each
// mix i < nmix (at most kTokenShiftMaxMixes),
//
//   outs[i][b, t, c] = x[b, t, c] * mixes[i][c] + p[b, t, c] * (1 - mixes[i][c]),   p[b, t] = x[b, t - 1] (t > 0),
//                                                                                     state[b] (t = 0)
//
// in float32 with 1 - mix, both products and the sum each rounded, as torch computes the expression (no fused
// multiply-adds: wkv.cc is built for the baseline ISA, which on x86-64 has none). x, outs: [batch, T, C]; state:
// [batch, C], or null for zeros (a fresh sequence, as upstream's zero padding). Then, when state_out is given, the
// state after the call: state_out[b] = x[b, T - 1] (T = 0: the state before; state_out may be state). Rows in
// parallel; each element is computed the same way whatever the split.
void token_shift_f32(const float* x, const float* state, const float* const* mixes, int nmix, float* const* outs,
                     int64_t batch, int64_t T, int64_t C, float* state_out);

}  // namespace tf::cpu
