// fp32 SIMD vectors behind one static interface per ISA, so that a kernel is written once, as a template
// over the ISA, and instantiated in each per-ISA file.
//
//   struct Scalar   one float per "vector" (the reference level, and the fallback on any CPU)
//   struct Avx2     8 floats in a __m256 (AVX2 + FMA)
//   struct Avx512   16 floats in a __m512 (AVX-512 F/BW/VL/DQ)
//
// Every ISA struct has the same members (see Scalar for the documented list). Their functions carry their
// own target attribute and are always inlined, so this header compiles in any translation unit. The generic
// code built on them (simd_math.h and the kernel templates of each family) gets its target from the file
// that includes it, like this (native/cpu/softmax/softmax_avx2.cc):
//
//   #include "../../core/simd.h"        // first: the standard headers and the ISA structs
//   #include "../../core/dispatch.h"
//   TF_SIMD_BEGIN_AVX2                   // functions defined from here on are compiled for AVX2 + FMA
//   #include "softmax_impl.h"            // kernel templates (and simd_math.h); no standard headers
//   TF_SIMD_END
//   void register_softmax_avx2(Kernels& k) { fill_softmax<simd::Avx2>(k); }
//
// GCC and Clang give a template defined inside the region the region's target, wherever it is instantiated.
// The generic code lives in anonymous namespaces, so each translation unit keeps its own copy: an AVX2
// instantiation can never be merged by the linker into the scalar path (the hazard of per-file -m flags).
// Headers included inside a region must not include standard headers themselves (they would be compiled
// for the region's target); simd.h includes everything they need.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "half.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TF_SIMD_X86 1
#endif

#if defined(__clang__)
#define TF_SIMD_BEGIN_AVX2 _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define TF_SIMD_BEGIN_AVX512                                                                                        \
  _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512dq,avx2,fma\"))), "      \
          "apply_to = function)")
#define TF_SIMD_END _Pragma("clang attribute pop")
#else
// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsics (GCC bug 105593, fixed in 13): the
// AVX-512 region silences those two warnings.
#define TF_SIMD_BEGIN_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")") _Pragma("GCC diagnostic push")
#define TF_SIMD_BEGIN_AVX512                                                                   \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,avx2,fma\")") \
      _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
          _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define TF_SIMD_END _Pragma("GCC diagnostic pop") _Pragma("GCC pop_options")
#endif

#define TF_SIMD_INLINE static inline __attribute__((always_inline))
#define TF_SIMD_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))
#define TF_SIMD_AVX512 static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

namespace tf::simd {

using tf::bits_f32;  // bit casts between float and uint32_t (core/half.h)
using tf::f32_bits;

// The reference "vector" of one float. Members (the same in every ISA):
//   reg, mask, AccD          vector of W floats, lane mask, accumulator of W doubles
//   zero, set1, load, store  unaligned loads/stores; load_tail/store_tail touch only the first n < W lanes
//                            (load_tail zero-fills the rest); fill_tail(v, n, f) sets lanes n..W-1 to f
//   add sub mul div          IEEE fp32 per lane
//   fma(a,b,c) = a*b+c       one rounding (the scalar level emulates it in double)
//   max(a,b), min(a,b)       x86 rule: when either is NaN the result is b (so max(c, x) propagates a NaN x)
//   abs, neg, copysign(m,s)  bit operations
//   lt le gt ge eq           ordered comparisons (false when either is NaN); select(m, t, f) = m ? t : f
//   round                    to the nearest integer, ties to even
//   ldexp(p, n)              p * 2^n for an integral n in [-150, 128], overflow and subnormals correct
//   two_prod(a,b,hi,lo)      hi + lo = a*b exactly
//   hsum, hmax               horizontal sum (pairwise) and maximum of the lanes
//   acc_zero, acc_add(acc, v), acc_add_sq(acc, v), acc_total(acc)   sums of v (or v*v) in double
//   add_to_f64(dst, v)       dst[0..W) += v, in double
struct Scalar {
  using reg = float;
  using mask = bool;
  using AccD = double;
  static constexpr int W = 1;

