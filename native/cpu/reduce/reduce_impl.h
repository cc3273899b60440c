// Reduction kernel templates, written once over the ISA structs of native/core/simd.h. Included by
// reduce.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"

namespace tf {
namespace {

// Sum of x[0..n) in double: four accumulators (eight double chains with AVX2) hide the add latency.
template <class V>
double sum_kernel(const float* x, size_t n) {
  constexpr size_t W = V::W;
  auto s0 = V::acc_zero(), s1 = V::acc_zero(), s2 = V::acc_zero(), s3 = V::acc_zero();
  size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    V::acc_add(s0, V::load(x + i));
    V::acc_add(s1, V::load(x + i + W));
    V::acc_add(s2, V::load(x + i + 2 * W));
    V::acc_add(s3, V::load(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) V::acc_add(s0, V::load(x + i));
  if (i < n) V::acc_add(s1, V::load_tail(x + i, n - i));
  return (V::acc_total(s0) + V::acc_total(s1)) + (V::acc_total(s2) + V::acc_total(s3));
}

// acc[c] += sum_r x[r * stride + c] for c < cols, in double; each column in row order.
template <class V>
void sum_rows_kernel(const float* x, size_t rows, size_t stride, size_t cols, double* acc) {
  constexpr size_t W = V::W;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = x + r * stride;
    size_t c = 0;
    for (; c + W <= cols; c += W) V::add_to_f64(acc + c, V::load(row + c));
    for (; c < cols; ++c) acc[c] += static_cast<double>(row[c]);
  }
}

template <class V>
void fill_reduce(Kernels& k) {
  k.sum_f32 = sum_kernel<V>;
  k.sum_rows_f64 = sum_rows_kernel<V>;
}

}  // namespace
}  // namespace tf
