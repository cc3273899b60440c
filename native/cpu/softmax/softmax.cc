#include "softmax.h"

#include <algorithm>

#include "../../core/dispatch.h"
#include "../../core/tensor.h"
#include "../../core/threadpool.h"
#include "softmax_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_softmax_scalar(Kernels& k) { fill_softmax<simd::Scalar>(k); }

namespace cpu {

void softmax_f32(const float* x, const int64_t* x_shape, int x_ndim, const float* mask, const int64_t* mask_shape,
                 int mask_ndim, float* y, bool log) {
  const int64_t n = x_shape[x_ndim - 1];
  int64_t rows = 1;
  for (int i = 0; i < x_ndim - 1; ++i) rows *= x_shape[i];
  if (rows == 0 || n == 0) return;
  // The mask's element strides along x's outer dims (0 where it broadcasts), and how it covers a row.
  int64_t mstride[kMaxDims] = {};
  MaskMode mode = MaskMode::None;
  if (mask) {
    int64_t acc = 1;
    for (int i = x_ndim - 1; i >= 0; --i) {
      int im = i - (x_ndim - mask_ndim);
      int64_t d = im >= 0 ? mask_shape[im] : 1;
      mstride[i] = d == 1 ? 0 : acc;
      acc *= d;
    }
    mode = (mask_ndim >= 1 && mask_shape[mask_ndim - 1] == n) ? MaskMode::Row : MaskMode::Scalar;
  }
  auto fn = kernels().softmax_f32;
  const int outer = x_ndim - 1;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 13) / n);
  parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const float* mrow = nullptr;
      if (mask) {
        int64_t off = 0, q = r;
        for (int i = outer - 1; i >= 0; --i) {
          off += (q % x_shape[i]) * mstride[i];
          q /= x_shape[i];
        }
        mrow = mask + off;
      }
      fn(x + r * n, mrow, static_cast<int>(mode), y + r * n, static_cast<size_t>(n), log);
    }
  });
}

}  // namespace cpu
}  // namespace tf
