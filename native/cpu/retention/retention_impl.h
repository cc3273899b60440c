// The retention forms for one (batch, head), written once over the ISA structs of native/core/simd.h. Included by
// retention.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files. SIMD runs along dk and dv
// (dot products and row updates); the scratch is a caller-provided buffer (retention_scratch_floats).
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "retention.h"

#include <type_traits>

namespace tf {
namespace {

template <class V>
inline float ret_dot(const float* a, const float* b, int64_t n) {
  constexpr int64_t W = V::W;
  typename V::reg s0 = V::zero(), s1 = V::zero();
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    s0 = V::fma(V::load(a + i), V::load(b + i), s0);
    s1 = V::fma(V::load(a + i + W), V::load(b + i + W), s1);
  }
  for (; i + W <= n; i += W) s0 = V::fma(V::load(a + i), V::load(b + i), s0);
  if (i < n) s1 = V::fma(V::load_tail(a + i, n - i), V::load_tail(b + i, n - i), s1);
  return V::hsum(V::add(s0, s1));
}

// y = y * beta + x * alpha
template <class V>
inline void ret_scale_add(float* y, float beta, const float* x, float alpha, int64_t n) {
  constexpr int64_t W = V::W;
  const typename V::reg vb = V::set1(beta), va = V::set1(alpha);
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, V::fma(V::load(x + i), va, V::mul(V::load(y + i), vb)));
  if (i < n) {
    const size_t r = static_cast<size_t>(n - i);
    V::store_tail(y + i, V::fma(V::load_tail(x + i, r), va, V::mul(V::load_tail(y + i, r), vb)), r);
  }
}

// The running-product plan of the tokens (ret_rec_plan), per token: the factor of alpha (ca = 1 / (sq_t P_t)), of
// the read-out (r = P_t), the multiplier before the token (pre) and after it (post, read at a run's last token);
// ex: nonzero at the first token of a run that takes the exact form. Pointers at a run's first token.
struct RetPlan {
  const float* ca;
  const float* r;
  const float* pre;
  const float* post;
  const float* ex;
  RetPlan at(int64_t t) const { return {ca + t, r + t, pre + t, post + t, ex + t}; }
};

// The recurrent form for one row segment of the state (K vectors of one row e of KV, at most 8, kept in
// registers) over one run of Tb <= kRetPb tokens (ret_rec_plan). The running-product form: the first token
// x = x keep + k alpha (pre = keep), then the registers hold y = x / P_t (P_t: the product of the keep factors of
// the run's later tokens up to t), so a token costs two FMAs per vector, y += k_t alpha_t (alpha_t =
// v_t[e] / (sq_t P_t), computed by the caller, astride apart) and the read-out <q_t, y>, which is multiplied by P_t
// (out (+)= P_t <q_t, y>); at the run's end x = y P. A run whose P would leave [2^-20, 2^20] (ex) takes the exact form
// x = x keep_t + k_t alpha_t every token (pre = keep_t, P = 1). The rows of KV (and the segments of a row) are
// independent recurrences, so the caller runs each over a block of tokens whose q and k stay in L1, instead of
// streaming the whole state through memory every token. FULL: the last vector is full (else `tail` lanes). red: the
// caller reduces W rows' sums at once (ret_rec_group) and multiplies them by r, else out[t ostride] (+)= r[t] <q_t, y>.
template <class V, int K, bool FULL>
__attribute__((always_inline)) inline void ret_rec_segment(float* row, const float* k, const float* q, int64_t dk,
                                                           size_t tail, const float* alpha, int64_t astride,
                                                           const RetPlan& pl, float* out, int64_t ostride, int64_t Tb,
                                                           bool add, float* red = nullptr, int64_t rstride = 0) {
  using R = typename V::reg;
  constexpr int W = V::W;
  auto ld = [&](const float* p, int j) -> R {
    if (!FULL && j == K - 1) return V::load_tail(p + j * W, tail);
    return V::load(p + j * W);
  };
  const float *pre = pl.pre, *rf = pl.r;  // locals: the stores below may alias nothing of them
  R x[K];
  for (int j = 0; j < K; ++j) x[j] = ld(row, j);
  auto tokens = [&](auto exact) {
    constexpr bool EX = decltype(exact)::value;
    for (int64_t t = 0; t < Tb; ++t) {
      const R va = V::set1(alpha[t * astride]);
      const float* kt = k + t * dk;
      const float* qt = q + t * dk;
      R acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
      if (EX) {
        const R vb = V::set1(pre[t]);
        for (int j = 0; j < K; ++j) {
          x[j] = V::fma(ld(kt, j), va, V::mul(x[j], vb));
          acc[j & 3] = V::fma(ld(qt, j), x[j], acc[j & 3]);
        }
      } else {
        for (int j = 0; j < K; ++j) {
          x[j] = V::fma(ld(kt, j), va, x[j]);
          acc[j & 3] = V::fma(ld(qt, j), x[j], acc[j & 3]);
        }
      }
      const R sum = V::add(V::add(acc[0], acc[2]), V::add(acc[1], acc[3]));
      if (red) {
        V::store(red + t * rstride, sum);
        continue;
      }
      const float s = V::hsum(sum) * rf[t];
      out[t * ostride] = add ? out[t * ostride] + s : s;
    }
  };
  if (pl.ex[0] != 0.0f) {
    tokens(std::true_type{});
  } else {
    if (pre[0] != 1.0f) {
      const R vb = V::set1(pre[0]);
      for (int j = 0; j < K; ++j) x[j] = V::mul(x[j], vb);
    }
    tokens(std::false_type{});
    const R vp = V::set1(pl.post[Tb - 1]);
    for (int j = 0; j < K; ++j) x[j] = V::mul(x[j], vp);
  }
  for (int j = 0; j < K; ++j) {
    if (!FULL && j == K - 1)
      V::store_tail(row + j * W, x[j], tail);
    else
      V::store(row + j * W, x[j]);
  }
}

// ret_rec_segment for nrows rows (row r at row + r dk, its factors at alpha + r arstride, its sums at red + r W),
// each a segment of n <= 8 W floats (K = ceil(n / W) vectors): one dispatch for all of them, the segment inlined in
// the loop
template <class V, int K, bool FULL>
inline void ret_rec_rows(int64_t nrows, float* row, const float* k, const float* q, int64_t dk, size_t tail,
                         const float* alpha, int64_t astride, int64_t arstride, const RetPlan& pl, float* out,
                         int64_t ostride, int64_t Tb, bool add, float* red, int64_t rstride) {
  for (int64_t r = 0; r < nrows; ++r)
    ret_rec_segment<V, K, FULL>(row + r * dk, k, q, dk, tail, alpha + r * arstride, astride, pl, out, ostride, Tb,
                                add, red ? red + r * V::W : nullptr, rstride);
}

