// Vectorized fp32 elementary functions, written once over the ISA structs of simd.h: exp, log1p on [0, 1] (for
// softplus), tanh, sigmoid, erf and the pieces of GELU. Range reduction plus polynomials whose coefficients come from
// scripts/fit-simd-math.py (near-minimax in relative error; the fits themselves are far below fp32
// precision, so the error is that of the fp32 evaluation: a few ulp, measured by test/elementwise.test.ts).
//
// Special values follow IEEE/libm: NaN in, NaN out; exp(-inf) = 0, exp(inf) = inf; tanh(+-inf) = +-1;
// erf(+-inf) = +-1; sigmoid(-inf) = 0, sigmoid(inf) = 1.
//
// Include after simd.h, inside a TF_SIMD_BEGIN_* region in the per-ISA files (see simd.h): everything here is
// in an anonymous namespace and compiled for the target of the including file.
#pragma once
#include "simd.h"

#include <type_traits>

namespace tf::simd {
namespace {

// Horner's rule, c[0] + x (c[1] + x (c[2] + ...)), one fused multiply-add per coefficient.
template <class V, size_t N>
inline typename V::reg horner(typename V::reg x, const float (&c)[N]) {
  typename V::reg p = V::set1(c[N - 1]);
  for (size_t k = N - 1; k-- > 0;) p = V::fma(p, x, V::set1(c[k]));
  return p;
}

// e^r = 1 + r + r^2 q(r) for |r| <= ln2/2.
constexpr float kExpQ[] = {0.4999999403953552f, 0.1666652113199234f, 0.04166838899254799f, 0.008368710055947304f,
                           0.001381461275741458f};
// 2^f = 1 + f q(f) for |f| <= 1/2.
constexpr float kExp2Q[] = {0.6931471824645996f, 0.24022647738456726f, 0.055503323674201965f, 0.00961843691766262f,
                            0.0013398873852565885f, 0.00015353361959569156f};
// log1p(e) = 2s + s z q(z) with s = e/(2+e), z = s^2 <= 1/9 (e in [0, 1]).
constexpr float kLog1pQ[] = {0.6666641235351562f, 0.40021705627441406f, 0.27999013662338257f, 0.2802514135837555f};
// tanh(x) = x + x^3 q(x^2) for |x| < atanh(1/2).
constexpr float kTanhQ[] = {-0.33333316445350647f, 0.13332593441009521f, -0.05385309457778931f, 0.02107515186071396f,
                            -0.00627947086468339f};
// erf(x) = x p(x^2) for |x| < 0.75.
constexpr float kErfP[] = {1.1283791065216064f,   -0.3761261999607086f,  0.11283376812934875f,
                           -0.026834623888134956f, 0.00511434581130743f, -0.0006749513559043407f};
// erfc(x) = exp(-x^2) u q(u - kErfcU0) with u = 2/(2+x), for 0.75 <= x <= 10.5 (centred: a well-conditioned
// Horner evaluation).
constexpr float kErfcU0 = 0.44363636363636366f;
constexpr float kErfcQ[] = {0.4738083779811859f,   0.6256594657897949f, 0.5312149524688721f,
                            0.18092885613441467f,  -0.13849349319934845f, -0.132168710231781f,
                            0.06890562921762466f,  0.07984456419944763f,  -0.05064355581998825f};

constexpr float kLn2Hi = 0.693145751953125f;       // 15 significant bits: n * kLn2Hi is exact for |n| < 512
constexpr float kLn2Lo = 1.42860677e-06f;          // ln 2 - kLn2Hi
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kSqrt1_2 = 0.70710678118654752f;
constexpr float kErfSplit = 0.75f;                 // erf by its series below, by erfc above
constexpr float kTanhSplit = 0.54930614433405485f;  // atanh(1/2)

// e^x. Clamping x to [-104, 89] keeps n = round(x / ln2) in ldexp's range, and still gives inf above
// ln(FLT_MAX) ~ 88.72 and 0 below ln(2^-150) ~ -103.97 (subnormal results are rounded correctly).
template <class V>
inline typename V::reg exp(typename V::reg x) {
  using R = typename V::reg;
  x = V::min(V::set1(89.0f), x);  // the (c, x) order keeps a NaN x
  x = V::max(V::set1(-104.0f), x);
  R n = V::round(V::mul(x, V::set1(kLog2e)));
  R r = V::fma(n, V::set1(-kLn2Hi), x);  // exact
  r = V::fma(n, V::set1(-kLn2Lo), r);
  R p = V::fma(V::mul(r, r), horner<V>(r, kExpQ), V::add(r, V::set1(1.0f)));
  return V::ldexp(p, n);
}

// 2^y: n = round(y), f = y - n (exact), 2^f = 1 + f q(f) (within 0.85 ulp), scaled by 2^n. For kernels that fold
// log2(e) into a factor they compute anyway (e^(a b) = 2^((a log2e) b): the selective scan's exp(dt A)): no Cody-Waite
// reduction, 6 multiply-adds for the polynomial; the argument's extra rounding costs |x| 2^-24 of relative error in
// e^x (as the rounding of x = a b itself does). Special values as exp's: 2^-inf = 0, 2^inf = inf, NaN: NaN.
template <class V>
inline typename V::reg exp2(typename V::reg y) {
  using R = typename V::reg;
  y = V::min(V::set1(128.4f), y);  // the (c, y) order keeps a NaN y
  y = V::max(V::set1(-150.0f), y);
  const R n = V::round(y);
  const R f = V::sub(y, n);
  return V::ldexp(V::fma(f, horner<V>(f, kExp2Q), V::set1(1.0f)), n);
}

// log(1 + e) for e in [0, 1] (NaN: NaN), softplus's log1p(e^-|x|): 2 atanh(s) with s = e / (2 + e) in [0, 1/3],
// no range reduction; within 1.9 ulp (the rounding of s; 0.45 on average; exact at e = 1), one division.
template <class V>
inline typename V::reg log1p_unit(typename V::reg e) {
  using R = typename V::reg;
  const R s = V::div(e, V::add(V::set1(2.0f), e));
  const R z = V::mul(s, s);
  return V::fma(V::mul(s, z), horner<V>(z, kLog1pQ), V::add(s, s));
}

// 1 / (1 + e^-x), from e = e^-|x| so that neither branch overflows or cancels.
template <class V>
inline typename V::reg sigmoid(typename V::reg x) {
  using R = typename V::reg;
  R e = exp<V>(V::neg(V::abs(x)));
  R r = V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
  return V::select(V::ge(x, V::zero()), r, V::mul(e, r));
}

// tanh: odd polynomial below atanh(1/2), 1 - 2/(e^{2|x|} + 1) above (no cancellation there: the result is >= 1/2).
template <class V>
inline typename V::reg tanh(typename V::reg x) {
  using R = typename V::reg;
  R a = V::abs(x);
  R y = V::mul(x, x);
  R small = V::copysign(V::fma(V::mul(x, y), horner<V>(y, kTanhQ), x), x);  // copysign: tanh(-0) = -0
  R e = exp<V>(V::add(a, a));
  R large = V::copysign(V::sub(V::set1(1.0f), V::div(V::set1(2.0f), V::add(e, V::set1(1.0f)))), x);
  return V::select(V::lt(a, V::set1(kTanhSplit)), small, large);
}

// erf(t) and erfc(t) for t >= 0, each with a small relative error, given t^2 = sq_hi + sq_lo exactly
// (sq_hi finite). The caller supplies the square so that GELU can pass x^2/2 computed from x, not from the
// rounded x/sqrt(2): erfc(t) is sensitive to t^2 (relative condition number 2 t^2).
template <class V>
inline void erf_parts(typename V::reg t, typename V::reg sq_hi, typename V::reg sq_lo, typename V::reg& erf_t,
                      typename V::reg& erfc_t) {
  using R = typename V::reg;
  auto small = V::lt(t, V::set1(kErfSplit));
  R es = V::mul(t, horner<V>(V::mul(t, t), kErfP));
  R u = V::div(V::set1(2.0f), V::add(V::set1(2.0f), t));
  R ex = exp<V>(V::neg(sq_hi));
  ex = V::fma(ex, V::neg(sq_lo), ex);  // e^(-hi-lo) = e^-hi (1 - lo), |lo| <= ulp(hi)/2
  R cl = V::mul(V::mul(ex, u), horner<V>(V::sub(u, V::set1(kErfcU0)), kErfcQ));
  erf_t = V::select(small, es, V::sub(V::set1(1.0f), cl));
  erfc_t = V::select(small, V::sub(V::set1(1.0f), es), cl);
}

template <class V>
inline typename V::reg erf(typename V::reg x) {
  using R = typename V::reg;
  R t = V::abs(x);
  R tc = V::min(V::set1(12.0f), t);  // erfc underflows to 0 long before; keeps t^2 finite
  R hi, lo, e, c;
  V::two_prod(tc, tc, hi, lo);
  erf_parts<V>(t, hi, lo, e, c);
  return V::copysign(e, x);
}

// GELU, erf form: x Phi(x) = x/2 (1 + erf(x/sqrt2)), evaluated as x/2 erfc(|x|/sqrt2) for x < 0 so that the
// tiny negative tail keeps its relative accuracy. gelu(-inf) = -0 (the limit), not NaN.
template <class V>
inline typename V::reg gelu(typename V::reg x) {
  using R = typename V::reg;
  R xc = V::max(V::set1(-std::numeric_limits<float>::max()), x);
  R a = V::abs(xc);
  R t = V::mul(a, V::set1(kSqrt1_2));
  R ac = V::min(V::set1(16.0f), a);
  R hi, lo, e, c;
  V::two_prod(ac, ac, hi, lo);
  erf_parts<V>(t, V::mul(hi, V::set1(0.5f)), V::mul(lo, V::set1(0.5f)), e, c);
  R twice_phi = V::select(V::ge(xc, V::zero()), V::add(V::set1(1.0f), e), c);
  return V::mul(V::mul(xc, V::set1(0.5f)), twice_phi);
}

// GELU, tanh approximation (Hugging Face gelu_new / gelu_pytorch_tanh):
// x/2 (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as x sigmoid(2u) (the same function,
// without the cancellation of 1 + tanh(u) for x < 0).
template <class V>
inline typename V::reg gelu_tanh(typename V::reg x) {
  using R = typename V::reg;
  R xc = V::max(V::set1(-std::numeric_limits<float>::max()), x);
  R y = V::mul(xc, xc);
  R u2 = V::mul(V::mul(xc, V::set1(1.5957691216057308f)), V::fma(y, V::set1(0.044715f), V::set1(1.0f)));
  return V::mul(xc, sigmoid<V>(u2));
}

// SiLU (swish): x sigmoid(x); silu(-inf) = -0.
template <class V>
inline typename V::reg silu(typename V::reg x) {
  typename V::reg xc = V::max(V::set1(-std::numeric_limits<float>::max()), x);
  return V::mul(xc, sigmoid<V>(xc));
}

// Softplus with PyTorch's defaults (beta 1, threshold 20): x above 20, else log(1 + e^x), evaluated as
// max(x, 0) + log1p(e^-|x|) (no overflow, no loss for very negative x; e^-|x| is in [0, 1]).
template <class V>
inline typename V::reg softplus(typename V::reg x) {
  using R = typename V::reg;
  R sp = V::add(V::max(V::zero(), x), log1p_unit<V>(exp<V>(V::neg(V::abs(x)))));
  return V::select(V::gt(x, V::set1(20.0f)), x, sp);
}

#if defined(TF_SIMD_X86)
// exp<V>(x), bit for bit, for an AVX2 vector whose lanes are all in [-86, 86] (the caller tests, e.g. with
// beyond(x, 86) below: the selective scan's softplus and silu): exp<V>'s operations without the clamps, with its scaling done as an
// integer add to the exponent field: n = round(x log2e) is in [-124, 124] and p in [0.7, 1.42], so p 2^n is a normal
// float, exact, and its bits are p's bits + (n << 23). The bits of n << 23 come from t = n + 1.5 * 2^23 (exact: n is
// an integer), whose low mantissa bits hold n (no conversion to integers, no + 127). Checked against exp<V> over every
// float bit pattern (bench/native/ssm-fast-paths-check.cc).
template <class V>
inline typename V::reg exp_small(typename V::reg x) {
  static_assert(std::is_same_v<V, Avx2>, "AVX2 only");
  const __m256 n = V::round(V::mul(x, V::set1(kLog2e)));  // as exp<V>
  __m256 r = V::fma(n, V::set1(-kLn2Hi), x);
  r = V::fma(n, V::set1(-kLn2Lo), r);
  const __m256 p = V::fma(V::mul(r, r), horner<V>(r, kExpQ), V::add(r, V::set1(1.0f)));
  const __m256i n23 = _mm256_slli_epi32(_mm256_castps_si256(V::add(n, V::set1(12582912.0f))), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), n23));
}

