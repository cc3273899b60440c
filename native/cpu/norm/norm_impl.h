// Normalization kernel templates over one row, written once over the ISA structs of native/core/simd.h.
// Included by norm.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"

namespace tf {
namespace {

// Sum of x[0..n) in double, two independent accumulators.
template <class V>
inline double row_sum(const float* x, size_t n) {
  constexpr size_t W = V::W;
  auto s0 = V::acc_zero(), s1 = V::acc_zero();
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V::acc_add(s0, V::load(x + i));
    V::acc_add(s1, V::load(x + i + W));
  }
  if (i + W <= n) {
    V::acc_add(s0, V::load(x + i));
    i += W;
  }
  if (i < n) V::acc_add(s1, V::load_tail(x + i, n - i));  // zero-filled lanes add nothing
  return V::acc_total(s0) + V::acc_total(s1);
}

template <class V, bool HasWeight, bool HasBias>
void layer_norm_row(const float* x, const float* w, const float* b, float* y, size_t n, float eps) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  if (n == 0) return;
  const double mean = row_sum<V>(x, n) / static_cast<double>(n);
  // mean = hi + lo: x - hi is exact for x near the mean (Sterbenz), so a large mean costs no accuracy.
  const float mhi = static_cast<float>(mean);
  const float mlo = static_cast<float>(mean - static_cast<double>(mhi));
  const R vhi = V::set1(mhi), vlo = V::set1(mlo);
  auto centered = [&](R v) { return V::sub(V::sub(v, vhi), vlo); };

  auto q0 = V::acc_zero(), q1 = V::acc_zero();
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V::acc_add_sq(q0, centered(V::load(x + i)));
    V::acc_add_sq(q1, centered(V::load(x + i + W)));
  }
  if (i + W <= n) {
    V::acc_add_sq(q0, centered(V::load(x + i)));
    i += W;
  }
  if (i < n) V::acc_add_sq(q1, V::fill_tail(centered(V::load_tail(x + i, n - i)), n - i, 0.0f));
  const double var = (V::acc_total(q0) + V::acc_total(q1)) / static_cast<double>(n);
  const R rstd = V::set1(static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps))));

  auto out = [&](R xv, R wv, R bv) {
    R t = V::mul(centered(xv), rstd);
    if constexpr (HasWeight && HasBias) return V::fma(t, wv, bv);
    if constexpr (HasWeight && !HasBias) return V::mul(t, wv);
    if constexpr (!HasWeight && HasBias) return V::add(t, bv);
    return t;
  };
  i = 0;
  for (; i + W <= n; i += W)
    V::store(y + i, out(V::load(x + i), HasWeight ? V::load(w + i) : V::zero(), HasBias ? V::load(b + i) : V::zero()));
  if (i < n) {
    const size_t k = n - i;
    V::store_tail(y + i, out(V::load_tail(x + i, k), HasWeight ? V::load_tail(w + i, k) : V::zero(),
                             HasBias ? V::load_tail(b + i, k) : V::zero()), k);
  }
}

template <class V>
void layer_norm_kernel(const float* x, const float* w, const float* b, float* y, size_t n, float eps) {
  if (w && b) return layer_norm_row<V, true, true>(x, w, b, y, n, eps);
  if (w) return layer_norm_row<V, true, false>(x, w, b, y, n, eps);
  if (b) return layer_norm_row<V, false, true>(x, w, b, y, n, eps);
  layer_norm_row<V, false, false>(x, w, b, y, n, eps);
}

template <class V, bool HasWeight>
void rms_norm_row(const float* x, const float* w, float* y, size_t n, float eps) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  if (n == 0) return;
  auto q0 = V::acc_zero(), q1 = V::acc_zero();
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V::acc_add_sq(q0, V::load(x + i));
    V::acc_add_sq(q1, V::load(x + i + W));
  }
  if (i + W <= n) {
    V::acc_add_sq(q0, V::load(x + i));
    i += W;
  }
  if (i < n) V::acc_add_sq(q1, V::load_tail(x + i, n - i));
  const double ms = (V::acc_total(q0) + V::acc_total(q1)) / static_cast<double>(n);
  const R rstd = V::set1(static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps))));
  i = 0;
  for (; i + W <= n; i += W) {
    R t = V::mul(V::load(x + i), rstd);
    V::store(y + i, HasWeight ? V::mul(t, V::load(w + i)) : t);
  }
  if (i < n) {
    const size_t k = n - i;
    R t = V::mul(V::load_tail(x + i, k), rstd);
    V::store_tail(y + i, HasWeight ? V::mul(t, V::load_tail(w + i, k)) : t, k);
  }
}

template <class V>
void rms_norm_kernel(const float* x, const float* w, float* y, size_t n, float eps) {
  if (w) return rms_norm_row<V, true>(x, w, y, n, eps);
  rms_norm_row<V, false>(x, w, y, n, eps);
}

template <class V>
void fill_norm(Kernels& k) {
  k.layer_norm_f32 = layer_norm_kernel<V>;
  k.rms_norm_f32 = rms_norm_kernel<V>;
}

}  // namespace
}  // namespace tf