template <class V>
inline void ret_rec_segment_n(int64_t n, int64_t nrows, float* row, const float* k, const float* q, int64_t dk,
                              const float* alpha, int64_t astride, int64_t arstride, const RetPlan& pl, float* out,
                              int64_t ostride, int64_t Tb, bool add, float* red = nullptr, int64_t rstride = 0) {
  constexpr int64_t W = V::W;
  const int K = static_cast<int>((n + W - 1) / W);
  const size_t tail = static_cast<size_t>(n - (K - 1) * W);
#define TF_RET_SEG(KK)                                                                                        \
  (tail == static_cast<size_t>(W) ? ret_rec_rows<V, KK, true>(nrows, row, k, q, dk, tail, alpha, astride,     \
                                                              arstride, pl, out, ostride, Tb, add, red, rstride) \
                                  : ret_rec_rows<V, KK, false>(nrows, row, k, q, dk, tail, alpha, astride,    \
                                                               arstride, pl, out, ostride, Tb, add, red, rstride))
  switch (K) {
    case 1: TF_RET_SEG(1); break;
    case 2: TF_RET_SEG(2); break;
    case 3: TF_RET_SEG(3); break;
    case 4: TF_RET_SEG(4); break;
    case 5: TF_RET_SEG(5); break;
    case 6: TF_RET_SEG(6); break;
    case 7: TF_RET_SEG(7); break;
    default: TF_RET_SEG(8); break;
  }
#undef TF_RET_SEG
}

// Two rows of the state at once (row and row + dk) over one run of Tb <= kRetPb tokens, as ret_rec_segment with red
// for each, on a segment of K <= 4 vectors: each vector of k_t and q_t is loaded once and used by both rows (about 10
// loads per 16 FMAs instead of 17: the row loop of one row of 8 vectors is bound by the two load ports). The read-out
// of a row: acc_(j mod 2) = q_j y_j for j < 2, then acc_(j mod 2) += q_j y_j, then acc_0 + acc_1; acc: the segment's sums are added to the ones in
// red (a row's earlier segments), else stored there. Row r's factors at alpha + r, its sums at red + r W.
template <class V, int K, bool FULL>
__attribute__((always_inline)) inline void ret_rec_pair(float* row, const float* k, const float* q, int64_t dk,
                                                        size_t tail, const float* alpha, int64_t astride,
                                                        const RetPlan& pl, int64_t Tb, bool acc, float* red,
                                                        int64_t rstride) {
  using R = typename V::reg;
  constexpr int W = V::W;
  static_assert(K >= 1 && K <= 4, "a pair's segment holds at most 4 vectors a row");
  auto ld = [&](const float* p, int j) -> R {
    if (!FULL && j == K - 1) return V::load_tail(p + j * W, tail);
    return V::load(p + j * W);
  };
  // a vector of k or q in a register of its own (else the compiler folds the load into both rows' FMAs: 2 loads)
#if defined(TF_SIMD_X86)
#define TF_RET_PIN(r) asm("" : "+x"(r))
#else
#define TF_RET_PIN(r) (void)0
#endif
  const float* pre = pl.pre;
  float* row1 = row + dk;
  R x0[K], x1[K];
  for (int j = 0; j < K; ++j) {
    x0[j] = ld(row, j);
    x1[j] = ld(row1, j);
  }
  auto tokens = [&](auto exact, auto accumulate) {
    constexpr bool EX = decltype(exact)::value, AC = decltype(accumulate)::value;
    for (int64_t t = 0; t < Tb; ++t) {
      const R va0 = V::set1(alpha[t * astride]), va1 = V::set1(alpha[t * astride + 1]);
      const float* kt = k + t * dk;
      const float* qt = q + t * dk;
      R a0[2], a1[2];
      if (EX) {
        const R vb = V::set1(pre[t]);
        for (int j = 0; j < K; ++j) {
          R kj = ld(kt, j);
          TF_RET_PIN(kj);
          x0[j] = V::fma(kj, va0, V::mul(x0[j], vb));
          x1[j] = V::fma(kj, va1, V::mul(x1[j], vb));
        }
      } else {
        for (int j = 0; j < K; ++j) {
          R kj = ld(kt, j);
          TF_RET_PIN(kj);
          x0[j] = V::fma(kj, va0, x0[j]);
          x1[j] = V::fma(kj, va1, x1[j]);
        }
      }
      for (int j = 0; j < K; ++j) {
        R qj = ld(qt, j);
        TF_RET_PIN(qj);
        a0[j & 1] = j < 2 ? V::mul(qj, x0[j]) : V::fma(qj, x0[j], a0[j & 1]);
        a1[j & 1] = j < 2 ? V::mul(qj, x1[j]) : V::fma(qj, x1[j], a1[j & 1]);
      }
      float* rt = red + t * rstride;
      R s0 = K > 1 ? V::add(a0[0], a0[1]) : a0[0], s1 = K > 1 ? V::add(a1[0], a1[1]) : a1[0];
      if (AC) {
        s0 = V::add(V::load(rt), s0);
        s1 = V::add(V::load(rt + W), s1);
      }
      V::store(rt, s0);
      V::store(rt + W, s1);
    }
  };
  auto run = [&](auto exact) {
    if (acc)
      tokens(exact, std::true_type{});
    else
      tokens(exact, std::false_type{});
  };
  if (pl.ex[0] != 0.0f) {
    run(std::true_type{});
  } else {
    if (pre[0] != 1.0f) {
      const R vb = V::set1(pre[0]);
      for (int j = 0; j < K; ++j) {
        x0[j] = V::mul(x0[j], vb);
        x1[j] = V::mul(x1[j], vb);
      }
    }
    run(std::false_type{});
    const R vp = V::set1(pl.post[Tb - 1]);
    for (int j = 0; j < K; ++j) {
      x0[j] = V::mul(x0[j], vp);
      x1[j] = V::mul(x1[j], vp);
    }
  }
#undef TF_RET_PIN
  for (int j = 0; j < K; ++j) {
    if (!FULL && j == K - 1) {
      V::store_tail(row + j * W, x0[j], tail);
      V::store_tail(row1 + j * W, x1[j], tail);
    } else {
      V::store(row + j * W, x0[j]);
      V::store(row1 + j * W, x1[j]);
    }
  }
}

