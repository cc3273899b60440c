// The WKV channel-block kernel, written once over the ISA structs of native/core/simd.h. Included by wkv.cc
// (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "wkv.h"

#include <type_traits>

namespace tf {
namespace {

// One token for one vector of channels: the state (num, den, max) is read and written in place (it stays in L1:
// a block's state is 12 bytes per channel). `n` < W: a partial vector of n lanes (masked loads and stores).
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
  const R kk = ld(k), vv = ld(v), sn = ld(num), sd = ld(den), sm = ld(mx);
  // Upstream computes e1 = exp(max - m) and e2 = exp(k + u - m) with m = max(max, k + u): one of the two is
  // exp(0) = 1 and the other exp(-|max - (k + u)|) (float subtraction is exactly antisymmetric), so two exps per
  // token instead of four give the same values.
  const R one = V::set1(1.0f);
  const R ku = V::add(kk, ld(u));
  const R da = V::sub(sm, ku);
  const R mw = V::add(sm, ld(w));
  const R db = V::sub(mw, kk);
  // Both exponents are -|d| <= 0 (or NaN): one test of their lower bound for the two (exp_ordinary tests each
  // against both bounds); a vector that fails it takes exp_ordinary, whose values exp_in_range's are bit for bit.
  const R xa = V::neg(V::abs(da)), xb = V::neg(V::abs(db));
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
  st(out, V::div(V::add(V::mul(a1, sn), V::mul(a2, vv)), V::add(V::mul(a1, sd), a2)));
  const R ms = V::max(mw, kk);
  const auto b_state = V::ge(db, V::zero());
  const R b1 = V::select(b_state, one, eb), b2 = V::select(b_state, eb, one);
  st(num, V::add(V::mul(b1, sn), V::mul(b2, vv)));
  st(den, V::add(V::mul(b1, sd), b2));
  st(mx, ms);
}

// nc channels starting at the given pointers (k, v, out advance by ldc per token; w, u, num, den, mx are
// contiguous over the channels). Tokens outer, channels inner: each token reads one contiguous run of k and v
// (streams the hardware prefetcher follows), and the channels' recurrences are independent work for the
// out-of-order core. Every lane does the same arithmetic whatever the block or vector split.
template <class V>
void wkv_channels(const float* w, const float* u, const float* k, const float* v, float* out, int64_t T, int64_t ldc,
                  int64_t nc, float* num, float* den, float* mx) {
  constexpr int64_t W = V::W;
  constexpr int64_t kLine = 16;  // floats per cache line, a multiple of every W
  constexpr int64_t kAhead = 2;  // tokens prefetched ahead
  const int64_t body = nc - nc % W, lines = nc - nc % kLine;
  for (int64_t t = 0; t < T; ++t) {
    const float* kt = k + t * ldc;
    const float* vt = v + t * ldc;
    float* ot = out + t * ldc;
    // A block's run of a token is a few KB at a stride of C floats: each run starts a new page, where the hardware
    // prefetcher has to pick the stream up again. The lines of token t + kAhead are fetched by hand (out for writing).
    const bool pf = t + kAhead < T;
    int64_t c = 0;
    for (; c < lines; c += kLine) {
      if (pf) {
        __builtin_prefetch(kt + kAhead * ldc + c);
        __builtin_prefetch(vt + kAhead * ldc + c);
        __builtin_prefetch(ot + kAhead * ldc + c, 1);
      }
      for (int64_t cc = c; cc < c + kLine; cc += W)
        wkv_step<V, false>(w + cc, u + cc, kt + cc, vt + cc, ot + cc, num + cc, den + cc, mx + cc, 0);
    }
    for (; c < body; c += W)
      wkv_step<V, false>(w + c, u + c, kt + c, vt + c, ot + c, num + c, den + c, mx + c, 0);
    if (body < nc)
      wkv_step<V, true>(w + body, u + body, kt + body, vt + body, ot + body, num + body, den + body, mx + body,
                        static_cast<size_t>(nc - body));
  }
}

template <class V>
void fill_wkv(Kernels& kt) {
  kt.wkv_f32 = wkv_channels<V>;
}

}  // namespace
}  // namespace tf