  TF_SIMD_INLINE reg zero() { return 0.0f; }
  TF_SIMD_INLINE reg set1(float x) { return x; }
  TF_SIMD_INLINE reg load(const float* p) { return *p; }
  TF_SIMD_INLINE void store(float* p, reg v) { *p = v; }
  TF_SIMD_INLINE reg load_tail(const float*, size_t) { return 0.0f; }  // W = 1: a tail is always empty
  TF_SIMD_INLINE void store_tail(float*, reg, size_t) {}
  TF_SIMD_INLINE reg fill_tail(reg v, size_t, float) { return v; }

  TF_SIMD_INLINE reg add(reg a, reg b) { return a + b; }
  TF_SIMD_INLINE reg sub(reg a, reg b) { return a - b; }
  TF_SIMD_INLINE reg mul(reg a, reg b) { return a * b; }
  TF_SIMD_INLINE reg div(reg a, reg b) { return a / b; }
  // A hardware fused multiply-add where the baseline target has one (aarch64); otherwise a multiply and an
  // add (two roundings: the functions built on it stay within their ulp budget, measured by the tests).
  TF_SIMD_INLINE reg fma(reg a, reg b, reg c) {
#if defined(__FP_FAST_FMAF)
    return __builtin_fmaf(a, b, c);
#else
    return a * b + c;
#endif
  }
  TF_SIMD_INLINE reg max(reg a, reg b) { return a > b ? a : b; }
  TF_SIMD_INLINE reg min(reg a, reg b) { return a < b ? a : b; }
  TF_SIMD_INLINE reg abs(reg a) { return bits_f32(f32_bits(a) & 0x7fffffffu); }
  TF_SIMD_INLINE reg neg(reg a) { return bits_f32(f32_bits(a) ^ 0x80000000u); }
  TF_SIMD_INLINE reg copysign(reg m, reg s) {
    return bits_f32((f32_bits(m) & 0x7fffffffu) | (f32_bits(s) & 0x80000000u));
  }

  TF_SIMD_INLINE mask lt(reg a, reg b) { return a < b; }
  TF_SIMD_INLINE mask le(reg a, reg b) { return a <= b; }
  TF_SIMD_INLINE mask gt(reg a, reg b) { return a > b; }
  TF_SIMD_INLINE mask ge(reg a, reg b) { return a >= b; }
  TF_SIMD_INLINE mask eq(reg a, reg b) { return a == b; }
  TF_SIMD_INLINE reg select(mask m, reg t, reg f) { return m ? t : f; }

  // Adding and subtracting 1.5 * 2^23 rounds to an integer (ties to even) without a libm call (IEEE
  // arithmetic: the compiler does not reassociate it); floats of magnitude 2^22 and above are integers already.
  TF_SIMD_INLINE reg round(reg a) {
    constexpr float m = 12582912.0f;
    return std::fabs(a) < 4194304.0f ? (a + m) - m : a;
  }
  TF_SIMD_INLINE reg ldexp(reg p, reg n) {
    if (!(n == n)) return p + n;  // NaN (converting it to an integer would be undefined)
    int32_t ni = static_cast<int32_t>(n);
    int32_t n1 = ni >> 1, n2 = ni - n1;  // both in [-75, 64]: 2^n1 and 2^n2 are normal floats
    return p * bits_f32(static_cast<uint32_t>(n1 + 127) << 23) * bits_f32(static_cast<uint32_t>(n2 + 127) << 23);
  }
  TF_SIMD_INLINE void two_prod(reg a, reg b, reg& hi, reg& lo) {
    double p = static_cast<double>(a) * static_cast<double>(b);  // exact
    hi = static_cast<float>(p);
    lo = static_cast<float>(p - static_cast<double>(hi));
  }

  TF_SIMD_INLINE float hsum(reg v) { return v; }
  TF_SIMD_INLINE float hmax(reg v) { return v; }

  TF_SIMD_INLINE AccD acc_zero() { return 0.0; }
  TF_SIMD_INLINE void acc_add(AccD& a, reg v) { a += static_cast<double>(v); }
  TF_SIMD_INLINE void acc_add_sq(AccD& a, reg v) { a += static_cast<double>(v) * static_cast<double>(v); }
  TF_SIMD_INLINE double acc_total(const AccD& a) { return a; }
  TF_SIMD_INLINE void add_to_f64(double* dst, reg v) { *dst += static_cast<double>(v); }
};

#if defined(TF_SIMD_X86)

struct Avx2 {
  using reg = __m256;
  using mask = __m256;  // all-ones lanes
  struct AccD {
    __m256d lo, hi;
  };
  static constexpr int W = 8;