// ret_rec_pair over the W rows of a row group (W even), in pairs, on one segment of n <= 4 W floats
template <class V, int K, bool FULL>
inline void ret_rec_pairs(float* row, const float* k, const float* q, int64_t dk, size_t tail, const float* alpha,
                          const RetPlan& pl, int64_t Tb, bool acc, float* red) {
  constexpr int64_t W = V::W;
  for (int64_t r = 0; r < W; r += 2)
    ret_rec_pair<V, K, FULL>(row + r * dk, k, q, dk, tail, alpha + r, W, pl, Tb, acc, red + r * W, W * W);
}

template <class V>
inline void ret_rec_pairs_n(int64_t n, float* row, const float* k, const float* q, int64_t dk, const float* alpha,
                            const RetPlan& pl, int64_t Tb, bool acc, float* red) {
  constexpr int64_t W = V::W;
  const int K = static_cast<int>((n + W - 1) / W);
  const size_t tail = static_cast<size_t>(n - (K - 1) * W);
#define TF_RET_PAIRS(KK)                                                                                    \
  (tail == static_cast<size_t>(W) ? ret_rec_pairs<V, KK, true>(row, k, q, dk, tail, alpha, pl, Tb, acc, red) \
                                  : ret_rec_pairs<V, KK, false>(row, k, q, dk, tail, alpha, pl, Tb, acc, red))
  switch (K) {
    case 1: TF_RET_PAIRS(1); break;
    case 2: TF_RET_PAIRS(2); break;
    case 3: TF_RET_PAIRS(3); break;
    default: TF_RET_PAIRS(4); break;
  }
#undef TF_RET_PAIRS
}

// One row e of the state over Tb tokens (at most kRetTb); v and out: its column (vstride apart)
constexpr int64_t kRetTb = 2048;
constexpr int64_t kRetPb = 32;  // the longest block of the running product (and ret_rec_group's token sub-blocks)
template <class V>
inline void ret_rec_row(float* row, const float* k, const float* q, int64_t dk, const float* v, int64_t vstride,
                        const RetPlan& pl, float* out, int64_t Tb) {
  constexpr int64_t S = 8 * V::W;
  float alpha[kRetTb];
  for (int64_t t = 0; t < Tb; ++t) alpha[t] = v[t * vstride] * pl.ca[t];
  for (int64_t t0 = 0; t0 < Tb; t0 += kRetPb)  // the plan's runs
    for (int64_t s0 = 0; s0 < dk; s0 += S)
      ret_rec_segment_n<V>(std::min(S, dk - s0), 1, row + s0, k + t0 * dk + s0, q + t0 * dk + s0, dk, alpha + t0, 1, 0,
                           pl.at(t0), out + t0 * vstride, vstride, std::min(kRetPb, Tb - t0), s0 > 0);
}

// W consecutive rows of the state (kv: the first row; v and out: its column) over Tb tokens: as ret_rec_row for each
// row, but the read-outs of the W rows are reduced together (simd::hsum_lanes, the same bits as hsum) and written as
// one vector per token, times P_t. W even (AVX2, AVX-512): the rows in pairs (ret_rec_pair) over segments of 4 W
// floats, a row's segment sums added in red before the one reduction (not the bits of ret_rec_row); else segment
// after segment of 8 W (out = s1, then out + s2: the order of ret_rec_row). Tokens
// in the plan's runs of kRetPb (the rows' partial sums stay on the stack). The factors v_t[e] ca_t of the W rows: one
// vector multiply per token (the same bits as the scalar ones).
template <class V>
inline void ret_rec_group(float* kv, const float* k, const float* q, int64_t dk, const float* v, int64_t vstride,
                          const RetPlan& pl, float* out, int64_t Tb) {
  using R = typename V::reg;
  constexpr int64_t W = V::W, S = 8 * W, TS = kRetPb;
  alignas(64) float red[TS * W * W];
  alignas(64) float alpha[TS * W];
  for (int64_t t0 = 0; t0 < Tb; t0 += TS) {
    const int64_t tb = std::min(TS, Tb - t0);
    for (int64_t t = 0; t < tb; ++t)
      V::store(alpha + t * W, V::mul(V::load(v + (t0 + t) * vstride), V::set1(pl.ca[t0 + t])));
    if constexpr (W % 2 == 0) {  // rows in pairs (ret_rec_pair), segments of 4 W: the sums of a row's segments in red
      for (int64_t s0 = 0; s0 < dk; s0 += 4 * W)
        ret_rec_pairs_n<V>(std::min(4 * W, dk - s0), kv + s0, k + t0 * dk + s0, q + t0 * dk + s0, dk, alpha,
                           pl.at(t0), tb, s0 > 0, red);
      for (int64_t t = 0; t < tb; ++t) {
        R sums[W];
        for (int64_t r = 0; r < W; ++r) sums[r] = V::load(red + t * W * W + r * W);
        V::store(out + (t0 + t) * vstride, V::mul(simd::hsum_lanes<V>(sums), V::set1(pl.r[t0 + t])));
      }
      continue;
    }
    for (int64_t s0 = 0; s0 < dk; s0 += S) {
      const int64_t n = std::min(S, dk - s0);
      const float *kk = k + t0 * dk + s0, *qq = q + t0 * dk + s0;
      ret_rec_segment_n<V>(n, W, kv + s0, kk, qq, dk, alpha, W, 1, pl.at(t0), nullptr, 0, tb, false, red, W * W);
      for (int64_t t = 0; t < tb; ++t) {
        R sums[W];
        for (int64_t r = 0; r < W; ++r) sums[r] = V::load(red + t * W * W + r * W);
        const R y = V::mul(simd::hsum_lanes<V>(sums), V::set1(pl.r[t0 + t]));
        float* o = out + (t0 + t) * vstride;
        V::store(o, s0 > 0 ? V::add(V::load(o), y) : y);
      }
    }
  }
}

