// Mixture-of-Experts on the CPU: routing, dispatch (a counting sort of token-expert pairs into contiguous
// groups per expert), grouped expert FFNs, and the weighted combine back into token order.
//
// Pieces (each usable alone; moe_forward composes them):
//   moe_route     router logits [T, E] -> per token k experts and weights, plus load-balancing statistics.
//                 Mixtral: softmax over all E in fp32, top-k (ties: the lower expert index), weights renormalised
//                 over the chosen k (unless normalize is false). Switch: softmax, top-1 (first maximal index),
//                 weight = the top probability; capacity per group of `group` consecutive tokens, first come first
//                 served in token order; a token over capacity is dropped: expert -1, weight still its probability
//                 (moe_combine then passes weight·x through, as Hugging Face's SwitchTransformersSparseMLP does).
//   moe_dispatch  expert ids [T·k] -> offsets [E + 1], perm [A] (sorted slot j holds pair perm[j] = t·k + s; stable,
//                 so each group is in token order) and inv [T·k] (pair -> slot, -1 when dropped).
//   moe_gather    xg[j] = x[perm[j] / k]: the rows of each expert's group, contiguous.
//   moe_experts   y[rows of e] = FFN_e(xg[rows of e]): SwiGLU w2(act(w1 x) * w3 x) or dense wo(act(wi x)),
//                 weights f32 [out, in] (sgemm) or quantized (qlinear).
//   moe_combine   out[t] = sum over s = 0..k-1 (in that order) of w[t, s] * (inv >= 0 ? y[inv] : x[t]).
// Every result is independent of the thread count (bitwise): partitions depend on shapes only, sums run in a
// fixed order.
#pragma once
#include <cstdint>

#include "../elementwise/elementwise.h"
#include "../quant/quant.h"

namespace tf::cpu {

enum class MoeRouter : int { Mixtral = 0, Switch = 1 };

struct MoeRouteParams {
  MoeRouter kind = MoeRouter::Mixtral;
  int64_t tokens = 0, experts = 0, top_k = 1;
  bool normalize = true;   // Mixtral: renormalise the chosen weights to sum 1
  int64_t group = 0;       // Switch: tokens per capacity group (0: all tokens one group)
  int64_t capacity = -1;   // Switch: tokens per expert per group (-1: unlimited)
};

struct MoeRouteOut {
  int32_t* expert = nullptr;   // [T, k]
  float* weight = nullptr;     // [T, k]
  float* prob_sum = nullptr;   // [E]: sum over tokens of the softmax probabilities (may be null)
  int32_t* routed = nullptr;   // [E]: pairs routed to e before the capacity limit (may be null)
  int32_t* kept = nullptr;     // [E]: pairs kept (the group sizes) (may be null)
};

void moe_route(const MoeRouteParams& p, const float* logits, const MoeRouteOut& out);

// expert ids of `pairs` pairs in [-1, E); offsets [E + 1], perm [offsets[E]], inv [pairs].
void moe_dispatch(const int32_t* expert, int64_t pairs, int64_t num_experts, int32_t* offsets, int32_t* perm,
                  int32_t* inv);

void moe_gather(const float* x, int64_t d, const int32_t* perm, int64_t rows, int64_t top_k, float* xg);

// One linear layer y = x·Wᵀ, W [n, k] as f32 or quantized.
struct MoeLinear {
  const float* f32 = nullptr;
  QuantWeight q;
  bool quant = false;
  int64_t n = 0, k = 0;
};

enum class MoeFfn : int { SwiGlu = 0, Dense = 1 };
// How experts share the pool: Sequential runs one expert after another, each GEMM on all threads; Chunked splits
// every group into row chunks and runs the chunks in parallel (each GEMM on one thread); Auto picks by shape.
enum class MoeSchedule : int { Auto = 0, Sequential = 1, Chunked = 2 };

struct MoeExpertWeights {
  MoeLinear w1, w3, w2;  // SwiGLU: w1 gate, w3 up, w2 down. Dense: w1 = wi, w2 = wo (w3 unused)
};

struct MoeExpertsSpec {
  MoeFfn kind = MoeFfn::SwiGlu;
  Activation act = Activation::Silu;
  int64_t experts = 0, d = 0, ffn = 0;
  const MoeExpertWeights* w = nullptr;  // [experts]
};

// xg, y: [offsets[E], d]. y must not overlap xg.
void moe_experts(const MoeExpertsSpec& s, const float* xg, const int32_t* offsets, float* y, MoeSchedule sched);

// y [A, d]; inv, w [T, k]; x [T, d] (may be null: dropped pairs then add nothing); out [T, d].
void moe_combine(const float* y, const int32_t* inv, const float* w, int64_t tokens, int64_t top_k, int64_t d,
                 const float* x, float* out);

}  // namespace tf::cpu
