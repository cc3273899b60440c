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

}  // namespace tf::cpu