// One token (the generation step) through every row of the state, with k and q in registers (one row of dk <= 8 W
// floats, K vectors; FULL: the last full, else `tail` lanes): each row is loaded, updated, read out and stored once.
// The exact form x keep + k v / sq (a longer run's running product agrees within rounding, not bit for bit);
// streaming the rows this way took about half the time of the blocked path's row groups for one token (whose
// per-token work, the sums' stores and lane reductions, buys nothing at T = 1).
template <class V, int K, bool FULL>
inline void ret_rec_step(float* kv, const float* k, const float* q, int64_t dk, size_t tail, const float* v, float keep,
                         float sq, float* out, int64_t dv) {
  using R = typename V::reg;
  constexpr int W = V::W;
  auto ld = [&](const float* p, int j) -> R {
    if (!FULL && j == K - 1) return V::load_tail(p + j * W, tail);
    return V::load(p + j * W);
  };
  R kr[K], qr[K];
  for (int j = 0; j < K; ++j) {
    kr[j] = ld(k, j);
    qr[j] = ld(q, j);
  }
  const R vb = V::set1(keep);
  for (int64_t e = 0; e < dv; ++e) {
    float* row = kv + e * dk;
    const R va = V::set1(v[e] / sq);
    R acc[4] = {V::zero(), V::zero(), V::zero(), V::zero()};
    for (int j = 0; j < K; ++j) {
      const R x = V::fma(kr[j], va, V::mul(ld(row, j), vb));
      if (!FULL && j == K - 1)
        V::store_tail(row + j * W, x, tail);
      else
        V::store(row + j * W, x);
      acc[j & 3] = V::fma(qr[j], x, acc[j & 3]);
    }
    out[e] = V::hsum(V::add(V::add(acc[0], acc[2]), V::add(acc[1], acc[3])));
  }
}

template <class V>
inline void ret_rec_step_n(float* kv, const float* k, const float* q, int64_t dk, const float* v, float keep, float sq,
                           float* out, int64_t dv) {
  constexpr int64_t W = V::W;
  const int K = static_cast<int>((dk + W - 1) / W);
  const size_t tail = static_cast<size_t>(dk - (K - 1) * W);
#define TF_RET_STEP(KK)                                                                    \
  (tail == static_cast<size_t>(W) ? ret_rec_step<V, KK, true>(kv, k, q, dk, tail, v, keep, sq, out, dv) \
                                  : ret_rec_step<V, KK, false>(kv, k, q, dk, tail, v, keep, sq, out, dv))
  switch (K) {
    case 1: TF_RET_STEP(1); break;
    case 2: TF_RET_STEP(2); break;
    case 3: TF_RET_STEP(3); break;
    case 4: TF_RET_STEP(4); break;
    case 5: TF_RET_STEP(5); break;
    case 6: TF_RET_STEP(6); break;
    case 7: TF_RET_STEP(7); break;
    default: TF_RET_STEP(8); break;
  }
#undef TF_RET_STEP
}

#if defined(TF_SIMD_X86)
// dst[c * ldd + r] = src[r * lds + c] for an 8 x 8 block (AVX2; only called from the AVX2 instantiation)
__attribute__((target("avx2,fma"))) inline void ret_transpose8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
  }
}
#endif

// The chunkwise form's products, in registers over the chunk's own row-major buffers (no packing, no general GEMM
// setup): C[i, j] = sum_k A(i, k) B[k, j] over one or two depth segments (A(i, k) at a[i rsa + k csa], row k of B
// contiguous at b + k ldb), then C = that (beta_on false) or C beta + that. Tiles of MR rows x NV vectors: MR x NV
// accumulators live over the whole depth, each element one chain of FMAs in depth order (segment 1, then 2), so the
// result depends on neither the tiling nor the thread count. `tail`: lanes of the last vector (W when full).
struct RetMM {
  const float* a1;
  int64_t rsa1, csa1;
  const float* b1;
  int64_t ldb1;
  const float* a2;  // the second segment (k2 = 0: none)
  int64_t rsa2, csa2;
  const float* b2;
  int64_t ldb2, k2;
  float* c;
  int64_t ldc;
  float beta;
  bool beta_on;
  // rows to prefetch, pf_per per tile while the product runs (the next chunk's values, this chunk's output rows,
  // spread over the FMAs instead of a burst that waits for free miss buffers): pf_rows rows of pf_len floats,
  // pf_stride apart (pf null: none), for writing when pf_write
  const float* pf = nullptr;
  int64_t pf_stride = 0, pf_rows = 0, pf_len = 0;
  // non-null: colsum[j] += |C[i, j]| in double as each row of C is stored (the row blocks of a column panel run in
  // order, so each column's sum runs over i = 0, 1, ... in order)
  double* colsum = nullptr;
  int pf_per = 1;
  bool pf_write = false, pf_touch = false;  // pf_touch: see ret_prefetch_row
};

template <class V, int MR, int NV, bool FULL>
inline void ret_tile(const RetMM& p, int64_t i0, int64_t j0, int64_t k1, size_t tail) {
  using R = typename V::reg;
  constexpr int W = V::W;
  auto ldv = [&](const float* b, int j) -> R {
    if (!FULL && j == NV - 1) return V::load_tail(b + j * W, tail);
    return V::load(b + j * W);
  };
  R acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  {
    const float* a = p.a1 + i0 * p.rsa1;
    const float* b = p.b1 + j0;
    for (int64_t kk = 0; kk < k1; ++kk, a += p.csa1, b += p.ldb1) {
      R bv[NV];
      for (int j = 0; j < NV; ++j) bv[j] = ldv(b, j);
      for (int i = 0; i < MR; ++i) {
        const R av = V::set1(a[i * p.rsa1]);
        for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
      }
    }
  }
  if (p.k2 > 0) {
    const float* a = p.a2 + i0 * p.rsa2;
    const float* b = p.b2 + j0;
    for (int64_t kk = 0; kk < p.k2; ++kk, a += p.csa2, b += p.ldb2) {
      R bv[NV];
      for (int j = 0; j < NV; ++j) bv[j] = ldv(b, j);
      for (int i = 0; i < MR; ++i) {
        const R av = V::set1(a[i * p.rsa2]);
        for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
      }
    }
  }
  const R vb = V::set1(p.beta);
  const bool beta_on = p.beta_on;
  // the column sums run down the tile's rows in a local copy (not a chain of stores and reloads through memory),
  // in row order as before; lanes past the tail add zeros (zero-filled loads) and are not written back
  double* const colsum = p.colsum ? p.colsum + j0 : nullptr;
  const size_t ncol = static_cast<size_t>((NV - 1) * W) + (FULL ? static_cast<size_t>(W) : tail);
  alignas(64) double cs[NV * W];
  if (colsum)
    for (size_t l = 0; l < static_cast<size_t>(NV * W); ++l) cs[l] = l < ncol ? colsum[l] : 0.0;
  for (int i = 0; i < MR; ++i) {
    float* c = p.c + (i0 + i) * p.ldc + j0;
    for (int j = 0; j < NV; ++j) {
      const bool part = !FULL && j == NV - 1;
      R r = acc[i][j];
      if (beta_on) r = V::fma(part ? V::load_tail(c + j * W, tail) : V::load(c + j * W), vb, r);
      if (part)
        V::store_tail(c + j * W, r, tail);
      else
        V::store(c + j * W, r);
      if (colsum) V::add_to_f64(cs + j * W, V::abs(r));
    }
  }
  if (colsum) std::copy(cs, cs + ncol, colsum);
}

