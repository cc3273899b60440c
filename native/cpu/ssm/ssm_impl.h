// Row kernels of the SSM family, written once over the ISA structs of native/core/simd.h. Included by ssm.cc
// (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "ssm.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace tf {
namespace {


// simd::softplus bit for bit, faster where every lane is in [-86, 20] (AVX-512: [-87, 20]; Mamba's dt before the
// softplus nearly always is): there e = e^-|x| is an ordinary exp (AVX2: simd::exp_small, without a second lane test;
// AVX-512: exp<V>) and x <= 20 needs no select; the rest is softplus's own operations, in its order. Any
// other vector (or an ISA without the lane test) takes simd::softplus.
template <class V>
inline typename V::reg softplus_ordinary(typename V::reg x) {
  using R = typename V::reg;
  bool ordinary = false;
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>)
    ordinary = _mm256_movemask_ps(_mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(-86.0f), _CMP_GE_OQ),
                                                _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_LE_OQ))) == 0xff;
  if constexpr (std::is_same_v<V, simd::Avx512>)
    ordinary = (_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ) &
                _mm512_cmp_ps_mask(x, _mm512_set1_ps(20.0f), _CMP_LE_OQ)) == 0xffff;
#endif
  if (!ordinary) return simd::softplus<V>(x);
  R e;
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>)
    e = simd::exp_small<V>(V::neg(V::abs(x)));  // -|x| in [-86, 0]
  else
#endif
    e = simd::exp<V>(V::neg(V::abs(x)));
  return V::add(V::max(V::zero(), x), simd::log1p_unit<V>(e));
}

// simd::silu bit for bit (x sigmoid(x), sigmoid from e = exp(-|x|)), faster where every lane is in [-86, 86] (AVX2):
// there the clamp max(-FLT_MAX, x) is a no-op and exp(-|x|) is exp_small's (no clamps, no two-step ldexp). Any other
// vector (or level) takes simd::silu. Every silu of the family (the scan's gate, the step's, the conv's) is this one.
template <class V>
inline typename V::reg silu_small(typename V::reg x) {
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>) {
    const __m256i out = simd::beyond<V>(x, 86.0f);
    if (__builtin_expect(_mm256_testz_si256(out, out), 1)) {
      const __m256 e = simd::exp_small<V>(V::neg(V::abs(x)));  // as simd::sigmoid, then silu's product
      const __m256 r = V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
      return V::mul(x, V::select(V::ge(x, V::zero()), r, V::mul(e, r)));
    }
  }
#endif
  return simd::silu<V>(x);
}

// dt[i] = softplus(delta[i] + bias) or delta[i] + bias (torch's softplus: identity above 20). bias: null (0),
// one value (bias_stride 0) or one per element (bias_stride 1).
template <class V>
void ssm_delta(const float* delta, const float* bias, int64_t bias_stride, bool softplus, float* dt, size_t n) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  const float zero = 0.0f;
  if (!bias) bias = &zero, bias_stride = 0;
  const R vb = V::set1(*bias);
  size_t i = 0;
  for (; i + W <= n; i += W) {
    R d = V::add(V::load(delta + i), bias_stride ? V::load(bias + i) : vb);
    V::store(dt + i, softplus ? softplus_ordinary<V>(d) : d);
  }
  if (i < n) {
    R d = V::add(V::load_tail(delta + i, n - i), bias_stride ? V::load_tail(bias + i, n - i) : vb);
    V::store_tail(dt + i, softplus ? softplus_ordinary<V>(d) : d, n - i);
  }
}

