// Mixture-of-Experts kernels (see moe.h). Plain C++ over pointers: the SIMD work is in the GEMMs (sgemm,
// qlinear) and the dispatched activation / multiply rows; routing, sorting and combining are memory-bound.
#include "moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "../gemm/gemm.h"

namespace tf::cpu {

namespace {

// Softmax of one row of n logits in float32 (max subtracted), into p.
void softmax_row(const float* l, int64_t n, float* p) {
  float m = l[0];
  for (int64_t i = 1; i < n; ++i) m = l[i] > m ? l[i] : m;
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    p[i] = std::exp(l[i] - m);
    s += p[i];
  }
  const float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] * inv;
}

void linear(const MoeLinear& L, const float* x, int64_t m, float* y) {
  if (m <= 0) return;
  if (L.quant)
    qlinear(L.q, x, m, nullptr, y);
  else
    sgemm(false, true, m, L.n, L.k, 1.0f, x, L.k, L.f32, L.k, 0.0f, y, L.n);
}

// The FFN of one expert on m contiguous rows; h1 and h3 hold m x ffn floats each.
void expert_rows(const MoeExpertsSpec& s, const MoeExpertWeights& w, const float* x, int64_t m, float* h1, float* h3,
                 float* y) {
  if (m <= 0) return;
  const Kernels& kt = kernels();
  const int64_t f = s.ffn;
  auto act = kt.activation_f32[static_cast<int>(s.act)];
  auto mul = kt.binary_f32[static_cast<int>(BinaryOp::Mul)][0];
  linear(w.w1, x, m, h1);
  if (s.kind == MoeFfn::SwiGlu) {
    linear(w.w3, x, m, h3);
    parallel_for(0, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, f)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        act(h1 + r * f, h1 + r * f, static_cast<size_t>(f));
        mul(h1 + r * f, h3 + r * f, h1 + r * f, static_cast<size_t>(f));
      }
    });
  } else {
    parallel_for(0, m, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, f)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) act(h1 + r * f, h1 + r * f, static_cast<size_t>(f));
    });
  }
  linear(w.w2, h1, m, y);
}

constexpr int64_t kChunkRows = 64;       // rows per task of the chunked schedule
constexpr int64_t kAutoChunkedRows = 32;  // Auto: chunked while the mean rows per active expert is at most this

}  // namespace

void moe_route(const MoeRouteParams& p, const float* logits, const MoeRouteOut& out) {
  const int64_t T = p.tokens, E = p.experts, K = p.top_k;
  if (out.prob_sum) std::fill(out.prob_sum, out.prob_sum + E, 0.0f);
  if (out.routed) std::fill(out.routed, out.routed + E, 0);
  if (out.kept) std::fill(out.kept, out.kept + E, 0);
  if (T == 0 || E == 0) return;
  ScratchFrame frame;
  float* const probs = frame.floats(checked_count(T, E));  // every row written by softmax_row
  // Softmax, top-k and weights per token: independent rows.
  parallel_for(0, T, std::max<int64_t>(1, 4096 / E), [&](int64_t t0, int64_t t1) {
    ScratchFrame task;
    char* const taken = task.get<char>(checked_count(E));
    for (int64_t t = t0; t < t1; ++t) {
      float* pr = probs + t * E;
      softmax_row(logits + t * E, E, pr);
      std::fill(taken, taken + E, 0);
      int32_t* ex = out.expert + t * K;
      float* wt = out.weight + t * K;
      float sum = 0.0f;
      for (int64_t s = 0; s < K; ++s) {
        int64_t best = -1;
        for (int64_t e = 0; e < E; ++e) {
          if (taken[e]) continue;
          if (best < 0 || pr[e] > pr[best]) best = e;  // strict: the lower index wins ties
        }
        taken[best] = 1;
        ex[s] = static_cast<int32_t>(best);
        wt[s] = pr[best];
        sum += pr[best];
      }
      if (p.kind == MoeRouter::Mixtral && p.normalize)
        for (int64_t s = 0; s < K; ++s) wt[s] = wt[s] / sum;
    }
  });
  // Statistics and the capacity limit, in token order (deterministic).
  double* const mass = frame.zeros<double>(out.prob_sum ? checked_count(E) : 0);  // sums: start at zero
  int64_t* const used = frame.get<int64_t>(checked_count(E));  // zeroed at t = 0 below
  const int64_t group = p.group > 0 ? p.group : T;
  for (int64_t t = 0; t < T; ++t) {
    if (t % group == 0) std::fill(used, used + E, 0);
    if (out.prob_sum)
      for (int64_t e = 0; e < E; ++e) mass[e] += probs[t * E + e];
    for (int64_t s = 0; s < K; ++s) {
      int32_t& e = out.expert[t * K + s];
      if (out.routed) ++out.routed[e];
      if (p.kind == MoeRouter::Switch && p.capacity >= 0 && ++used[e] > p.capacity) {
        e = -1;  // over capacity: dropped (the weight stays the router probability)
        continue;
      }
      if (out.kept) ++out.kept[e];
    }
  }
  if (out.prob_sum)
    for (int64_t e = 0; e < E; ++e) out.prob_sum[e] = static_cast<float>(mass[e]);
}

