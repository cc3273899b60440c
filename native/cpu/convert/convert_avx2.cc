#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "../../core/dispatch.h"
#include "../../core/half.h"

namespace tf {

#define TF_AVX2 __attribute__((target("avx2,fma,f16c")))

TF_AVX2 static void f32_to_f16_avx2(const float* s, uint16_t* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) d[i] = f32_to_f16(s[i]);
}

TF_AVX2 static void f16_to_f32_avx2(const uint16_t* s, float* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  for (; i < n; ++i) d[i] = f16_to_f32(s[i]);
}

// Round to nearest even on the bit pattern; NaN becomes a quiet NaN with the top of its payload kept.
TF_AVX2 static inline __m256i bf16_round(__m256i u) {
  const __m256i one = _mm256_set1_epi32(1);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb)), 16);
  __m256i absu = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  __m256i is_nan = _mm256_cmpgt_epi32(absu, _mm256_set1_epi32(0x7f800000));
  __m256i nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(r, nan, is_nan);
}

TF_AVX2 static void f32_to_bf16_avx2(const float* s, uint16_t* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i r = bf16_round(_mm256_castps_si256(_mm256_loadu_ps(s + i)));
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) d[i] = f32_to_bf16(s[i]);
}

TF_AVX2 static void bf16_to_f32_avx2(const uint16_t* s, float* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
    _mm256_storeu_ps(d + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
  for (; i < n; ++i) d[i] = bf16_to_f32(s[i]);
}

void register_convert_avx2(Kernels& k) {
  k.f32_to_f16 = f32_to_f16_avx2;
  k.f16_to_f32 = f16_to_f32_avx2;
  k.f32_to_bf16 = f32_to_bf16_avx2;
  k.bf16_to_f32 = bf16_to_f32_avx2;
}

}  // namespace tf
#endif