// One scan step for K vectors of state kept in registers.
template <class V, int K>
void ssm_scan_regs(const float* dt, const float* u, const float* A, const float* B, int64_t sB, const float* C,
                   int64_t sC, float* x, float* y, int64_t L) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R a[K], xs[K];
  for (int j = 0; j < K; ++j) {
    a[j] = V::load(A + j * W);
    xs[j] = V::load(x + j * W);
  }
  // The smallest and largest lane of the row's A (padding included), for the range test of a group of steps; a NaN
  // lane disables it (every step then tests its own arguments). exp(dt A) is computed as 2^((dt log2e) A) (simd::exp2:
  // the product with log2(e) once per step instead of once per vector, no Cody-Waite reduction).
  float amin = 0.0f, amax = 0.0f;
  bool anan = false;
  for (int64_t i = 0; i < K * W; ++i) {
    const float ai = A[i];
    anan |= ai != ai;
    amin = std::min(amin, ai);
    amax = std::max(amax, ai);
  }
  [[maybe_unused]] const R vamin = V::set1(amin), vamax = V::set1(amax);
  // step l: the state update and the read-out's vector (its lanes still to be summed); InRange: every (dt log2e) A of
  // the step is known to be in exp2_small's domain
  auto step = [&](int64_t l, auto in_range) {
    const float d = dt[l];
    const R vy = V::set1(d * simd::kLog2e), du = V::set1(d * u[l]);
    const float* b = B + l * sB;
    const float* c = C + l * sC;
    R acc = V::zero();
    for (int j = 0; j < K; ++j) {
      const R arg = V::mul(vy, a[j]);
      R dA;
#if defined(TF_SIMD_X86)
      if constexpr (decltype(in_range)::value && std::is_same_v<V, simd::Avx2>)
        dA = simd::exp2_small<V>(arg);
      else
#endif
        dA = simd::exp2_ordinary<V>(arg);
      xs[j] = V::fma(dA, xs[j], V::mul(du, V::load(b + j * W)));
      acc = V::fma(xs[j], V::load(c + j * W), acc);
    }
    return acc;
  };
  int64_t l = 0;
  // W steps at a time, their W read-outs summed together (simd::hsum_lanes: V::hsum's bits, fewer shuffles); y may
  // alias dt: the group's dt were read before its y are stored. The group's arguments y a (y = d log2e, rounded as
  // the step rounds it) are tested at once: a rounded product is monotone in a, so each step's lie between y amin and
  // y amax (either sign of y; a NaN or infinite product fails the test and the group tests per vector, as
  // exp2_ordinary does).
  for (; l + W <= L; l += W) {
    R accs[W];
    bool in_range = false;  // only AVX2 has a faster exp2 for it (elsewhere exp2_ordinary is exp2<V>)
#if defined(TF_SIMD_X86)
    if constexpr (std::is_same_v<V, simd::Avx2>) {
      const R vd = V::mul(V::load(dt + l), V::set1(simd::kLog2e));
      const R p = V::mul(vd, vamin), q = V::mul(vd, vamax);
      const R lo = V::set1(-124.0f), hi = V::set1(124.0f);
      in_range = !anan && _mm256_movemask_ps(_mm256_and_ps(_mm256_and_ps(V::ge(p, lo), V::ge(q, lo)),
                                                           _mm256_and_ps(V::le(p, hi), V::le(q, hi)))) == 0xff;
    }
#endif
    if (in_range)
      for (int s = 0; s < W; ++s) accs[s] = step(l + s, std::true_type{});
    else
      for (int s = 0; s < W; ++s) accs[s] = step(l + s, std::false_type{});
    V::store(y + l, simd::hsum_lanes<V>(accs));
  }
  for (int s = 0, rest = static_cast<int>(L - l); s < rest; ++s) y[l + s] = V::hsum(step(l + s, std::false_type{}));  // rest < W
  for (int j = 0; j < K; ++j) V::store(x + j * W, xs[j]);
}

// Any number of vectors: the state stays in memory (L1).
template <class V>
void ssm_scan_mem(const float* dt, const float* u, const float* A, const float* B, int64_t sB, const float* C,
                  int64_t sC, float* x, float* y, int64_t L, int64_t nv) {
  using R = typename V::reg;
  constexpr int W = V::W;
  for (int64_t l = 0; l < L; ++l) {
    const float d = dt[l];
    const R vy = V::set1(d * simd::kLog2e), du = V::set1(d * u[l]);  // as ssm_scan_regs
    const float* b = B + l * sB;
    const float* c = C + l * sC;
    R acc0 = V::zero(), acc1 = V::zero();
    int64_t j = 0;
    for (; j + 2 <= nv; j += 2) {
      R x0 = V::fma(simd::exp2_ordinary<V>(V::mul(vy, V::load(A + j * W))), V::load(x + j * W), V::mul(du, V::load(b + j * W)));
      R x1 = V::fma(simd::exp2_ordinary<V>(V::mul(vy, V::load(A + (j + 1) * W))), V::load(x + (j + 1) * W),
                    V::mul(du, V::load(b + (j + 1) * W)));
      V::store(x + j * W, x0);
      V::store(x + (j + 1) * W, x1);
      acc0 = V::fma(x0, V::load(c + j * W), acc0);
      acc1 = V::fma(x1, V::load(c + (j + 1) * W), acc1);
    }
    if (j < nv) {
      R x0 = V::fma(simd::exp2_ordinary<V>(V::mul(vy, V::load(A + j * W))), V::load(x + j * W), V::mul(du, V::load(b + j * W)));
      V::store(x + j * W, x0);
      acc0 = V::fma(x0, V::load(c + j * W), acc0);
    }
    y[l] = V::hsum(V::add(acc0, acc1));
  }
}

