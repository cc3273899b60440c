#include "favor.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "../gemm/gemm.h"
#include "favor_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_favor_scalar(Kernels& k) { fill_favor<simd::Scalar>(k); }

namespace cpu {
namespace {

struct Head {
  const FavorParams& p;
  float c;      // data normaliser
  float ratio;  // m^-1/2
  int kind;

  // rows [n0, n0 + L) of x (one head, [N, D]) -> projected rows y [L, M] (c·x·Pᵀ) and their diag terms.
  void project(const float* x, int64_t L, float* y, float* diag) const {
    const int64_t D = p.D, M = p.M;
    sgemm(false, true, L, M, D, c, x, D, p.proj, D, 0.0f, y, M);
    if (kind == 0)
      for (int64_t i = 0; i < L; ++i) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += static_cast<double>(x[i * D + d]) * x[i * D + d];
        diag[i] = static_cast<float>(s * 0.5 * static_cast<double>(c) * c);
      }
  }
  static float row_max(const float* y, int64_t M) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < M; ++j) mx = y[j] > mx ? y[j] : mx;
    return mx;
  }
  // Query features of L rows in place: the stabiliser is each row's maximum.
  void query_features(const float* x, int64_t L, float* y, float* diag) const {
    project(x, L, y, diag);
    auto fn = kernels().favor_feature_f32;
    for (int64_t i = 0; i < L; ++i) {
      const float shift = kind == 0 ? diag[i] + row_max(y + i * p.M, p.M) : 0.0f;
      fn(y + i * p.M, static_cast<size_t>(p.M), shift, ratio, p.eps, kind);
    }
  }
  // Key features of all N rows: the stabiliser is the maximum over every position and feature.
  void key_features(const float* x, float* y, float* diag) const {
    const int64_t N = p.N, M = p.M;
    project(x, N, y, diag);
    float mx = -std::numeric_limits<float>::infinity();
    if (kind == 0)
      for (int64_t i = 0; i < N; ++i) mx = std::max(mx, row_max(y + i * M, M));
    auto fn = kernels().favor_feature_f32;
    for (int64_t i = 0; i < N; ++i)
      fn(y + i * M, static_cast<size_t>(M), kind == 0 ? diag[i] + mx : 0.0f, ratio, p.eps, kind);
  }
};

Head make_head(const FavorParams& p) {
  Head h{p, p.normalize ? static_cast<float>(std::pow(static_cast<double>(p.D), -0.25)) : 1.0f,
         static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.M))), static_cast<int>(p.kernel)};
  return h;
}

// Key features of rows [s, s + L): projected, then mapped with the head's stabiliser gmax (softmax kernel).
void key_chunk(const Head& hd, const float* k, int64_t L, float gmax, float* kf, float* diag) {
  const FavorParams& p = hd.p;
  hd.project(k, L, kf, diag);
  auto fn = kernels().favor_feature_f32;
  for (int64_t i = 0; i < L; ++i)
    fn(kf + i * p.M, static_cast<size_t>(p.M), hd.kind == 0 ? diag[i] + gmax : 0.0f, hd.ratio, p.eps, hd.kind);
}