// exp2<V>(y), bit for bit, for an AVX2 vector whose lanes are all in [-124, 124] (the caller tests, e.g. with
// beyond(y, 124)): n in [-124, 124] and p in [0.7, 1.42], so p 2^n is a normal float and its bits are p's bits +
// (n << 23), as exp_small's.
template <class V>
inline typename V::reg exp2_small(typename V::reg y) {
  static_assert(std::is_same_v<V, Avx2>, "AVX2 only");
  const __m256 n = V::round(y), f = V::sub(y, n);  // as exp2<V>
  const __m256 p = V::fma(f, horner<V>(f, kExp2Q), V::set1(1.0f));
  const __m256i n23 = _mm256_slli_epi32(_mm256_castps_si256(V::add(n, V::set1(12582912.0f))), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), n23));
}

// Lanes of x outside [-limit, limit] or NaN, as a mask (AVX2): |x|'s bits compared as integers (NaN's bits are
// larger).
template <class V>
inline __m256i beyond(typename V::reg x, float limit) {
  return _mm256_cmpgt_epi32(_mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fffffff)),
                            _mm256_castps_si256(_mm256_set1_ps(limit)));
}
#endif

// exp2<V>(y), bit for bit, for kernels whose arguments are nearly always ordinary (the selective scan's rows):
// AVX2 takes exp2_small when every lane is in [-124, 124], else exp2<V>; other levels exp2<V>.
template <class V>
inline typename V::reg exp2_ordinary(typename V::reg y) {
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, Avx2>) {
    const __m256i out = beyond<V>(y, 124.0f);
    if (__builtin_expect(_mm256_testz_si256(out, out), 1)) return exp2_small<V>(y);
  }
