// The WKV channel-block kernel, written once over the ISA structs of native/core/simd.h. Included by wkv.cc
// (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/scratch.h"
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

#if defined(TF_SIMD_X86)
// _mm256_blendv_ps(a, b, m) (m's sign bit set: b), as one instruction: GCC turns the intrinsic into a compare
// m < 0 and a blend when m is not a compare's result, an extra instruction on the same pipes.
template <class V>
__attribute__((always_inline)) inline typename V::reg blend_sign(typename V::reg a, typename V::reg b,
                                                                 typename V::reg m) {
  static_assert(std::is_same_v<V, simd::Avx2>, "AVX2 only");
#if defined(__GNUC__)
  __m256 r;
  __asm__("vblendvps %3, %2, %1, %0" : "=x"(r) : "x"(a), "x"(b), "x"(m));
  return r;
#else
  return _mm256_blendv_ps(a, b, m);
#endif
}

// wkv_update below for AVX2 on N vectors of channels at once, the same values bit for bit: the same operations, with
// the exps through simd::exp2_small (exp2<V>'s values), in fewer instructions on the multiply/FMA pipes, which bound
// the kernel (Zen 3: two of the four FP pipes take the multiplies, FMAs, compares, blends and max; the exp probe that
// sets the floor is bound by them too):
// - e^-|d| is 2^y with y = -|d| log2(e) (simd::exp2: no Cody-Waite reduction; the extra rounding of y is |d| 2^-24
//   of relative error in the exp, as the rounding of d itself is);
// - the range test of the 2N exponents y is done on their bits as integers: y's bits (y <= 0), read as a signed
//   integer, are INT_MIN + |y|'s bits, so integer maxima and one integer compare against -124's tell whether any
//   lane is beyond 124 or NaN (exp2_small's range; then every exp of the N vectors takes exp2<V>: the same values
//   in range, so a lane's result does not depend on its neighbours);
// - exp2_small scales by 2^n with an integer add instead of a multiply;
// - the selects take their mask from the sign bit of d itself (blendv reads only the sign bit) instead of a compare
//   d >= 0: they differ only at d = -0, where e^-|d| = 1 makes both choices equal, and at NaN, where every choice is
//   NaN.
// N > 1 interleaves independent vectors' long exp chains (on the build VM, C 2048 with the data in L2: 4 vectors
// ~20% less time than one at a time; 3 to 5 alike). `io` reads and writes vector i's data: w(i), u(i), k(i), v(i),
// num(i), den(i), max(i), and set_out(i, x), set_num, set_den, set_max. Each value is read just before its first use
// and written as soon as it is known (the new max before the exps; v, num and den only after them), which keeps N = 4
// vectors' values nearly within the 16 registers (loading all of them first spilled more and measured ~25% slower).
template <int N, class Io>
__attribute__((always_inline)) inline void wkv_update_avx2(Io& io) {
  using V = simd::Avx2;
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256 da[N], db[N], xa[N], xb[N], ea[N], eb[N];
  for (int i = 0; i < N; ++i) {
    const __m256 kk = io.k(i), sm = io.max(i);
    da[i] = _mm256_sub_ps(sm, _mm256_add_ps(kk, io.u(i)));  // < 0: m = k + u
    const __m256 mw = _mm256_add_ps(sm, io.w(i));
    db[i] = _mm256_sub_ps(mw, kk);  // < 0: m' = k
    io.set_max(i, _mm256_max_ps(mw, kk));
    xa[i] = _mm256_mul_ps(neg_abs<V>(da[i]), _mm256_set1_ps(simd::kLog2e));
    xb[i] = _mm256_mul_ps(neg_abs<V>(db[i]), _mm256_set1_ps(simd::kLog2e));
  }
  __m256i top = _mm256_max_epi32(_mm256_castps_si256(xa[0]), _mm256_castps_si256(xb[0]));
  for (int i = 1; i < N; ++i)
    top = _mm256_max_epi32(top, _mm256_max_epi32(_mm256_castps_si256(xa[i]), _mm256_castps_si256(xb[i])));
  const __m256i big = _mm256_cmpgt_epi32(top, _mm256_castps_si256(_mm256_set1_ps(-124.0f)));
  if (__builtin_expect(_mm256_movemask_ps(_mm256_castsi256_ps(big)) == 0, 1)) {
    for (int i = 0; i < N; ++i) ea[i] = simd::exp2_small<V>(xa[i]);
    for (int i = 0; i < N; ++i) eb[i] = simd::exp2_small<V>(xb[i]);
  } else {
    for (int i = 0; i < N; ++i) ea[i] = simd::exp2<V>(xa[i]);
    for (int i = 0; i < N; ++i) eb[i] = simd::exp2<V>(xb[i]);
  }
  for (int i = 0; i < N; ++i) {
    const __m256 vv = io.v(i), sn = io.num(i), sd = io.den(i);
    const __m256 a1 = blend_sign<V>(one, ea[i], da[i]), a2 = blend_sign<V>(ea[i], one, da[i]);
    io.set_out(i, _mm256_div_ps(_mm256_fmadd_ps(a2, vv, _mm256_mul_ps(a1, sn)), _mm256_fmadd_ps(a1, sd, a2)));
    const __m256 b1 = blend_sign<V>(one, eb[i], db[i]), b2 = blend_sign<V>(eb[i], one, db[i]);
    io.set_num(i, _mm256_fmadd_ps(b2, vv, _mm256_mul_ps(b1, sn)));
    io.set_den(i, _mm256_fmadd_ps(b1, sd, b2));
  }
}