// x, A and the rows of B and C hold ceil(N / W) full vectors (zero-padded past N).
template <class V>
void ssm_scan(const float* dt, const float* u, const float* A, const float* B, int64_t sB, const float* C, int64_t sC,
              float* x, float* y, int64_t L, int64_t N) {
  const int64_t nv = (N + V::W - 1) / V::W;
  switch (nv) {
    case 1: return ssm_scan_regs<V, 1>(dt, u, A, B, sB, C, sC, x, y, L);
    case 2: return ssm_scan_regs<V, 2>(dt, u, A, B, sB, C, sC, x, y, L);
    case 3: return ssm_scan_regs<V, 3>(dt, u, A, B, sB, C, sC, x, y, L);
    case 4: return ssm_scan_regs<V, 4>(dt, u, A, B, sB, C, sC, x, y, L);
    default: return ssm_scan_mem<V>(dt, u, A, B, sB, C, sC, x, y, L, nv);
  }
}

// out = (y + D u) * silu(z), D and z optional (D: one value, d_stride 0, or one per element, d_stride 1); silu_small.
template <class V>
void ssm_gate(const float* y, const float* u, const float* D, int64_t d_stride, const float* z, float* out, size_t n) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  const R vd = V::set1(D ? *D : 0.0f);
  auto one = [&](R yy, R uu, R dd, R zz) {
    if (D) yy = V::fma(dd, uu, yy);
    if (z) yy = V::mul(yy, silu_small<V>(zz));
    return yy;
  };
  size_t i = 0;
  for (; i + W <= n; i += W)
    V::store(out + i, one(V::load(y + i), V::load(u + i), D && d_stride ? V::load(D + i) : vd, z ? V::load(z + i) : V::zero()));
  if (i < n) {
    const size_t r = n - i;
    V::store_tail(out + i, one(V::load_tail(y + i, r), V::load_tail(u + i, r), D && d_stride ? V::load_tail(D + i, r) : vd,
                               z ? V::load_tail(z + i, r) : V::zero()), r);
  }
}

// 2^y of the K argument vectors (dt log2e) A of one row of the step, bit for bit simd::exp2_ordinary of each (so
// exp2<V>). AVX2: one lane test for the K vectors together (|y| <= 124 on every lane: an and and an integer compare
// each, one test and branch for the row), then exp2_small. A row with any lane out of the range (large |y|, NaN)
// takes exp2<V>, as every other level does.
template <class V, int K>
inline void step_exps(const typename V::reg* x, typename V::reg* out) {
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>) {
    __m256i out_of_range = simd::beyond<V>(x[0], 124.0f);
    for (int q = 1; q < K; ++q) out_of_range = _mm256_or_si256(out_of_range, simd::beyond<V>(x[q], 124.0f));
    if (__builtin_expect(_mm256_testz_si256(out_of_range, out_of_range), 1)) {
      for (int q = 0; q < K; ++q) out[q] = simd::exp2_small<V>(x[q]);
      return;
    }
  }
#endif
  for (int q = 0; q < K; ++q) out[q] = simd::exp2<V>(x[q]);
}


