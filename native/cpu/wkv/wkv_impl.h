// The WKV channel-block kernel, written once over the ISA structs of native/core/simd.h. Included by wkv.cc
// (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "wkv.h"

#include <cstdint>
#include <type_traits>

namespace tf {
namespace {

// -|x|, bit for bit V::neg(V::abs(x)) (NaN included): AVX2 sets the sign bit with one OR instead of clearing and
// flipping it.
template <class V>
__attribute__((always_inline)) inline typename V::reg neg_abs(typename V::reg x) {
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>) return _mm256_or_ps(x, _mm256_set1_ps(-0.0f));
#endif
  return V::neg(V::abs(x));
}

// One token for one vector of channels, the state (num, den, max) in registers, updated in place; returns out.
template <class V>
__attribute__((always_inline)) inline typename V::reg wkv_update(typename V::reg w, typename V::reg u, typename V::reg kk,
                                                                typename V::reg vv, typename V::reg& sn,
                                                                typename V::reg& sd, typename V::reg& sm) {
  using R = typename V::reg;
  // Upstream computes e1 = exp(max - m) and e2 = exp(k + u - m) with m = max(max, k + u): one of the two is
  // exp(0) = 1 and the other exp(-|max - (k + u)|) (float subtraction is exactly antisymmetric), so two exps per
  // token instead of four give the same values.
  const R one = V::set1(1.0f);
  const R ku = V::add(kk, u);
  const R da = V::sub(sm, ku);
  const R mw = V::add(sm, w);
  const R db = V::sub(mw, kk);
  // Both exponents are -|d| <= 0 (or NaN): one test of their lower bound for the two (exp_ordinary tests each
  // against both bounds); a vector that fails it takes exp_ordinary, whose values exp_in_range's are bit for bit.
  const R xa = neg_abs<V>(da), xb = neg_abs<V>(db);
  R ea, eb;
  bool in_range = false;
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>) {
    const R lo = V::set1(-87.0f);
    in_range = _mm256_movemask_ps(_mm256_and_ps(V::ge(xa, lo), V::ge(xb, lo))) == 0xff;
  }
#endif
  if (__builtin_expect(in_range, 1)) {
    ea = simd::exp_in_range<V>(xa);
    eb = simd::exp_in_range<V>(xb);
  } else {
    ea = simd::exp_ordinary<V>(xa);
    eb = simd::exp_ordinary<V>(xb);
  }
  const auto a_state = V::ge(da, V::zero());  // max >= k + u: m = max
  const R a1 = V::select(a_state, one, ea), a2 = V::select(a_state, ea, one);
  const R o = V::div(V::add(V::mul(a1, sn), V::mul(a2, vv)), V::add(V::mul(a1, sd), a2));
  const R ms = V::max(mw, kk);
  const auto b_state = V::ge(db, V::zero());
  const R b1 = V::select(b_state, one, eb), b2 = V::select(b_state, eb, one);
  sn = V::add(V::mul(b1, sn), V::mul(b2, vv));
  sd = V::add(V::mul(b1, sd), b2);
  sm = ms;
  return o;
}

// One token for one vector of channels with the state in memory (read and written in place). `n` < W: a partial
// vector of n lanes (masked loads and stores).
template <class V, bool Tail>
inline void wkv_step(const float* w, const float* u, const float* k, const float* v, float* out, float* num, float* den,
                     float* mx, size_t n) {
  using R = typename V::reg;
  auto ld = [n](const float* p) -> R {
    if constexpr (Tail) return V::load_tail(p, n);
    else return V::load(p);
  };
  auto st = [n](float* p, R x) {
    if constexpr (Tail) V::store_tail(p, x, n);
    else V::store(p, x);
  };
  R sn = ld(num), sd = ld(den), sm = ld(mx);
  st(out, wkv_update<V>(ld(w), ld(u), ld(k), ld(v), sn, sd, sm));
  st(num, sn);
  st(den, sd);
  st(mx, sm);
}

