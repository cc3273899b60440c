#include "retention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../../core/dispatch.h"
#include "../../core/threadpool.h"
#include "retention_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_retention_scalar(Kernels& k) { fill_retention<simd::Scalar>(k); }

namespace cpu {

void retention_f32(const RetentionArgs& a) {
  const int64_t pairs = a.batch * a.heads;
  if (pairs == 0) {  // no batch: the state's scale still advances by T tokens
    if (a.form == RetentionForm::Recurrent && a.scale_out)
      for (int64_t h = 0; h < a.heads; ++h) {
        const float gamma = static_cast<float>(std::exp(static_cast<double>(a.decay[h])));
        float s = a.scale_in ? a.scale_in[h] : 0.0f;
        for (int64_t t = 0; t < a.T; ++t) s = s * gamma + 1.0f;
        a.scale_out[h] = s;
      }
    return;
  }
  const int64_t B = a.chunk > 0 ? a.chunk : 1;
  size_t scratch = static_cast<size_t>(2 * a.T + a.dv + (B + a.dk) * (a.dv + 16) + B * B + 3 * B + B * (B + a.dk) + B * a.dk + 2 * a.dv + 2 + 48);
  if (a.form == RetentionForm::Recurrent)  // its scalars and plan, then a block of keys and queries at 64 bytes
    scratch = static_cast<size_t>(7 * a.T + 16 + 2 * std::max<int64_t>(8 * a.dk, kRetTb + a.dk));
  auto fn = kernels().retention_head_f32;
  // the heads' scales as they were: the state may be updated in place (scale_out == scale_in), and every batch
  // row of a head reads its scale while row 0 writes the new one
  std::vector<float> scale0;
  RetentionArgs args = a;
  if (a.scale_in) {
    scale0.assign(a.scale_in, a.scale_in + a.heads);
    args.scale_in = scale0.data();
  }
  parallel_for(0, pairs, 1, [&](int64_t s, int64_t e) {
    std::vector<float> buf(scratch);
    for (int64_t p = s; p < e; ++p) fn(args, p / a.heads, p % a.heads, buf.data());
  });
}

}  // namespace cpu
}  // namespace tf