// One (batch, head). The key features are never stored whole: the softmax kernel's stabiliser (the maximum
// over all positions and features) comes from a first pass of projections, and the features are then
// recomputed chunk by chunk (one more N·m·D product, instead of N·m floats of memory traffic).
void run_head(const FavorParams& p, const Head& hd, int64_t bh) {
  const int64_t N = p.N, D = p.D, M = p.M, C = kFavorChunk, KB = kFavorKeyBlock;
  const float* q = p.q + bh * N * D;
  const float* k = p.k + bh * N * D;
  const float* v = p.v + bh * N * D;
  float* out = p.out + bh * N * D;
  // Scratch (uninitialised): kf, qf, diag and a are written before they are read; the causal path's running state
  // and z start at zero (the non-causal path overwrites state with its first product (beta 0) and z from zs).
  ScratchFrame frame;
  float* const kf = frame.floats(checked_count(KB, M));
  float* const diag = frame.floats(checked_count(KB));
  float* const qf = frame.floats(checked_count(C, M));
  float* const state = p.causal ? frame.zeros<float>(checked_count(M, D)) : frame.floats(checked_count(M, D));
  float* const z = p.causal ? frame.zeros<float>(checked_count(M)) : frame.floats(checked_count(M));
  float* const a = frame.floats(checked_count(C, C));
  float gmax = 0.0f;
  if (hd.kind == 0) {
    gmax = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < N; s += KB) {
      const int64_t L = std::min(KB, N - s);
      sgemm(false, true, L, M, D, hd.c, k + s * D, D, p.proj, D, 0.0f, kf, M);
      for (int64_t i = 0; i < L; ++i) gmax = std::max(gmax, Head::row_max(kf + i * M, M));
    }
  }

  if (!p.causal) {
    // state = φ(K)ᵀ V, z = Σ_j φ(k_j), key block by key block
    double* const zs = frame.zeros<double>(checked_count(M));
    for (int64_t s = 0; s < N; s += KB) {
      const int64_t L = std::min(KB, N - s);
      key_chunk(hd, k + s * D, L, gmax, kf, diag);
      sgemm(true, false, M, D, L, 1.0f, kf, M, v + s * D, D, s == 0 ? 0.0f : 1.0f, state, D);
      for (int64_t j = 0; j < L; ++j)
        for (int64_t f = 0; f < M; ++f) zs[f] += kf[j * M + f];
    }
    for (int64_t f = 0; f < M; ++f) z[f] = static_cast<float>(zs[f]);
    for (int64_t s = 0; s < N; s += C) {
      const int64_t L = std::min(C, N - s);
      hd.query_features(q + s * D, L, qf, diag);
      float* oc = out + s * D;
      sgemm(false, false, L, D, M, 1.0f, qf, M, state, D, 0.0f, oc, D);
      for (int64_t i = 0; i < L; ++i) {
        double den = 0;
        for (int64_t f = 0; f < M; ++f) den += static_cast<double>(qf[i * M + f]) * z[f];
        const float inv = static_cast<float>(1.0 / den);
        for (int64_t d = 0; d < D; ++d) oc[i * D + d] *= inv;
      }
    }
    return;
  }
  for (int64_t s = 0; s < N; s += C) {
    const int64_t L = std::min(C, N - s);
    const float* kc = kf;
    key_chunk(hd, k + s * D, L, gmax, kf, diag);
    hd.query_features(q + s * D, L, qf, diag);
    float* oc = out + s * D;
    // the earlier chunks through the running state, then the intra-chunk part tril(φ(Q_c) φ(K_c)ᵀ) V_c
    sgemm(false, false, L, D, M, 1.0f, qf, M, state, D, 0.0f, oc, D);
    sgemm(false, true, L, L, M, 1.0f, qf, M, kc, M, 0.0f, a, L);
    for (int64_t i = 0; i < L; ++i)
      for (int64_t j = i + 1; j < L; ++j) a[i * L + j] = 0.0f;
    sgemm(false, false, L, D, L, 1.0f, a, L, v + s * D, D, 1.0f, oc, D);
    for (int64_t i = 0; i < L; ++i) {
      double den = 0;
      for (int64_t f = 0; f < M; ++f) den += static_cast<double>(qf[i * M + f]) * (static_cast<double>(z[f]) + p.causal_eps);
      for (int64_t j = 0; j <= i; ++j) den += a[i * L + j];
      const float inv = static_cast<float>(1.0 / den);
      for (int64_t d = 0; d < D; ++d) oc[i * D + d] *= inv;
    }
    // carry the chunk into the running state
    sgemm(true, false, M, D, L, 1.0f, kc, M, v + s * D, D, 1.0f, state, D);
    for (int64_t j = 0; j < L; ++j)
      for (int64_t f = 0; f < M; ++f) z[f] += kc[j * M + f];
  }
}

}  // namespace

void favor_attention_f32(const FavorParams& p) {
  const int64_t heads = p.B * p.H;
  if (heads == 0 || p.N == 0) return;
  const Head hd = make_head(p);
  parallel_for(0, heads, 1, [&](int64_t s, int64_t e) {
    for (int64_t bh = s; bh < e; ++bh) run_head(p, hd, bh);
  });
}

void favor_features_f32(const FavorParams& p, const float* x, bool is_query, float* out) {
  const int64_t heads = p.B * p.H;
  if (heads == 0 || p.N == 0) return;
  const Head hd = make_head(p);
  parallel_for(0, heads, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;
    float* const diag = frame.floats(checked_count(p.N));
    for (int64_t bh = s; bh < e; ++bh) {
      const float* xi = x + bh * p.N * p.D;
      float* yi = out + bh * p.N * p.M;
      if (is_query)
        hd.query_features(xi, p.N, yi, diag);
      else
        hd.key_features(xi, yi, diag);
    }
  });
}

}  // namespace cpu
}  // namespace tf
