#include "elementwise.h"

#include "../../core/dispatch.h"
#include "../../core/threadpool.h"

namespace tf {

static void add_f32_scalar(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void register_elementwise_scalar(Kernels& k) { k.add_f32 = add_f32_scalar; }

namespace cpu {

// Memory-bound: chunks of 16K floats (64 KiB per operand) keep the per-chunk overhead small.
constexpr int64_t kElementwiseGrain = 1 << 14;

void add_f32(const float* a, const float* b, float* out, int64_t n) {
  auto fn = kernels().add_f32;
  parallel_for(0, n, kElementwiseGrain, [&](int64_t s, int64_t e) { fn(a + s, b + s, out + s, static_cast<size_t>(e - s)); });
}

}  // namespace cpu
}  // namespace tf