// nc channels starting at the given pointers (k, v, out advance by ldc per token; w, u, num, den, mx are
// contiguous over the channels). Tokens outer, channels inner: each token reads one contiguous run of k and v, and
// the channels' recurrences are independent work for the out-of-order core. Every lane does the same arithmetic
// whatever the block or vector split.
// The per-channel data a token needs besides k and v (w, u and the state: 20 bytes a channel, 40 KB for 2048
// channels, more than L1) is repacked for the call into one buffer of [w, u, num, den, max] per vector, so a token
// walks one sequential stream of it instead of five (measured on the build VM, C 2048: ~15% less time with k, v and
// out in DRAM). The hardware prefetchers follow k, v and out along a row, but a block narrower than C (the op gives
// a thread whole rows where it can) starts each token's run at a new place, often a new page, where they have to
// pick the stream up again: the first 4 lines of the next token's run of each are fetched by hand (build VM, two
// blocks of 1024 or 384 channels: 10-20% less time; not done for whole rows, where it measured no faster;
// prefetching every line, or two tokens ahead, measured slower). Short calls (the per-token step) skip the
// repacking, which would cost as much as the tokens.
template <class V>
void wkv_channels(const float* w, const float* u, const float* k, const float* v, float* out, int64_t T, int64_t ldc,
                  int64_t nc, float* num, float* den, float* mx) {
  using R = typename V::reg;
  constexpr int64_t W = V::W;
  const int64_t body = nc - nc % W;
  if (T < 4 || body == 0) {
    for (int64_t t = 0; t < T; ++t) {
      const float* kt = k + t * ldc;
      const float* vt = v + t * ldc;
      float* ot = out + t * ldc;
      for (int64_t c = 0; c < body; c += W)
        wkv_step<V, false>(w + c, u + c, kt + c, vt + c, ot + c, num + c, den + c, mx + c, 0);
      if (body < nc)
        wkv_step<V, true>(w + body, u + body, kt + body, vt + body, ot + body, num + body, den + body, mx + body,
                          static_cast<size_t>(nc - body));
    }
    return;
  }
  float* const p = cpu::wkv_scratch(static_cast<size_t>(5 * body));
  for (int64_t c = 0; c < body; c += W) {
    float* q = p + 5 * c;
    V::store(q, V::load(w + c));
    V::store(q + W, V::load(u + c));
    V::store(q + 2 * W, V::load(num + c));
    V::store(q + 3 * W, V::load(den + c));
    V::store(q + 4 * W, V::load(mx + c));
  }
  const int64_t head = ldc == nc ? 0 : body < 4 * 16 ? body : 4 * 16;  // whole rows: one stream, nothing to restart
  for (int64_t t = 0; t < T; ++t) {
    const float* kt = k + t * ldc;
    const float* vt = v + t * ldc;
    float* ot = out + t * ldc;
    float* q = p;
    if (t + 1 < T)
      for (int64_t c = 0; c < head; c += 16) {
        __builtin_prefetch(kt + ldc + c);
        __builtin_prefetch(vt + ldc + c);
        __builtin_prefetch(ot + ldc + c, 1);
      }
    for (int64_t c = 0; c < body; c += W, q += 5 * W) {
      R sn = V::load(q + 2 * W), sd = V::load(q + 3 * W), sm = V::load(q + 4 * W);
      V::store(ot + c, wkv_update<V>(V::load(q), V::load(q + W), V::load(kt + c), V::load(vt + c), sn, sd, sm));
      V::store(q + 2 * W, sn);
      V::store(q + 3 * W, sd);
      V::store(q + 4 * W, sm);
    }
    if (body < nc)
      wkv_step<V, true>(w + body, u + body, kt + body, vt + body, ot + body, num + body, den + body, mx + body,
                        static_cast<size_t>(nc - body));
  }
  for (int64_t c = 0; c < body; c += W) {
    const float* q = p + 5 * c;
    V::store(num + c, V::load(q + 2 * W));
    V::store(den + c, V::load(q + 3 * W));
    V::store(mx + c, V::load(q + 4 * W));
  }
}

template <class V>
void fill_wkv(Kernels& kt) {
  kt.wkv_f32 = wkv_channels<V>;
}

}  // namespace
}  // namespace tf