// One tile: MR rows from i0, nn columns from j0 (at most two vectors), depth k1 for the first segment.
template <class V, int MR>
inline void ret_tile_any(const RetMM& p, int64_t i0, int64_t j0, int64_t nn, int64_t k1) {
  constexpr int64_t W = V::W;
  if (nn == 2 * W)
    ret_tile<V, MR, 2, true>(p, i0, j0, k1, W);
  else if (nn > W)
    ret_tile<V, MR, 2, false>(p, i0, j0, k1, static_cast<size_t>(nn - W));
  else if (nn == W)
    ret_tile<V, MR, 1, true>(p, i0, j0, k1, W);
  else
    ret_tile<V, MR, 1, false>(p, i0, j0, k1, static_cast<size_t>(nn));
}

// A row to prefetch (pf_touch: its first float read first, so that its page's translation is there when the
// prefetches come: the next chunk's value rows lie heads * dv floats apart, a page each, and on the build VM (Zen 3)
// prefetches alone left the chunk's copy of them taking ~9% of the kernel, ~5% with the load)
inline void ret_prefetch_row(const RetMM& p, int64_t r) {
  const float* row = p.pf + r * p.pf_stride;
  if (p.pf_touch) {
    const float x = *static_cast<const volatile float*>(row);
    (void)x;
  }
  if (p.pf_write)
    for (int64_t e = 0; e < p.pf_len; e += 16) __builtin_prefetch(row + e, 1);
  else
    for (int64_t e = 0; e < p.pf_len; e += 16) __builtin_prefetch(row + e);
}

// C[0:m, 0:n], column panels of two vectors outer (a panel of B, 2 W floats by the depth, stays in L1 while the row
// blocks of A pass), blocks of 6 rows inner; `tri`: a causal product, where rows [i0, i0 + 6) need only the columns
// (tri 1) or the first segment's depth (tri 2) below i0 + 6 (the rest is zero or masked to zero).
template <class V>
inline void ret_mm(const RetMM& p, int64_t m, int64_t n, int64_t k1, int tri) {
  constexpr int64_t MR = 6, NR = 2 * V::W;
  int64_t pr = 0;  // rows prefetched
  for (int64_t j0 = 0; j0 < n; j0 += NR) {
    for (int64_t i0 = 0; i0 < m; i0 += MR) {
      const int64_t mm = std::min(MR, m - i0), lim = i0 + mm;
      if (tri == 1 && j0 >= lim) continue;
      for (int r = 0; p.pf && r < p.pf_per && pr < p.pf_rows; ++r, ++pr) ret_prefetch_row(p, pr);
      const int64_t nn = std::min(NR, (tri == 1 ? std::min(n, lim) : n) - j0), kb = tri == 2 ? std::min(k1, lim) : k1;
      switch (mm) {
        case 1: ret_tile_any<V, 1>(p, i0, j0, nn, kb); break;
        case 2: ret_tile_any<V, 2>(p, i0, j0, nn, kb); break;
        case 3: ret_tile_any<V, 3>(p, i0, j0, nn, kb); break;
        case 4: ret_tile_any<V, 4>(p, i0, j0, nn, kb); break;
        case 5: ret_tile_any<V, 5>(p, i0, j0, nn, kb); break;
        default: ret_tile_any<V, 6>(p, i0, j0, nn, kb); break;
      }
    }
  }
  for (; p.pf && pr < p.pf_rows; ++pr) ret_prefetch_row(p, pr);  // a product of fewer tiles than rows
}

// The running-product plan (RetPlan) of one head for the tokens [t0, t0 + tb) of a block of Tb (t0 a multiple of Tb, so
// that its runs are the ones a plan over the whole sequence would have): first the per-token scalars keep_t =
// sqrt(scale_{t-1}) gamma / sq_t and sq_t = sqrt(scale_t), scale carried from the block before (updated here); then
// the runs of at most kRetPb tokens (ret_rec_segment): in a run [s, e), P_t = keep_s ... keep_t, or, when keep_s is
// outside [2^-20, 2^20] (a fresh state's first keep is 0), pre_s = keep_s (the exact form for token s) and P_t =
// keep_(s+1) ... keep_t. A run whose P_t would leave [2^-20, 2^20] (1 / P must stay finite and well scaled) takes the
// exact form for every token (ex; P = 1, pre_t = keep_t), as extreme decays do. The same plan at every level (in
// double, rounded once). buf: 7 tb floats.
inline RetPlan ret_rec_plan(float gamma, float& scale, int64_t tb, float* buf) {
  float* keep = buf;
  float* sq = keep + tb;
  for (int64_t t = 0; t < tb; ++t) {
    const float ns = scale * gamma + 1.0f;
    sq[t] = std::sqrt(ns);
    keep[t] = std::sqrt(scale) * gamma / sq[t];
    scale = ns;
  }
  float* pca = sq + tb;
  float* pr = pca + tb;
  float* ppre = pr + tb;
  float* ppost = ppre + tb;
  float* pex = ppost + tb;
  auto in_range = [](double p) { return p >= 0x1p-20 && p <= 0x1p20; };
  for (int64_t s = 0; s < tb;) {
    const int64_t e = std::min(tb, s + kRetPb);
    const bool first_in = in_range(keep[s]);
    double p = first_in ? keep[s] : 1.0;
    bool exact = false;
    for (int64_t t = s + 1; t < e && !exact; ++t) {
      p *= keep[t];
      exact = !in_range(p);
    }
    p = first_in && !exact ? keep[s] : 1.0;
    for (int64_t t = s; t < e; ++t) {
      if (t > s && !exact) p *= keep[t];
      pca[t] = static_cast<float>(1.0 / (static_cast<double>(sq[t]) * p));
      pr[t] = static_cast<float>(p);
      ppre[t] = exact || (t == s && !first_in) ? keep[t] : 1.0f;
      ppost[t] = static_cast<float>(p);
      pex[t] = exact ? 1.0f : 0.0f;
    }
    s = e;
  }
  return RetPlan{pca, pr, ppre, ppost, pex};
}