// One step (L = 1) of `count` consecutive channels d0 .. d0+count-1 of one batch, in sub-blocks of 256 channels (the
// caller's whole block) and three passes each: dt = softplus?(delta + bias) and dt u as vectors over the channels;
// the state update of each channel (SIMD over N) with the W read-outs of a group of W channels reduced together; the
// gate (y + D u) * silu(z) over the channels (AVX2: silu_small). (One pass per group of W channels, as this was,
// chained each group's softplus and gate latency into its rows: 24 us instead of 22 for Mamba-130m's 1536 channels on
// one thread; issuing the next group's softplus ahead of each group's rows (software-pipelined) was no better than
// the passes: its long chains at the head of the reorder window hold up retirement; sub-blocks of 256 instead of 64
// channels: ~2% less, the softplus pass's 32 independent vectors overlapping more.) Per element the same operations
// in the same order as ssm_delta, ssm_scan (L = 1) and ssm_gate: the same bits as the full scan.
// x: the rows' states in place ([count, N]); B and C rows of channel d at B + (d / bdiv) * N (groups), C likewise;
// A: [count, N]; delta, bias, u, D, z, out: [count] (bias, D, z may be null). K vectors of state per row (K = 0: any
// N, one ssm_scan call per row); the B and C rows stay in registers while the group does not change.
template <class V, int K>
void ssm_step_fused_k(const float* delta, const float* bias, bool softplus, const float* u, const float* A,
                      const float* B, int64_t bdiv, const float* C, int64_t cdiv, const float* D, const float* z,
                      float* x, float* out, int64_t d0, int64_t count, int64_t N) {
  using R = typename V::reg;
  constexpr int W = V::W;
  constexpr int KR = K > 0 ? K : 1;
  constexpr int64_t kSub = 256;  // channels per pass: a multiple of every W
  alignas(64) float dts[kSub], dus[kSub], ys[kSub];
  R bv[KR] = {}, cv[KR] = {};
  int64_t gb = 0, gc = 0, bnext = d0, cnext = d0;  // first channel past the loaded group (d0: none loaded)
  for (int64_t s0 = 0; s0 < count; s0 += kSub) {
    const int64_t sn = std::min(kSub, count - s0);
    // pass 1: dt and dt u of the sub-block's channels (independent vectors: no latency chain into the rows)
    for (int64_t j = 0; j < sn; j += W) {
      const int64_t i0 = s0 + j;
      const int nc = static_cast<int>(std::min<int64_t>(W, sn - j));
      const size_t r = static_cast<size_t>(nc);
      auto ld = [&](const float* p) { return nc == W ? V::load(p + i0) : V::load_tail(p + i0, r); };
      R dt = V::add(ld(delta), bias ? ld(bias) : V::zero());  // as ssm_delta (bias null: + 0 there too)
      if (softplus) dt = softplus_ordinary<V>(dt);
      V::store(dts + j, dt);
      V::store(dus + j, V::mul(dt, ld(u)));  // dt * u, as the scan's scalar product
    }
    // pass 2: the rows' state updates and read-outs
    for (int64_t j = 0; j < sn; j += W) {
      const int nc = static_cast<int>(std::min<int64_t>(W, sn - j));
      R acc[W];
      for (int c = 0; c < nc; ++c) {
        const int64_t i = s0 + j + c, d = d0 + i;
        float* xr = x + i * N;
        const float* ar = A + i * N;
        if constexpr (K == 0) {
          ssm_scan<V>(dts + j + c, u + i, ar, B + (d / bdiv) * N, 0, C + (d / cdiv) * N, 0, xr, ys + j + c, 1, N);
        } else {
          if (d >= bnext) {  // the group of channel d is d / bdiv, tracked without a division per channel
            gb = d / bdiv;
            bnext = (gb + 1) * bdiv;
            for (int q = 0; q < K; ++q) bv[q] = V::load(B + gb * N + q * W);
          }
          if (d >= cnext) {
            gc = d / cdiv;
            cnext = (gc + 1) * cdiv;
            for (int q = 0; q < K; ++q) cv[q] = V::load(C + gc * N + q * W);
          }
          const R vy = V::set1(dts[j + c] * simd::kLog2e), du = V::set1(dus[j + c]);  // as ssm_scan_regs
          R a = V::zero(), dA[K];
          for (int q = 0; q < K; ++q) dA[q] = V::mul(vy, V::load(ar + q * W));
          step_exps<V, K>(dA, dA);
          for (int q = 0; q < K; ++q) {  // as ssm_scan_regs with L = 1
            const R xs = V::fma(dA[q], V::load(xr + q * W), V::mul(du, bv[q]));
            V::store(xr + q * W, xs);
            a = V::fma(xs, cv[q], a);
          }
          acc[c] = a;
        }
      }
      if constexpr (K > 0) {
        for (int c = nc; c < W; ++c) acc[c] = V::zero();
        V::store(ys + j, simd::hsum_lanes<V>(acc));
      }
    }
    // pass 3: the gate
    for (int64_t j = 0; j < sn; j += W) {
      const int64_t i0 = s0 + j;
      const int nc = static_cast<int>(std::min<int64_t>(W, sn - j));
      const size_t r = static_cast<size_t>(nc);
      auto ld = [&](const float* p) { return nc == W ? V::load(p + i0) : V::load_tail(p + i0, r); };
      R y = V::load(ys + j);
      if (D) y = V::fma(ld(D), ld(u), y);  // as ssm_gate
      if (z) y = V::mul(y, silu_small<V>(ld(z)));
      if (nc == W)
        V::store(out + i0, y);
      else
        V::store_tail(out + i0, y, r);
    }
  }
}
template <class V>
void ssm_step_fused(const float* delta, const float* bias, bool softplus, const float* u, const float* A,
                    const float* B, int64_t bdiv, const float* C, int64_t cdiv, const float* D, const float* z,
                    float* x, float* out, int64_t d0, int64_t count, int64_t N) {
  if (N == V::W) return ssm_step_fused_k<V, 1>(delta, bias, softplus, u, A, B, bdiv, C, cdiv, D, z, x, out, d0, count, N);
  if (N == 2 * V::W) return ssm_step_fused_k<V, 2>(delta, bias, softplus, u, A, B, bdiv, C, cdiv, D, z, x, out, d0, count, N);
  if (N == 4 * V::W) return ssm_step_fused_k<V, 4>(delta, bias, softplus, u, A, B, bdiv, C, cdiv, D, z, x, out, d0, count, N);
  ssm_step_fused_k<V, 0>(delta, bias, softplus, u, A, B, bdiv, C, cdiv, D, z, x, out, d0, count, N);
}

