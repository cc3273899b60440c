// Performer FAVOR+ attention on the CPU, fp32, with the semantics of lucidrains/performer-pytorch:
//
//   softmax kernel (positive random features), with c = D^-1/4 and P the [m, D] projection:
//     x' = c·x·Pᵀ;  diag = c²·|x|²/2;  φ(x) = m^-1/2 · (exp(x' − diag − max) + eps)
//     where max is the row maximum of x' for queries and the maximum over all positions and features of one
//     (batch, head) for keys (upstream's stabiliser; it cancels in the normalised output).
//   relu kernel (generalized_kernel): φ(x) = relu(c·x·Pᵀ) + kernel_eps.
//   non-causal: out_i = φ(q_i)ᵀ (φ(K)ᵀ V) / (φ(q_i) · Σ_j φ(k_j))
//   causal:     out_i = φ(q_i)ᵀ S_i / (φ(q_i) · (z_i + causal_eps)), S_i = Σ_{j≤i} φ(k_j) v_jᵀ, z_i = Σ_{j≤i} φ(k_j)
//               (causal_linear_attention_noncuda adds causal_eps to every element of the key prefix sum).
//     Computed chunk by chunk with a running [m, D] state and [m] key sum: within a chunk of kFavorChunk rows
//     the masked product tril(φ(Q_c) φ(K_c)ᵀ) carries the intra-chunk part, so no per-position outer product
//     is ever stored. Key features are recomputed per block after a first pass finds the stabiliser, so memory
//     per thread is O(kFavorKeyBlock·m + m·D), independent of N.
//
// Work: one item per (batch, head), each computed by one thread in a fixed order that depends only on the
// shapes (the GEMMs inside run inline), so results are bitwise independent of the thread count.
#pragma once
#include <cstdint>

namespace tf::cpu {

constexpr int64_t kFavorChunk = 64;      // causal chunk (rows per intra-chunk masked product)
constexpr int64_t kFavorKeyBlock = 256;  // key rows per block of the non-causal state and the max pass

enum class FavorKernel : int { Softmax = 0, Relu = 1 };

struct FavorParams {
  const float* q = nullptr;  // [B, H, N, D]
  const float* k = nullptr;  // [B, H, N, D]
  const float* v = nullptr;  // [B, H, N, D]
  const float* proj = nullptr;  // [m, D]
  float* out = nullptr;         // [B, H, N, D]
  int64_t B = 0, H = 0, N = 0, D = 0, M = 0;
  FavorKernel kernel = FavorKernel::Softmax;
  bool causal = false;
  bool normalize = true;      // data normaliser D^-1/4 (upstream normalize_data)
  float eps = 1e-4f;          // softmax kernel eps (inside, before the ratio) or relu kernel_epsilon
  float causal_eps = 1e-6f;   // added to the key prefix sum in the causal form
};

// Runs the whole attention on the pool. Arguments are not checked here (the N-API layer does that).
void favor_attention_f32(const FavorParams& p);

// The feature map alone: x [B, H, N, D] -> φ(x) [B, H, N, m] (is_query selects the stabilising maximum).
void favor_features_f32(const FavorParams& p, const float* x, bool is_query, float* out);

}  // namespace tf::cpu
