// Softmax row kernel templates, written once over the ISA structs of native/core/simd.h. Included by
// softmax.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "softmax.h"

namespace tf {
namespace {

// Three passes over the row (which is in cache after the first): the maximum of x + mask; e = exp(x + mask - max)
// summed in double (stored for softmax); then e / sum, or x + mask - max - log(sum).
template <class V, int Mode, bool Log>
void softmax_row(const float* x, const float* m, float* y, size_t n) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  constexpr float inf = std::numeric_limits<float>::infinity();
  const R mscalar = Mode == 2 ? V::set1(m[0]) : V::zero();
  auto in = [&](size_t i) -> R {
    R v = V::load(x + i);
    if constexpr (Mode == 1) v = V::add(v, V::load(m + i));
    if constexpr (Mode == 2) v = V::add(v, mscalar);
    return v;
  };
  auto in_tail = [&](size_t i, size_t k) -> R {
    R v = V::load_tail(x + i, k);
    if constexpr (Mode == 1) v = V::add(v, V::load_tail(m + i, k));
    if constexpr (Mode == 2) v = V::add(v, mscalar);
    return v;
  };
  if (n == 0) return;
  const size_t tail = n % W, body = n - tail;

  R mx0 = V::set1(-inf), mx1 = V::set1(-inf);
  size_t i = 0;
  for (; i + 2 * W <= body; i += 2 * W) {
    mx0 = V::max(mx0, in(i));
    mx1 = V::max(mx1, in(i + W));
  }
  if (i < body) mx0 = V::max(mx0, in(i));
  if (tail) mx1 = V::max(mx1, V::fill_tail(in_tail(body, tail), tail, -inf));
  const float mx = std::max(V::hmax(mx0), V::hmax(mx1));

  if (mx == -inf) {  // every entry is -inf (fully masked), or -inf and NaN: zeros (-inf), NaN stays NaN
    for (size_t j = 0; j < n; ++j) {
      float v = x[j] + (Mode == 1 ? m[j] : Mode == 2 ? m[0] : 0.0f);
      y[j] = v != v ? v : (Log ? -inf : 0.0f);
    }
    return;
  }

  const R vmx = V::set1(mx);
  auto s0 = V::acc_zero(), s1 = V::acc_zero();
  for (i = 0; i + 2 * W <= body; i += 2 * W) {
    R e0 = simd::exp<V>(V::sub(in(i), vmx));
    R e1 = simd::exp<V>(V::sub(in(i + W), vmx));
    if constexpr (!Log) {
      V::store(y + i, e0);
      V::store(y + i + W, e1);
    }
    V::acc_add(s0, e0);
    V::acc_add(s1, e1);
  }
  if (i < body) {
    R e0 = simd::exp<V>(V::sub(in(i), vmx));
    if constexpr (!Log) V::store(y + i, e0);
    V::acc_add(s0, e0);
  }
  if (tail) {
    R e = V::fill_tail(simd::exp<V>(V::sub(in_tail(body, tail), vmx)), tail, 0.0f);
    if constexpr (!Log) V::store_tail(y + body, e, tail);
    V::acc_add(s1, e);
  }
  const double sum = V::acc_total(s0) + V::acc_total(s1);

  if constexpr (Log) {
    const R ls = V::set1(static_cast<float>(std::log(sum)));
    for (i = 0; i < body; i += W) V::store(y + i, V::sub(V::sub(in(i), vmx), ls));
    if (tail) V::store_tail(y + body, V::sub(V::sub(in_tail(body, tail), vmx), ls), tail);
  } else {
    const R inv = V::set1(static_cast<float>(1.0 / sum));
    for (i = 0; i < body; i += W) V::store(y + i, V::mul(V::load(y + i), inv));
    if (tail) V::store_tail(y + body, V::mul(V::load_tail(y + body, tail), inv), tail);
  }
}

template <class V>
void softmax_kernel(const float* x, const float* mask, int mode, float* y, size_t n, bool log) {
  switch (mode * 2 + (log ? 1 : 0)) {
    case 0: return softmax_row<V, 0, false>(x, mask, y, n);
    case 1: return softmax_row<V, 0, true>(x, mask, y, n);
    case 2: return softmax_row<V, 1, false>(x, mask, y, n);
    case 3: return softmax_row<V, 1, true>(x, mask, y, n);
    case 4: return softmax_row<V, 2, false>(x, mask, y, n);
    default: return softmax_row<V, 2, true>(x, mask, y, n);
  }
}

template <class V>
void fill_softmax(Kernels& k) {
  k.softmax_f32 = softmax_kernel<V>;
}

}  // namespace
}  // namespace tf