  TF_SIMD_AVX2 reg zero() { return _mm256_setzero_ps(); }
  TF_SIMD_AVX2 reg set1(float x) { return _mm256_set1_ps(x); }
  TF_SIMD_AVX2 reg load(const float* p) { return _mm256_loadu_ps(p); }
  TF_SIMD_AVX2 void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  TF_SIMD_AVX2 __m256i tail_mask(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // Masked lanes are neither read nor written (no fault past the end of an array).
  TF_SIMD_AVX2 reg load_tail(const float* p, size_t n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  TF_SIMD_AVX2 void store_tail(float* p, reg v, size_t n) { _mm256_maskstore_ps(p, tail_mask(n), v); }
  TF_SIMD_AVX2 reg fill_tail(reg v, size_t n, float f) {
    return _mm256_blendv_ps(_mm256_set1_ps(f), v, _mm256_castsi256_ps(tail_mask(n)));
  }

  TF_SIMD_AVX2 reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  TF_SIMD_AVX2 reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  TF_SIMD_AVX2 reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  TF_SIMD_AVX2 reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  TF_SIMD_AVX2 reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  TF_SIMD_AVX2 reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  TF_SIMD_AVX2 reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  TF_SIMD_AVX2 reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  TF_SIMD_AVX2 reg neg(reg a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
  TF_SIMD_AVX2 reg copysign(reg m, reg s) {
    const reg sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, m), _mm256_and_ps(sign, s));
  }

  TF_SIMD_AVX2 mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  TF_SIMD_AVX2 mask le(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  TF_SIMD_AVX2 mask gt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  TF_SIMD_AVX2 mask ge(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
  TF_SIMD_AVX2 mask eq(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  TF_SIMD_AVX2 reg select(mask m, reg t, reg f) { return _mm256_blendv_ps(f, t, m); }

  TF_SIMD_AVX2 reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  TF_SIMD_AVX2 reg ldexp(reg p, reg n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    reg s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    reg s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  }
  TF_SIMD_AVX2 void two_prod(reg a, reg b, reg& hi, reg& lo) {
    hi = _mm256_mul_ps(a, b);
    lo = _mm256_fmsub_ps(a, b, hi);
  }

  TF_SIMD_AVX2 float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TF_SIMD_AVX2 float hmax(reg v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  TF_SIMD_AVX2 AccD acc_zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  TF_SIMD_AVX2 void acc_add(AccD& a, reg v) {
    a.lo = _mm256_add_pd(a.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a.hi = _mm256_add_pd(a.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  TF_SIMD_AVX2 void acc_add_sq(AccD& a, reg v) {
    __m256d l = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), h = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    a.lo = _mm256_fmadd_pd(l, l, a.lo);
    a.hi = _mm256_fmadd_pd(h, h, a.hi);
  }
  TF_SIMD_AVX2 double acc_total(const AccD& a) {
    __m256d s = _mm256_add_pd(a.lo, a.hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
  TF_SIMD_AVX2 void add_to_f64(double* dst, reg v) {
    _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
    _mm256_storeu_pd(dst + 4, _mm256_add_pd(_mm256_loadu_pd(dst + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
  }
};

// AVX-512: the same interface over 16 lanes, with native lane masks. Compiled in every x86 build but only
// run on CPUs that have AVX-512 (the dispatch table decides).
struct Avx512 {
  using reg = __m512;
  using mask = __mmask16;
  struct AccD {
    __m512d lo, hi;
  };
  static constexpr int W = 16;

  TF_SIMD_AVX512 reg zero() { return _mm512_setzero_ps(); }
  TF_SIMD_AVX512 reg set1(float x) { return _mm512_set1_ps(x); }
  TF_SIMD_AVX512 reg load(const float* p) { return _mm512_loadu_ps(p); }
  TF_SIMD_AVX512 void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  TF_SIMD_AVX512 mask tail_mask(size_t n) { return static_cast<mask>((1u << n) - 1u); }
  TF_SIMD_AVX512 reg load_tail(const float* p, size_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
  TF_SIMD_AVX512 void store_tail(float* p, reg v, size_t n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
  TF_SIMD_AVX512 reg fill_tail(reg v, size_t n, float f) { return _mm512_mask_mov_ps(_mm512_set1_ps(f), tail_mask(n), v); }

  TF_SIMD_AVX512 reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  TF_SIMD_AVX512 reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  TF_SIMD_AVX512 reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  TF_SIMD_AVX512 reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  TF_SIMD_AVX512 reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  TF_SIMD_AVX512 reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  TF_SIMD_AVX512 reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  TF_SIMD_AVX512 reg abs(reg a) { return _mm512_abs_ps(a); }
  TF_SIMD_AVX512 reg neg(reg a) { return _mm512_xor_ps(_mm512_set1_ps(-0.0f), a); }
  TF_SIMD_AVX512 reg copysign(reg m, reg s) {
    const reg sign = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(sign, m), _mm512_and_ps(sign, s));
  }

  TF_SIMD_AVX512 mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  TF_SIMD_AVX512 mask le(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  TF_SIMD_AVX512 mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  TF_SIMD_AVX512 mask ge(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
  TF_SIMD_AVX512 mask eq(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  TF_SIMD_AVX512 reg select(mask m, reg t, reg f) { return _mm512_mask_blend_ps(m, f, t); }

  TF_SIMD_AVX512 reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // scalef computes p * 2^floor(n) with one rounding, subnormals and overflow included.
  TF_SIMD_AVX512 reg ldexp(reg p, reg n) { return _mm512_scalef_ps(p, n); }
  TF_SIMD_AVX512 void two_prod(reg a, reg b, reg& hi, reg& lo) {
    hi = _mm512_mul_ps(a, b);
    lo = _mm512_fmsub_ps(a, b, hi);
  }

  TF_SIMD_AVX512 float hsum(reg v) {
    __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TF_SIMD_AVX512 float hmax(reg v) {
    __m256 s8 = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  TF_SIMD_AVX512 AccD acc_zero() { return {_mm512_setzero_pd(), _mm512_setzero_pd()}; }
  TF_SIMD_AVX512 void acc_add(AccD& a, reg v) {
    a.lo = _mm512_add_pd(a.lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    a.hi = _mm512_add_pd(a.hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
  }
  TF_SIMD_AVX512 void acc_add_sq(AccD& a, reg v) {
    __m512d l = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), h = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    a.lo = _mm512_fmadd_pd(l, l, a.lo);
    a.hi = _mm512_fmadd_pd(h, h, a.hi);
  }
  TF_SIMD_AVX512 double acc_total(const AccD& a) {
    __m512d s = _mm512_add_pd(a.lo, a.hi);
    __m256d q = _mm256_add_pd(_mm512_castpd512_pd256(s), _mm512_extractf64x4_pd(s, 1));
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(q), _mm256_extractf128_pd(q, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
  TF_SIMD_AVX512 void add_to_f64(double* dst, reg v) {
    _mm512_storeu_pd(dst, _mm512_add_pd(_mm512_loadu_pd(dst), _mm512_cvtps_pd(_mm512_castps512_ps256(v))));
    _mm512_storeu_pd(dst + 8, _mm512_add_pd(_mm512_loadu_pd(dst + 8), _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))));
  }
};

// 8 x 8 transpose of floats held in registers: row i (r0 .. r7) becomes column i of the rows dst + j * ldd.
TF_SIMD_AVX2 void transpose_8x8_store(__m256 r0, __m256 r1, __m256 r2, __m256 r3, __m256 r4, __m256 r5, __m256 r6,
                                      __m256 r7, float* dst, int64_t ldd) {
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// 8 x 8 transpose of floats: rows src + i * lds (8 floats each) become rows dst + i * ldd. AVX2 code, so
// valid at the AVX-512 level too (the GEMM packing routines of both levels use it).
TF_SIMD_AVX2 void transpose_8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  transpose_8x8_store(_mm256_loadu_ps(src), _mm256_loadu_ps(src + lds), _mm256_loadu_ps(src + 2 * lds),
                      _mm256_loadu_ps(src + 3 * lds), _mm256_loadu_ps(src + 4 * lds), _mm256_loadu_ps(src + 5 * lds),
                      _mm256_loadu_ps(src + 6 * lds), _mm256_loadu_ps(src + 7 * lds), dst, ldd);
}

#endif  // TF_SIMD_X86

}  // namespace tf::simd