// wkv_update_avx2's data for one vector, in registers.
template <class V>
struct WkvRegs {
  using R = typename V::reg;
  R w_, u_, k_, v_, num_, den_, max_, out_;
  R w(int) const { return w_; }
  R u(int) const { return u_; }
  R k(int) const { return k_; }
  R v(int) const { return v_; }
  R num(int) const { return num_; }
  R den(int) const { return den_; }
  R max(int) const { return max_; }
  void set_num(int, R x) { num_ = x; }
  void set_den(int, R x) { den_ = x; }
  void set_max(int, R x) { max_ = x; }
  void set_out(int, R x) { out_ = x; }
};

// wkv_update_avx2's data for N consecutive vectors in the repacked per-vector buffer q ([w, u, num, den, max] per
// vector) and N consecutive vectors of k, v and out.
template <class V>
struct WkvPacked {
  using R = typename V::reg;
  static constexpr int W = V::W;
  float* q;
  const float* kt;
  const float* vt;
  float* ot;
  R w(int i) const { return V::load(q + 5 * W * i); }
  R u(int i) const { return V::load(q + 5 * W * i + W); }
  R num(int i) const { return V::load(q + 5 * W * i + 2 * W); }
  R den(int i) const { return V::load(q + 5 * W * i + 3 * W); }
  R max(int i) const { return V::load(q + 5 * W * i + 4 * W); }
  R k(int i) const { return V::load(kt + W * i); }
  R v(int i) const { return V::load(vt + W * i); }
  void set_num(int i, R x) const { V::store(q + 5 * W * i + 2 * W, x); }
  void set_den(int i, R x) const { V::store(q + 5 * W * i + 3 * W, x); }
  void set_max(int i, R x) const { V::store(q + 5 * W * i + 4 * W, x); }
  void set_out(int i, R x) const { V::store(ot + W * i, x); }
};

// wkv_update_avx2's data for N consecutive vectors of channels in the kernel's own arrays (the per-token step: the
// state read and written in place).
template <class V>
struct WkvArrays {
  using R = typename V::reg;
  static constexpr int W = V::W;
  const float *w_, *u_, *k_, *v_;
  float *out_, *num_, *den_, *max_;
  R w(int i) const { return V::load(w_ + W * i); }
  R u(int i) const { return V::load(u_ + W * i); }
  R k(int i) const { return V::load(k_ + W * i); }
  R v(int i) const { return V::load(v_ + W * i); }
  R num(int i) const { return V::load(num_ + W * i); }
  R den(int i) const { return V::load(den_ + W * i); }
  R max(int i) const { return V::load(max_ + W * i); }
  void set_num(int i, R x) const { V::store(num_ + W * i, x); }
  void set_den(int i, R x) const { V::store(den_ + W * i, x); }
  void set_max(int i, R x) const { V::store(max_ + W * i, x); }
  void set_out(int i, R x) const { V::store(out_ + W * i, x); }
};
#endif