// Causal depthwise conv of one row: out[l] = bias + sum_i w[i] xp[l + i] (xp: k - 1 + L values), optional silu
// (silu_small).
template <class V>
void ssm_conv_row(const float* xp, const float* w, int64_t k, float bias, bool silu, float* out, int64_t L) {
  using R = typename V::reg;
  constexpr int64_t W = V::W;
  int64_t l = 0;
  for (; l + 2 * W <= L; l += 2 * W) {
    R a0 = V::set1(bias), a1 = a0;
    for (int64_t i = 0; i < k; ++i) {
      const R wi = V::set1(w[i]);
      a0 = V::fma(wi, V::load(xp + l + i), a0);
      a1 = V::fma(wi, V::load(xp + l + W + i), a1);
    }
    if (silu) {
      a0 = silu_small<V>(a0);
      a1 = silu_small<V>(a1);
    }
    V::store(out + l, a0);
    V::store(out + l + W, a1);
  }
  for (; l + W <= L; l += W) {
    R a0 = V::set1(bias);
    for (int64_t i = 0; i < k; ++i) a0 = V::fma(V::set1(w[i]), V::load(xp + l + i), a0);
    V::store(out + l, silu ? silu_small<V>(a0) : a0);
  }
  if (l < L) {
    const size_t r = static_cast<size_t>(L - l);
    R a0 = V::set1(bias);
    for (int64_t i = 0; i < k; ++i) a0 = V::fma(V::set1(w[i]), V::load_tail(xp + l + i, r), a0);
    V::store_tail(out + l, silu ? silu_small<V>(a0) : a0, r);
  }
}

