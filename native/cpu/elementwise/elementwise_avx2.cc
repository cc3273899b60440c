#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "../../core/dispatch.h"

namespace tf {

__attribute__((target("avx2,fma"))) static void add_f32_avx2(const float* a, const float* b, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

void register_elementwise_avx2(Kernels& k) { k.add_f32 = add_f32_avx2; }

}  // namespace tf
#endif
