// FAVOR+ row kernels, written once over the ISA structs of native/core/simd.h. Included by favor.cc (scalar)
// and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"

namespace tf {
namespace {

// kind 0 (softmax features): x[i] = ratio · (exp(x[i] − shift) + eps); kind 1 (relu): x[i] = max(x[i], 0) + eps.
template <class V>
void favor_feature_row(float* x, size_t n, float shift, float ratio, float eps, int kind) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  const size_t tail = n % W, body = n - tail;
  const R vs = V::set1(shift), vr = V::set1(ratio), ve = V::set1(eps), z = V::zero();
  auto f = [&](R a) -> R {
    if (kind == 0) return V::mul(vr, V::add(simd::exp<V>(V::sub(a, vs)), ve));
    return V::add(V::max(z, a), ve);  // max(0, NaN) = NaN, as torch relu
  };
  for (size_t i = 0; i < body; i += W) V::store(x + i, f(V::load(x + i)));
  if (tail) V::store_tail(x + body, f(V::load_tail(x + body, tail)), tail);
}

template <class V>
void fill_favor(Kernels& k) {
  k.favor_feature_f32 = favor_feature_row<V>;
}

}  // namespace
}  // namespace tf
