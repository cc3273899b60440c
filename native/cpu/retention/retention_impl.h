// The retention forms for one (batch, head), written once over the ISA structs of native/core/simd.h. Included by
// retention.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files. SIMD runs along dk and dv
// (dot products and row updates); the scratch is a caller-provided buffer (retention_scratch_floats).
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "retention.h"

namespace tf {
namespace {

template <class V>
inline float ret_dot(const float* a, const float* b, int64_t n) {
  constexpr int64_t W = V::W;
  typename V::reg s0 = V::zero(), s1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = V::fma(V::load(a + i), V::load(b + i), s0);
    s1 = V::fma(V::load(a + i + W), V::load(b + i + W), s1);
  }
  for (; i + W <= n; i += W) s0 = V::fma(V::load(a + i), V::load(b + i), s0);
  if (i < n) s1 = V::fma(V::load_tail(a + i, n - i), V::load_tail(b + i, n - i), s1);
  return V::hsum(V::add(s0, s1));
}

// y = y * beta + x * alpha
template <class V>
inline void ret_scale_add(float* y, float beta, const float* x, float alpha, int64_t n) {
  constexpr int64_t W = V::W;
  const typename V::reg vb = V::set1(beta), va = V::set1(alpha);
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, V::fma(V::load(x + i), va, V::mul(V::load(y + i), vb)));
  if (i < n) {
    const size_t r = static_cast<size_t>(n - i);
    V::store_tail(y + i, V::fma(V::load_tail(x + i, r), va, V::mul(V::load_tail(y + i, r), vb)), r);
  }
}

// row = row * beta + x * alpha, then returns <q, row>: the recurrent form's state update and read-out of one row,
// fused so that the row is read and written once per token (the same arithmetic as ret_scale_add, then ret_dot).
template <class V>
inline float ret_update_dot(float* row, float beta, const float* x, float alpha, const float* q, int64_t n) {
  constexpr int64_t W = V::W;
  const typename V::reg vb = V::set1(beta), va = V::set1(alpha);
  typename V::reg s0 = V::zero(), s1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const typename V::reg r0 = V::fma(V::load(x + i), va, V::mul(V::load(row + i), vb));
    const typename V::reg r1 = V::fma(V::load(x + i + W), va, V::mul(V::load(row + i + W), vb));
    V::store(row + i, r0);
    V::store(row + i + W, r1);
    s0 = V::fma(V::load(q + i), r0, s0);
    s1 = V::fma(V::load(q + i + W), r1, s1);
  }
  for (; i + W <= n; i += W) {
    const typename V::reg r0 = V::fma(V::load(x + i), va, V::mul(V::load(row + i), vb));
    V::store(row + i, r0);
    s0 = V::fma(V::load(q + i), r0, s0);
  }
  if (i < n) {
    const size_t r = static_cast<size_t>(n - i);
    const typename V::reg r0 = V::fma(V::load_tail(x + i, r), va, V::mul(V::load_tail(row + i, r), vb));
    V::store_tail(row + i, r0, r);
    s1 = V::fma(V::load_tail(q + i, r), r0, s1);
  }
  return V::hsum(V::add(s0, s1));
}

