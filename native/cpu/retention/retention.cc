#include "retention.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "retention_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_retention_scalar(Kernels& k) { fill_retention<simd::Scalar>(k); }

namespace cpu {

namespace {
// The heads in groups for `fn` (the chunkwise or the recurrent form), as few and as large as the thread count allows:
// batch x groups = lcm(batch, threads) items when the heads suffice (one thread: one group of all heads per batch
// row), and at least `min_groups`. fn(a, b, h0, nh, scratch) gets group_floats(widest group) floats of scratch. A
// head's arithmetic does not depend on its group, so neither do the results (nor on the threads).
template <class Fn, class Floats>
void retention_groups(const RetentionArgs& a, Fn fn, int64_t min_groups, Floats group_floats) {
  const int64_t H = a.heads, threads = num_threads();
  const int64_t groups = std::min(H, std::max(threads / std::gcd(a.batch, threads), min_groups));
  const int64_t widest = (H + groups - 1) / groups;
  parallel_for(0, a.batch * groups, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;
    float* buf = frame.floats(checked_count(group_floats(widest)));
    for (int64_t i = s; i < e; ++i) {
      const int64_t g = i % groups, h0 = split_begin(H, groups, g);
      fn(a, i / groups, h0, split_begin(H, groups, g + 1) - h0, buf);
    }
  });
}

// The chunkwise form: no group's scratch over about 16 MiB unless one head needs more.
void retention_chunkwise(const RetentionArgs& a) {
  const int64_t B = a.chunk;
  if (a.T < B) return;  // no chunk (T = 0): nothing to write
  const int64_t per_head = retention_chunk_head_floats(B, a.dk, a.dv);
  const int64_t by_memory = (a.heads * per_head + (int64_t{1} << 22) - 1) >> 22;
  retention_groups(a, kernels().retention_chunk_group_f32, by_memory,
                   [&](int64_t nh) { return retention_chunk_group_floats(B, a.dk, a.dv, nh); });
}
}  // namespace

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
  if (a.form == RetentionForm::Chunkwise) {
    retention_chunkwise(a);
    return;
  }
  if (a.form == RetentionForm::Recurrent) {
    // the heads' scales as they were: the state may be updated in place (scale_out == scale_in), and every batch
    // row of a head reads its scale while row 0 writes the new one
    ScratchFrame frame;
    RetentionArgs args = a;
    if (a.scale_in) {
      float* scale0 = frame.floats(checked_count(a.heads));
      std::copy(a.scale_in, a.scale_in + a.heads, scale0);
      args.scale_in = scale0;
    }
    retention_groups(args, kernels().retention_rec_group_f32, 1,
                     [&](int64_t nh) { return retention_rec_group_floats(a.dk, nh); });
    return;
  }
  auto fn = kernels().retention_parallel_f32;
  parallel_for(0, pairs, 1, [&](int64_t s, int64_t e) {
    ScratchFrame task;
    float* buf = task.floats(checked_count(2 * a.T + a.dv));
    for (int64_t p = s; p < e; ++p) fn(a, p / a.heads, p % a.heads, buf);
  });
}

}  // namespace cpu
}  // namespace tf