// One token for one vector of channels, the state (num, den, max) in registers, updated in place; returns out.
template <class V>
__attribute__((always_inline)) inline typename V::reg wkv_update(typename V::reg w, typename V::reg u, typename V::reg kk,
                                                                typename V::reg vv, typename V::reg& sn,
                                                                typename V::reg& sd, typename V::reg& sm) {
  using R = typename V::reg;
#if defined(TF_SIMD_X86)
  if constexpr (std::is_same_v<V, simd::Avx2>) {
    WkvRegs<V> io{w, u, kk, vv, sn, sd, sm, w};
    wkv_update_avx2<1>(io);
    sn = io.num_;
    sd = io.den_;
    sm = io.max_;
    return io.out_;
  }
#endif
  // Upstream computes e1 = exp(max - m) and e2 = exp(k + u - m) with m = max(max, k + u): one of the two is
  // exp(0) = 1 and the other exp(-|max - (k + u)|) (float subtraction is exactly antisymmetric), so two exps per
  // token instead of four give the same values.
  const R one = V::set1(1.0f);
  const R ku = V::add(kk, u);
  const R da = V::sub(sm, ku);
  const R mw = V::add(sm, w);
  const R db = V::sub(mw, kk);
  // Both exponents are -|d| <= 0 (or NaN), as 2^(-|d| log2e) (AVX2 above). Other levels: exp2_ordinary is exp2<V>.
  const R l2e = V::set1(simd::kLog2e);
  const R xa = V::mul(neg_abs<V>(da), l2e), xb = V::mul(neg_abs<V>(db), l2e);
  const R ea = simd::exp2_ordinary<V>(xa), eb = simd::exp2_ordinary<V>(xb);
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
      int64_t c = 0;
#if defined(TF_SIMD_X86)
      if constexpr (std::is_same_v<V, simd::Avx2>)
        for (; c + 4 * W <= body; c += 4 * W) {
          WkvArrays<V> io{w + c, u + c, kt + c, vt + c, ot + c, num + c, den + c, mx + c};
          wkv_update_avx2<4>(io);
        }
#endif
      for (; c < body; c += W)
        wkv_step<V, false>(w + c, u + c, kt + c, vt + c, ot + c, num + c, den + c, mx + c, 0);
      if (body < nc)
        wkv_step<V, true>(w + body, u + body, kt + body, vt + body, ot + body, num + body, den + body, mx + body,
                          static_cast<size_t>(nc - body));
    }
    return;
  }
  // the repacked per-channel data, from the thread's scratch arena (core/scratch.h: its code is out of line, outside
  // the ISA target regions)
  ScratchFrame frame;
  float* const p = frame.floats(checked_count(5, body));
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
    int64_t c = 0;
#if defined(TF_SIMD_X86)
    // The next token's k and v of each group of channels, a row ahead (the last token: its own again). On the build
    // VM, with the data in DRAM, ~5% less time (C 768 and 2048, whole rows); no change with the data in cache.
    const float* kn = t + 1 < T ? kt + ldc : kt;
    const float* vn = t + 1 < T ? vt + ldc : vt;
    if constexpr (std::is_same_v<V, simd::Avx2>)
      for (; c + 4 * W <= body; c += 4 * W, q += 5 * 4 * W) {
        for (int64_t j = 0; j < 4 * W; j += 16) {
          __builtin_prefetch(kn + c + j);
          __builtin_prefetch(vn + c + j);
        }
        WkvPacked<V> io{q, kt + c, vt + c, ot + c};
        wkv_update_avx2<4>(io);
      }
#endif
    for (; c < body; c += W, q += 5 * W) {
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
