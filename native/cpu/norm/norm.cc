#include "norm.h"

#include <algorithm>

#include "../../core/dispatch.h"
#include "../../core/threadpool.h"
#include "norm_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_norm_scalar(Kernels& k) { fill_norm<simd::Scalar>(k); }

namespace cpu {

// At least 16K elements per chunk of rows.
static int64_t row_grain(int64_t n) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(n, 1)); }

void layer_norm_f32(const float* x, const float* weight, const float* bias, float* y, int64_t rows, int64_t n, float eps) {
  auto fn = kernels().layer_norm_f32;
  parallel_for(0, rows, row_grain(n), [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) fn(x + r * n, weight, bias, y + r * n, static_cast<size_t>(n), eps);
  });
}

void rms_norm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t n, float eps) {
  auto fn = kernels().rms_norm_f32;
  parallel_for(0, rows, row_grain(n), [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) fn(x + r * n, weight, y + r * n, static_cast<size_t>(n), eps);
  });
}

}  // namespace cpu
}  // namespace tf