#endif
  return exp2<V>(y);
}

// Horizontal sums of W registers at once: lane c of the result is V::hsum(a[c]), bit for bit. AVX2 does the eight
// sums as one transposed tree with hsum's own pairing ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)) (14 shuffles and
// 7 adds instead of 24 and 24); other levels call hsum per register.
template <class V>
inline typename V::reg hsum_lanes(const typename V::reg* a) {
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, Avx2>) {
    auto half = [&](int i) {  // [a_i.lo + a_i.hi, a_(i+4).lo + a_(i+4).hi]: the four sums v_j + v_(j+4) of each
      return _mm256_add_ps(_mm256_permute2f128_ps(a[i], a[i + 4], 0x20), _mm256_permute2f128_ps(a[i], a[i + 4], 0x31));
    };
    const __m256 b0 = half(0), b1 = half(1), b2 = half(2), b3 = half(3);
    // per 128-bit lane: [s0 + s2, s1 + s3] of one register, then of the next
    const __m256 g01 = _mm256_add_ps(_mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 g23 = _mm256_add_ps(_mm256_shuffle_ps(b2, b3, _MM_SHUFFLE(1, 0, 1, 0)), _mm256_shuffle_ps(b2, b3, _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm256_add_ps(_mm256_shuffle_ps(g01, g23, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(g01, g23, _MM_SHUFFLE(3, 1, 3, 1)));
  }
#endif
  alignas(64) float s[V::W];
  for (int c = 0; c < V::W; ++c) s[c] = V::hsum(a[c]);
  return V::load(s);
}

}  // namespace
}  // namespace tf::simd
