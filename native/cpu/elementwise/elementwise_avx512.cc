#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "../../core/dispatch.h"

namespace tf {

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) static void add_f32_avx512(const float* a, const float* b,
                                                                                        float* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
  if (i < n) {
    __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i)));
  }
}

void register_elementwise_avx512(Kernels& k) { k.add_f32 = add_f32_avx512; }

}  // namespace tf
#endif