// The recurrent form for the heads [h0, h0 + nh) of batch row b, block of tokens by block across the heads (the
// caller's groups: retention.cc): in each block of Tb tokens, head after head, each head's plan for the block, its
// keys and queries copied, then every row group of its state through them (ret_rec_group). A block's value and output
// rows (heads * dv floats a token, 6 KiB for 12 heads of 128) are then shared by the group's heads while their pages'
// translations are fresh, where head by head over the whole sequence each head walked every page again (the build VM
// is a guest of nested paging, where a walk is dear: huge pages took this form from ~41% to ~44-52% of its floor in
// one bench run). Measured against head by head (in-process A/B, CPU time, L 2048-16384, 11-31 rounds): median time
// ratios 0.91-1.09, mostly 0.97-0.99 (an A/A copy 0.99-1.03): no clear gain, kept for its O(Tb) scratch (head by head
// kept 7 T floats of plan per thread) and the same bits. A head's arithmetic does not depend on its group, so neither
// do the results (nor on the threads). Scratch: retention_rec_group_floats(dk, nh).
template <class V>
void retention_rec_group(const cpu::RetentionArgs& a, int64_t b, int64_t h0, int64_t nh, float* scratch) {
  const int64_t T = a.T, dk = a.dk, dv = a.dv, H = a.heads;
  const int64_t vstride = H * dv;  // between tokens, in v and out
  float* scales = scratch;         // each head's scale as the blocks advance
  float* pbuf = scales + cpu::retention_r16(nh);
  for (int64_t j = 0; j < nh; ++j) {
    const int64_t h = h0 + j;
    float* kv = a.kv_out + (b * H + h) * dv * dk;  // the state, updated in place
    const float* kv_in = a.kv_in ? a.kv_in + (b * H + h) * dv * dk : nullptr;
    if (!kv_in)
      std::fill(kv, kv + dv * dk, 0.0f);
    else if (kv_in != kv)
      std::copy(kv_in, kv_in + dv * dk, kv);
    scales[j] = a.scale_in ? a.scale_in[h] : 0.0f;  // a fresh state: KV = 0, scale = 0 (then scale_1 = 1)
  }
  auto gamma_of = [&](int64_t h) { return static_cast<float>(std::exp(static_cast<double>(a.decay[h]))); };
  auto finish = [&] {
    if (a.scale_out && b == 0)
      for (int64_t j = 0; j < nh; ++j) a.scale_out[h0 + j] = scales[j];
  };
  float* const out0 = a.out + b * T * vstride;
  if (dk == 0) {  // empty keys: every read-out is an empty sum
    for (int64_t j = 0; j < nh; ++j) {
      const float gamma = gamma_of(h0 + j);
      for (int64_t t = 0; t < T; ++t) {
        scales[j] = scales[j] * gamma + 1.0f;
        float* o = out0 + t * vstride + (h0 + j) * dv;
        std::fill(o, o + dv, 0.0f);
      }
    }
    finish();
    return;
  }
  if (T == 1 && dk <= 8 * V::W) {  // one token: the rows streamed once (ret_rec_step)
    for (int64_t j = 0; j < nh; ++j) {
      const int64_t h = h0 + j;
      float* keep = pbuf;
      ret_rec_plan(gamma_of(h), scales[j], 1, keep);  // keep[0], sq[0] = keep[1]
      ret_rec_step_n<V>(a.kv_out + (b * H + h) * dv * dk, a.k + (b * H + h) * dk, a.q + (b * H + h) * dk, dk,
                        a.v + b * vstride + h * dv, keep[0], keep[1], out0 + h * dv, dv);
    }
    finish();
    return;
  }
  // blocks of tokens whose q and k (2 Tb dk floats) stay in L1 while every row of the state runs through them,
  // copied into the scratch at 64 bytes (the caller's rows may be at any 4-byte offset: about half of the vector
  // loads of the rows would cross cache lines, which took about 10% of the kernel's time on the build VM)
  const int64_t Tb = cpu::retention_rec_block(dk);
  float* kb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pbuf + 7 * Tb) + 63) & ~uintptr_t{63});
  float* qb = kb + Tb * dk;
  for (int64_t t0 = 0; t0 < T; t0 += Tb) {
    const int64_t tb = std::min(Tb, T - t0);
    for (int64_t j = 0; j < nh; ++j) {
      const int64_t h = h0 + j;
      const RetPlan plan = ret_rec_plan(gamma_of(h), scales[j], tb, pbuf);
      const float* q = a.q + (b * H + h) * T * dk;
      const float* k = a.k + (b * H + h) * T * dk;
      std::copy(k + t0 * dk, k + (t0 + tb) * dk, kb);
      std::copy(q + t0 * dk, q + (t0 + tb) * dk, qb);
      float* kv = a.kv_out + (b * H + h) * dv * dk;
      const float* v = a.v + (b * T + t0) * vstride + h * dv;
      float* out = out0 + t0 * vstride + h * dv;
      int64_t e = 0;
      for (; e + V::W <= dv; e += V::W) ret_rec_group<V>(kv + e * dk, kb, qb, dk, v + e, vstride, plan, out + e, tb);
      for (; e < dv; ++e) ret_rec_row<V>(kv + e * dk, kb, qb, dk, v + e, vstride, plan, out + e, tb);
    }
  }
  finish();
}