void moe_dispatch(const int32_t* expert, int64_t pairs, int64_t num_experts, int32_t* offsets, int32_t* perm,
                  int32_t* inv) {
  std::fill(offsets, offsets + num_experts + 1, 0);
  for (int64_t i = 0; i < pairs; ++i)
    if (expert[i] >= 0) ++offsets[expert[i] + 1];
  for (int64_t e = 0; e < num_experts; ++e) offsets[e + 1] += offsets[e];
  ScratchFrame frame;
  int32_t* const next = frame.get<int32_t>(checked_count(num_experts));
  std::copy(offsets, offsets + num_experts, next);
  for (int64_t i = 0; i < pairs; ++i) {
    const int32_t e = expert[i];
    if (e < 0) {
      inv[i] = -1;
      continue;
    }
    const int32_t j = next[e]++;
    perm[j] = static_cast<int32_t>(i);
    inv[i] = j;
  }
}

void moe_gather(const float* x, int64_t d, const int32_t* perm, int64_t rows, int64_t top_k, float* xg) {
  parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, d)), [&](int64_t r0, int64_t r1) {
    for (int64_t j = r0; j < r1; ++j)
      std::memcpy(xg + j * d, x + (perm[j] / top_k) * d, static_cast<size_t>(d) * sizeof(float));
  });
}

void moe_experts(const MoeExpertsSpec& s, const float* xg, const int32_t* offsets, float* y, MoeSchedule sched) {
  const int64_t E = s.experts, d = s.d, f = s.ffn;
  const int64_t A = offsets[E];
  if (A == 0) return;
  int64_t max_rows = 0;
  for (int64_t e = 0; e < E; ++e) max_rows = std::max<int64_t>(max_rows, offsets[e + 1] - offsets[e]);
  if (sched == MoeSchedule::Auto) {
    // By shape only (never the thread count, so results stay bitwise independent of it). Small groups (decode,
    // short batches): each GEMM is a few rows, memory-bound, and a parallel region per GEMM costs more than it
    // gains, so whole groups run side by side. Large groups: every GEMM is big enough to split over the pool.
    // Measured on 2 cores, 8 experts top-2, d 512, ffn 1792 (bench/moe.bench.mjs): chunked faster up to ~16
    // tokens, sequential from ~256.
    int64_t active = 0;
    for (int64_t e = 0; e < E; ++e) active += offsets[e + 1] > offsets[e];
    sched = active >= 2 && A <= kAutoChunkedRows * active ? MoeSchedule::Chunked : MoeSchedule::Sequential;
  }
  if (sched == MoeSchedule::Sequential) {
    // One expert at a time, each GEMM split over the whole pool.
    // h1, h3: written whole by the first GEMMs (scratch, uninitialised)
    ScratchFrame frame;
    const size_t n = checked_count(max_rows, f);
    float* const h1 = frame.floats(n);
    float* const h3 = s.kind == MoeFfn::SwiGlu ? frame.floats(n) : nullptr;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t r0 = offsets[e], m = offsets[e + 1] - r0;
      expert_rows(s, s.w[e], xg + r0 * d, m, h1, h3, y + r0 * d);
    }
    return;
  }
  // Chunked: tasks of up to kChunkRows rows of one expert, run in parallel (each GEMM inline on its thread). The
  // pool hands out chunks dynamically; the largest tasks go first so that the short tails fill the gaps (work, not
  // expert count, decides the balance).
  struct Task {
    int64_t e, r0, m;
  };
  std::vector<Task> tasks;
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = offsets[e]; r < offsets[e + 1]; r += kChunkRows)
      tasks.push_back({e, r, std::min<int64_t>(kChunkRows, offsets[e + 1] - r)});
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.m > b.m; });
  ScratchFrame frame;
  const size_t n = checked_count(A, f);
  float* const h1 = frame.floats(n);
  float* const h3 = s.kind == MoeFfn::SwiGlu ? frame.floats(n) : nullptr;
  parallel_for(0, static_cast<int64_t>(tasks.size()), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const Task& t = tasks[i];
      expert_rows(s, s.w[t.e], xg + t.r0 * d, t.m, h1 + t.r0 * f, h3 ? h3 + t.r0 * f : nullptr, y + t.r0 * d);
    }
  });
}

void moe_combine(const float* y, const int32_t* inv, const float* w, int64_t tokens, int64_t top_k, int64_t d,
                 const float* x, float* out) {
  parallel_for(0, tokens, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, d * top_k)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * d;
      for (int64_t s = 0; s < top_k; ++s) {
        const int32_t j = inv[t * top_k + s];
        const float ws = w[t * top_k + s];
        const float* v = j >= 0 ? y + static_cast<int64_t>(j) * d : x ? x + t * d : nullptr;
        if (s == 0) {
          if (v)
            for (int64_t i = 0; i < d; ++i) o[i] = ws * v[i];
          else
            std::fill(o, o + d, 0.0f);
        } else if (v) {
          for (int64_t i = 0; i < d; ++i) o[i] += ws * v[i];
        }
      }
    }
  });
}

}  // namespace tf::cpu
