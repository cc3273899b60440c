#include "convert.h"

#include "../../core/dispatch.h"
#include "../../core/half.h"
#include "../../core/threadpool.h"

namespace tf {

static void f32_to_f16_scalar(const float* s, uint16_t* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(s[i]);
}
static void f16_to_f32_scalar(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
}
static void f32_to_bf16_scalar(const float* s, uint16_t* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
}
static void bf16_to_f32_scalar(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
}

void register_convert_scalar(Kernels& k) {
  k.f32_to_f16 = f32_to_f16_scalar;
  k.f16_to_f32 = f16_to_f32_scalar;
  k.f32_to_bf16 = f32_to_bf16_scalar;
  k.bf16_to_f32 = bf16_to_f32_scalar;
}

namespace cpu {

constexpr int64_t kConvertGrain = 1 << 15;

template <typename S, typename D>
static void run(void (*fn)(const S*, D*, size_t), const S* src, D* dst, int64_t n) {
  parallel_for(0, n, kConvertGrain, [&](int64_t b, int64_t e) { fn(src + b, dst + b, static_cast<size_t>(e - b)); });
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) { run(kernels().f32_to_f16, src, dst, n); }
void f16_to_f32(const uint16_t* src, float* dst, int64_t n) { run(kernels().f16_to_f32, src, dst, n); }
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n) { run(kernels().f32_to_bf16, src, dst, n); }
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) { run(kernels().bf16_to_f32, src, dst, n); }

}  // namespace cpu
}  // namespace tf