// The parallel form of one (batch row, head) (the recurrent one: retention_rec_group; the chunkwise one:
// retention_chunk_group). Scratch floats: T (powers) + T (scores) + dv (accumulator).
template <class V>
void retention_parallel_head(const cpu::RetentionArgs& a, int64_t b, int64_t h, float* scratch) {
  const int64_t T = a.T, dk = a.dk, dv = a.dv, H = a.heads;
  const float* q = a.q + (b * H + h) * T * dk;
  const float* k = a.k + (b * H + h) * T * dk;
  const int64_t vstride = H * dv;  // between tokens, in v and out
  const float* v = a.v + b * T * vstride + h * dv;
  float* out = a.out + b * T * vstride + h * dv;
  const double decay = a.decay[h];
  float* pw = scratch;         // pw[d] = gamma^d
  float* s = pw + T;          // scores of one row
  float* acc = s + T;         // [dv]
  for (int64_t d = 0; d < T; ++d) pw[d] = static_cast<float>(std::exp(static_cast<double>(d) * decay));
  {
    double rowsum = 0.0;  // sum_j gamma^(i-j), j <= i
    for (int64_t i = 0; i < T; ++i) {
      rowsum += pw[i];
      const float inv_sqrt = static_cast<float>(1.0 / std::sqrt(rowsum));
      double abs_sum = 0.0;
      for (int64_t j = 0; j <= i; ++j) {
        s[j] = ret_dot<V>(q + i * dk, k + j * dk, dk) * (pw[i - j] * inv_sqrt);
        abs_sum += std::fabs(static_cast<double>(s[j]));
      }
      const float denom = static_cast<float>(std::min(std::max(abs_sum, 1.0), 5e4));
      std::fill(acc, acc + dv, 0.0f);
      for (int64_t j = 0; j <= i; ++j) ret_scale_add<V>(acc, 1.0f, v + j * vstride, s[j] / denom, dv);
      std::copy(acc, acc + dv, out + i * vstride);
    }
  }
}

