#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

// GCC 12 warns about _mm256_undefined_si256() inside _mm512_cvtps_ph; the value is fully overwritten.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "../../core/dispatch.h"

namespace tf {

#define TF_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

// Tails use masked loads and stores, so every length runs the same instructions as the body.
TF_AVX512 static inline __mmask16 tail_mask(size_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
}

TF_AVX512 static void f32_to_f16_avx512(const float* s, uint16_t* d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m256i h = _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, s + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_mask_storeu_epi16(d + i, m, h);
  }
}

TF_AVX512 static void f16_to_f32_avx512(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    _mm512_mask_storeu_ps(d + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, s + i)));
  }
}

// Bit-pattern rounding rather than VCVTNEPS2BF16, which flushes subnormal inputs to zero.
TF_AVX512 static void f32_to_bf16_avx512(const float* s, uint16_t* d, size_t n) {
  const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, s + i));
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), one);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, lsb)), 16);
    __mmask16 is_nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, abs_mask), inf);
    r = _mm512_mask_or_epi32(r, is_nan, _mm512_srli_epi32(u, 16), quiet);
    _mm256_mask_storeu_epi16(d + i, m, _mm512_cvtepi32_epi16(r));
  }
}

TF_AVX512 static void bf16_to_f32_avx512(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    __mmask16 m = tail_mask(n - i);
    __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, s + i));
    _mm512_mask_storeu_ps(d + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
  }
}

void register_convert_avx512(Kernels& k) {
  k.f32_to_f16 = f32_to_f16_avx512;
  k.f16_to_f32 = f16_to_f32_avx512;
  k.f32_to_bf16 = f32_to_bf16_avx512;
  k.bf16_to_f32 = bf16_to_f32_avx512;
}

}  // namespace tf
#endif