// scratch floats: T (powers) + T (scores) + dv (accumulator) + 2 dk*dv (chunk kv) + B*B (chunk mask) + 2 B
template <class V>
void retention_head(const cpu::RetentionArgs& a, int64_t b, int64_t h, float* scratch) {
  const int64_t T = a.T, dk = a.dk, dv = a.dv, H = a.heads;
  const float* q = a.q + (b * H + h) * T * dk;
  const float* k = a.k + (b * H + h) * T * dk;
  const int64_t vstride = H * dv;  // between tokens, in v and out
  const float* v = a.v + b * T * vstride + h * dv;
  float* out = a.out + b * T * vstride + h * dv;
  const double decay = a.decay[h];
  float* pw = scratch;         // pw[d] = gamma^d
  float* s = pw + T;          // scores of one row
  float* acc = s + T;         // [dv]
  for (int64_t d = 0; d < T; ++d) pw[d] = static_cast<float>(std::exp(static_cast<double>(d) * decay));

  if (a.form == cpu::RetentionForm::Parallel) {
    double rowsum = 0.0;  // sum_j gamma^(i-j), j <= i
    for (int64_t i = 0; i < T; ++i) {
      rowsum += pw[i];
      const float inv_sqrt = static_cast<float>(1.0 / std::sqrt(rowsum));
      double abs_sum = 0.0;
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = ret_dot<V>(q + i * dk, k + j * dk, dk) * (pw[i - j] * inv_sqrt);
        abs_sum += std::fabs(static_cast<double>(s[j]));
      }
      const float denom = static_cast<float>(std::min(std::max(abs_sum, 1.0), 5e4));
      std::fill(acc, acc + dv, 0.0f);
      for (int64_t j = 0; j <= i; ++j) ret_scale_add<V>(acc, 1.0f, v + j * vstride, s[j] / denom, dv);
      std::copy(acc, acc + dv, out + i * vstride);
    }
    return;
  }

  if (a.form == cpu::RetentionForm::Recurrent) {
    const float gamma = static_cast<float>(std::exp(decay));
    float* kv = a.kv_out + (b * H + h) * dv * dk;  // the state, updated in place
    if (a.kv_in)
      std::copy(a.kv_in + (b * H + h) * dv * dk, a.kv_in + (b * H + h + 1) * dv * dk, kv);
    else
      std::fill(kv, kv + dv * dk, 0.0f);
    float scale = a.scale_in ? a.scale_in[h] : 0.0f;  // a fresh state: KV = 0, scale = 0 (then scale_1 = 1)
    for (int64_t t = 0; t < T; ++t) {
      const float ns = scale * gamma + 1.0f;
      const float sq = std::sqrt(ns);
      const float keep = std::sqrt(scale) * gamma / sq;
      const float* kt = k + t * dk;
      const float* vt = v + t * vstride;
      float* ot = out + t * vstride;
      for (int64_t e = 0; e < dv; ++e) ot[e] = ret_update_dot<V>(kv + e * dk, keep, kt, vt[e] / sq, q + t * dk, dk);
      scale = ns;
    }
    if (a.scale_out && b == 0) a.scale_out[h] = scale;
    return;
  }

  // chunkwise
  const int64_t B = a.chunk, nchunks = T / B;
  float* kvs = acc + dv;      // state [dk, dv]
  float* kvc = kvs + dk * dv;  // this chunk's [dk, dv]
  float* mask = kvc + dk * dv;  // [B, B] inner mask (normalised)
  float* qid = mask + B * B;    // [B] query inner decay
  float* vid = qid + B;         // [B] value inner decay
  double last = 0.0;
  for (int64_t j = 0; j < B; ++j) last += pw[B - 1 - j];
  for (int64_t i = 0; i < B; ++i) {
    double rs = 0.0;
    for (int64_t j = 0; j <= i; ++j) rs += pw[i - j];
    const double sc = std::sqrt(rs);
    for (int64_t j = 0; j < B; ++j) mask[i * B + j] = j <= i ? static_cast<float>(pw[i - j] / sc) : 0.0f;
    qid[i] = static_cast<float>(std::exp(decay * static_cast<double>(i + 1)) / (sc / last));
    vid[i] = static_cast<float>(pw[B - 1 - i] / last);
  }
  const float cross = static_cast<float>(std::exp(decay * static_cast<double>(B)));
  std::fill(kvs, kvs + dk * dv, 0.0f);
  float kv_scale = 1.0f;
  for (int64_t c = 0; c < nchunks; ++c) {
    const float* qc = q + c * B * dk;
    const float* kc = k + c * B * dk;
    const float* vc = v + c * B * vstride;
    float* oc = out + c * B * vstride;
    for (int64_t i = 0; i < B; ++i) {
      double abs_sum = 0.0;
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = ret_dot<V>(qc + i * dk, kc + j * dk, dk) * mask[i * B + j];
        abs_sum += std::fabs(static_cast<double>(s[j]));
      }
      const float inner_scale = static_cast<float>(std::max(abs_sum, 1.0));
      std::fill(acc, acc + dv, 0.0f);
      for (int64_t j = 0; j <= i; ++j) ret_scale_add<V>(acc, 1.0f, vc + j * vstride, s[j] / inner_scale, dv);
      // cross part: (q_i qid_i) . (state / kv_scale), rows of the state are over dk
      const float all = std::max(inner_scale, kv_scale);
      const float a_in = all / inner_scale, a_cross = all / kv_scale;
      float* o = oc + i * vstride;
      for (int64_t e = 0; e < dv; ++e) o[e] = acc[e] / a_in;
      const float qs = qid[i];
      for (int64_t d = 0; d < dk; ++d) {
        const float qd = qc[i * dk + d] * qs;
        ret_scale_add<V>(o, 1.0f, kvs + d * dv, qd / kv_scale / a_cross, dv);
      }
    }
    // this chunk's kv: sum_j k_j^T (v_j vid_j); then the state update and its scale
    std::fill(kvc, kvc + dk * dv, 0.0f);
    for (int64_t j = 0; j < B; ++j)
      for (int64_t d = 0; d < dk; ++d) ret_scale_add<V>(kvc + d * dv, 1.0f, vc + j * vstride, kc[j * dk + d] * vid[j], dv);
    ret_scale_add<V>(kvs, cross, kvc, 1.0f, dk * dv);
    double mx = 0.0;
    for (int64_t e = 0; e < dv; ++e) {
      double col = 0.0;
      for (int64_t d = 0; d < dk; ++d) col += std::fabs(static_cast<double>(kvs[d * dv + e]));
      mx = std::max(mx, col);
    }
    kv_scale = static_cast<float>(std::max(mx, 1.0));
  }
}

template <class V>
void fill_retention(Kernels& kt) {
  kt.retention_head_f32 = retention_head<V>;
}

}  // namespace
}  // namespace tf