// The chunkwise form for the heads [h0, h0 + nh) of batch row b (retention_chunk_group_f32): chunk by chunk, and in
// each chunk head by head, so that a token's value and output rows (heads * dv floats, one head's dv of them at a
// time) are read and written as runs along the row instead of one head's dv floats per page (the page shared by
// the group's heads: one translation, and the next head's lines follow the ones just read). Each head keeps its own
// state, scale and chunk constants in the scratch (retention_chunk_head_floats each); its arithmetic is the same
// whatever the group, so the split of the heads (retention.cc: by batch and thread count) changes no bit.
// Each chunk's products run through ret_mm (register tiles over the chunk's buffers, which stay in L1/L2: the
// general GEMM's setup and packing cost more than the products at these sizes; the causal products skip the tiles
// above the diagonal). Both parts of an output row are divided by all = max(inner scale, state scale) (upstream's
// rescaling to the larger scale: a_in * inner = a_cross * kv = all), so they share one product:
// O = [S | Q'] [Vc ; state] / all, with K = B + dk.
template <class V>
void retention_chunk_group(const cpu::RetentionArgs& a, int64_t b, int64_t h0, int64_t nh, float* scratch) {
  const int64_t T = a.T, dk = a.dk, dv = a.dv, H = a.heads, B = a.chunk, nchunks = T / B, K2 = B + dk;
  if (nchunks == 0) return;
  const int64_t vstride = H * dv;  // between tokens, in v and out
  // Rows of the chunk's values and of the states dv + 16 floats apart: at 512 bytes (dv 128) a two-vector column
  // panel of 128 rows would fall in 8 of L1's 64 sets and not stay there while the row blocks of the products pass;
  // one line more per row spreads it over all of them.
  const int64_t ldv = dv + 16;
  // every buffer at 64 bytes (about half of the vector loads of rows at 16 would cross cache lines)
  float* p = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
  auto take = [&p](int64_t n) {
    float* r = p;
    p += cpu::retention_r16(n);
    return r;
  };
  float* pw = take(B);         // pw[d] = gamma^d of the head being set up
  float* comb = take(B * ldv);  // [B, ldv]: the chunk's values of the head at work
  float* A2 = take(B * K2);     // [B, B + dk]: scores, then the scaled queries
  float* ks = take(B * dk);     // K^T [dk, B], then the keys scaled by the value inner decay [B, dk]
  float* isc = take(B);         // [B] inner scales of the chunk's rows
  double* colsum = reinterpret_cast<double*>(take(2 * dv));  // [dv]
  float* hs = take(2 * nh);     // per head: the state's scale, the cross decay
  // per head: the state [dk, ldv], the inner mask [B, B] (normalised), the query and value inner decays [B] each
  float* heads = p;
  const int64_t hstride = cpu::retention_chunk_head_floats(B, dk, dv);
  auto kvs_of = [&](int64_t j) { return heads + j * hstride; };
  auto mask_of = [&](int64_t j) { return kvs_of(j) + cpu::retention_r16(dk * ldv); };
  auto qid_of = [&](int64_t j) { return mask_of(j) + cpu::retention_r16(B * B); };
  for (int64_t j = 0; j < nh; ++j) {
    const double decay = a.decay[h0 + j];
    for (int64_t d = 0; d < B; ++d) pw[d] = static_cast<float>(std::exp(static_cast<double>(d) * decay));
    float *mask = mask_of(j), *qid = qid_of(j), *vid = qid + B;
    double last = 0.0;
    for (int64_t i = 0; i < B; ++i) last += pw[B - 1 - i];
    for (int64_t i = 0; i < B; ++i) {
      double rs = 0.0;
      for (int64_t i2 = 0; i2 <= i; ++i2) rs += pw[i - i2];
      const double sc = std::sqrt(rs);
      for (int64_t i2 = 0; i2 < B; ++i2) mask[i * B + i2] = i2 <= i ? static_cast<float>(pw[i - i2] / sc) : 0.0f;
      qid[i] = static_cast<float>(std::exp(decay * static_cast<double>(i + 1)) / (sc / last));
      vid[i] = static_cast<float>(pw[B - 1 - i] / last);
    }
    std::fill(kvs_of(j), kvs_of(j) + dk * ldv, 0.0f);
    hs[2 * j] = 1.0f;
    hs[2 * j + 1] = static_cast<float>(std::exp(decay * static_cast<double>(B)));
  }
  const float* q0 = a.q + (b * H + h0) * T * dk;  // head h0 + j at q0 + j T dk (likewise k)
  const float* k0 = a.k + (b * H + h0) * T * dk;
  const float* v0 = a.v + b * T * vstride + h0 * dv;  // head h0 + j at v0 + j dv (likewise out)
  float* out0 = a.out + b * T * vstride + h0 * dv;
  for (int64_t c = 0; c < nchunks; ++c)
    for (int64_t j = 0; j < nh; ++j) {
      const float* qc = q0 + j * T * dk + c * B * dk;
      const float* kc = k0 + j * T * dk + c * B * dk;
      const float* vc = v0 + c * B * vstride + j * dv;
      float* oc = out0 + c * B * vstride + j * dv;
      // the next head's values, keys and queries: this chunk's of head j + 1, else the next chunk's of the first head
      const bool last_head = j + 1 == nh;
      const float* vn = dv == 0      ? nullptr
                        : !last_head ? vc + dv
                        : c + 1 < nchunks ? v0 + (c + 1) * B * vstride
                                          : nullptr;
      const float* kn = !last_head ? kc + T * dk : c + 1 < nchunks ? k0 + (c + 1) * B * dk : nullptr;
      const float* qn = !last_head ? qc + T * dk : c + 1 < nchunks ? q0 + (c + 1) * B * dk : nullptr;
      float* kvs = kvs_of(j);
      const float* mask = mask_of(j);
      const float *qid = qid_of(j), *vid = qid + B;
      const float kv_scale = hs[2 * j], cross = hs[2 * j + 1];
      for (int64_t i = 0; i < B; ++i) std::copy(vc + i * vstride, vc + i * vstride + dv, comb + i * ldv);
      // inner part: S = (Qc Kc^T) * mask; inner scale of row i: clamp(sum_j |s_ij|, min 1)
      // K^T (in ks's room until the state's keys): its rows are the product's B rows. Eight rows of K at a time, each
      // read along (the chunk's first touch of K: sequential streams for the prefetcher), eight floats stored per d.
      bool transposed = false;
#if defined(TF_SIMD_X86)
      if constexpr (std::is_same_v<V, simd::Avx2>) {
        if (B % 8 == 0 && dk % 8 == 0) {  // 8 x 8 blocks in registers
          for (int64_t i0 = 0; i0 < B; i0 += 8)
            for (int64_t d0 = 0; d0 < dk; d0 += 8) ret_transpose8(kc + i0 * dk + d0, dk, ks + d0 * B + i0, B);
          transposed = true;
        }
      }
#endif
      for (int64_t i0 = 0; !transposed && i0 < B; i0 += 8) {
        const int64_t in = std::min<int64_t>(8, B - i0);
        for (int64_t d = 0; d < dk; ++d)
          for (int64_t i = 0; i < in; ++i) ks[d * B + i0 + i] = kc[(i0 + i) * dk + d];
      }
      // this chunk's output rows, written by the second product, are fetched for writing meanwhile (strided by
      // heads * dv, the prefetcher misses them; a tile's stores of lines still in memory held up its FMAs)
      {
        RetMM m{qc, dk, 1, ks, B, nullptr, 0, 0, nullptr, 0, 0, A2, K2, 0.0f, false, oc, vstride, B, dv};
        m.pf_per = 2;
        m.pf_write = true;
        ret_mm<V>(m, B, B, dk, 1);
      }
      for (int64_t i = 0; i < B; ++i) {
        using R = typename V::reg;
        constexpr int64_t W = V::W;
        float* si = A2 + i * K2;
        const float* mi = mask + i * B;
        const int64_t n = i + 1;  // the causal part of the row
        // S = scores * mask and the row's sum of |S| (in double, W partial sums in a fixed order)
        typename V::AccD as = V::acc_zero();
        int64_t e = 0;
        for (; e + W <= n; e += W) {
          const R r = V::mul(V::load(si + e), V::load(mi + e));
          V::store(si + e, r);
          V::acc_add(as, V::abs(r));
        }
        if (e < n) {
          const size_t t = static_cast<size_t>(n - e);
          const R r = V::mul(V::load_tail(si + e, t), V::load_tail(mi + e, t));
          V::store_tail(si + e, r, t);
          V::acc_add(as, V::abs(r));
        }
        isc[i] = static_cast<float>(std::max(V::acc_total(as), 1.0));
        // row i of [S | Q'] / all
        const float all = std::max(isc[i], kv_scale);
        const float inv = 1.0f / all;
        if (all != 1.0f) {
          const R vi = V::set1(inv);
          for (e = 0; e + W <= n; e += W) V::store(si + e, V::mul(V::load(si + e), vi));
          if (e < n) {
            const size_t t = static_cast<size_t>(n - e);
            V::store_tail(si + e, V::mul(V::load_tail(si + e, t), vi), t);
          }
        }
        std::fill(si + n, si + B, 0.0f);
        const R f = V::set1(qid[i] * inv);
        const float* qi = qc + i * dk;
        float* di = si + B;
        // (the next head's queries, read first by its Q K^T: not in a sequential stream of this group)
        if (qn)
          for (int64_t e = 0; e < dk; e += 16) __builtin_prefetch(qn + i * dk + e);
        for (e = 0; e + W <= dk; e += W) V::store(di + e, V::mul(V::load(qi + e), f));
        if (e < dk) {
          const size_t t = static_cast<size_t>(dk - e);
          V::store_tail(di + e, V::mul(V::load_tail(qi + e, t), f), t);
        }
      }
      // (the next head's value rows are prefetched during it; pf_touch: see ret_prefetch_row)
      {
        RetMM m{A2, K2, 1, comb, ldv, A2 + B, K2, 1, kvs, ldv, dk, oc, vstride, 0.0f, false, vn, vstride, B, dv};
        m.pf_touch = true;
        ret_mm<V>(m, B, dv, B, 2);
      }
      // the state: kvs = kvs cross + (Kc vid)^T Vc; then its scale (the largest column sum of |kvs|)
      for (int64_t i = 0; i < B; ++i)
        for (int64_t d = 0; d < dk; ++d) ks[i * dk + d] = kc[i * dk + d] * vid[i];
      // with the column sums of |kvs| over d (each in order d = 0, 1, ...), accumulated as the tiles store the rows
      std::fill(colsum, colsum + dv, 0.0);
      // (the next head's keys are prefetched during it: their transposition, the first touch of them, took ~3.5% of
      // the kernel waiting on memory)
      ret_mm<V>(RetMM{ks, 1, dk, comb, ldv, nullptr, 0, 0, nullptr, 0, 0, kvs, ldv, cross, true, kn, dk, B, dk, colsum},
                dk, dv, B, 0);
      double mx = 0.0;
      for (int64_t e = 0; e < dv; ++e) mx = std::max(mx, colsum[e]);
      hs[2 * j] = static_cast<float>(std::max(mx, 1.0));
    }
}

template <class V>
void fill_retention(Kernels& kt) {
  kt.retention_parallel_f32 = retention_parallel_head<V>;
  kt.retention_chunk_group_f32 = retention_chunk_group<V>;
  kt.retention_rec_group_f32 = retention_rec_group<V>;
}

}  // namespace
}  // namespace tf