// One token of the causal conv for n consecutive channels of one sequence, in three passes: per channel d,
// out[d] = bias[d] + sum_i w[d k + i] xp_i with xp = [state_in[d h .. d h + h), x[d]] (h = k - 1; state_in null:
// zeros), the taps in ssm_conv_row's order (its operations per lane: the same bits), reading the weights and the state
// in their own layouts; then the new state [xp_1 .. xp_h] of every row at once (the whole [n, h] block shifted by one
// float, then x into every row's last place: state_out may be state_in itself); then silu over the n outputs as
// vectors (simd::silu's bits; AVX2: silu_small). (Written per channel with the state shifted in the same loop, the
// channels' short FMA chains did not overlap: ~30 cycles a channel on the build VM instead of ~4.)
template <class V>
void ssm_conv_step(const float* x, const float* w, int64_t k, const float* bias, const float* state_in,
                   float* state_out, bool silu, float* out, int64_t n) {
  constexpr int64_t W = V::W;
  const int64_t h = k - 1;
  // a lane of V::fma on scalars: the scalar level's own fma; the vector levels' (a target with FMA) one instruction
  auto fma1 = [](float a, float b, float c) {
    if constexpr (std::is_same_v<V, simd::Scalar>)
      return V::fma(a, b, c);
    else
      return __builtin_fmaf(a, b, c);
  };
  if (k == 4 && state_in) {  // Mamba's d_conv, unrolled: ~1 us less than the loop below for 1536 channels
    for (int64_t d = 0; d < n; ++d) {
      const float* wr = w + d * 4;
      const float* si = state_in + d * 3;
      float acc = bias ? bias[d] : 0.0f;
      acc = fma1(wr[0], si[0], acc);
      acc = fma1(wr[1], si[1], acc);
      acc = fma1(wr[2], si[2], acc);
      out[d] = fma1(wr[3], x[d], acc);
    }
  } else {
    for (int64_t d = 0; d < n; ++d) {
      const float* wr = w + d * k;
      float acc = bias ? bias[d] : 0.0f;
      for (int64_t i = 0; i < h; ++i) acc = fma1(wr[i], state_in ? state_in[d * h + i] : 0.0f, acc);
      out[d] = fma1(wr[h], x[d], acc);
    }
  }
  if (state_out && h > 0 && n > 0) {
    const size_t m = static_cast<size_t>(n * h);
    if (state_in)
      std::memmove(state_out, state_in + 1, (m - 1) * sizeof(float));  // row d's xp_1.. (its last place overwritten)
    else
      std::fill(state_out, state_out + m, 0.0f);
    for (int64_t d = 0; d < n; ++d) state_out[d * h + h - 1] = x[d];
  }
  if (!silu) return;
  int64_t d = 0;
  for (; d + W <= n; d += W) V::store(out + d, silu_small<V>(V::load(out + d)));
  if (d < n)
    V::store_tail(out + d, silu_small<V>(V::load_tail(out + d, static_cast<size_t>(n - d))), static_cast<size_t>(n - d));
}

// Throughput probe of the fastest exponential of the kernels: e^x as 2^(x log2e) (simd::exp2; AVX2: exp2_small
// without a range test, as the selective scan and WKV take it after one test for a group of vectors), `passes` times
// x[i] = e^x[i] - 1.5 over an L1-resident buffer (n a multiple of W; the map keeps |x| < 1.3, so every exp is an
// ordinary one).
template <class V>
void ssm_exp_probe(float* x, size_t n, int64_t passes) {
  using R = typename V::reg;
  const R c = V::set1(1.5f), l2e = V::set1(simd::kLog2e);
  for (int64_t p = 0; p < passes; ++p)
    for (size_t i = 0; i + V::W <= n; i += V::W) {
      const R y = V::mul(V::load(x + i), l2e);
      R e;
#if defined(TF_SIMD_X86)
      if constexpr (std::is_same_v<V, simd::Avx2>)
        e = simd::exp2_small<V>(y);
      else
#endif
        e = simd::exp2<V>(y);
      V::store(x + i, V::sub(e, c));
    }
}

template <class V>
void fill_ssm(Kernels& kt) {
  kt.ssm_exp_probe_f32 = ssm_exp_probe<V>;
  kt.ssm_conv_step_f32 = ssm_conv_step<V>;
  kt.ssm_delta_f32 = ssm_delta<V>;
  kt.ssm_scan_f32 = ssm_scan<V>;
  kt.ssm_gate_f32 = ssm_gate<V>;
  kt.ssm_step_fused_f32 = ssm_step_fused<V>;
  kt.ssm_conv_row_f32 = ssm_conv_row<V>;
}

}  // namespace
}  // namespace tf
