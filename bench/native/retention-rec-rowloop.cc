// The recurrent retention kernel's row loop alone, in its two forms: the exact recurrence (3 vector instructions per
// state element and token: x = x keep + k alpha, then the read-out FMA) and the running product of
// native/cpu/retention (2: y += k alpha', then the read-out FMA). 128 rows of dk 64 (eight AVX2 vectors, kept in
// registers) over a run of 16 tokens whose k and q (8 KiB) stay in L1, each token's row sum stored as the kernel's
// row groups do; nothing else (no factors, lane reductions, v or out). Cycles per (token, row) from the round's FMA
// probe (10 chains, two FMAs per cycle), in CPU time of this thread; best and median of 41 rounds. Built by hand:
//
//   g++ -O3 -std=gnu++17 -I. bench/native/retention-rec-rowloop.cc -o /tmp/retention-rec-rowloop && /tmp/retention-rec-rowloop
#include <immintrin.h>

#include "bench/native/harness.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace {
using harness::fma_probe;
double cpu_ns() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

// EXACT: x = x keep_t + k alpha (a multiply and an FMA per vector); else y = y + k alpha (an FMA)
template <bool EXACT>
__attribute__((target("avx2,fma"), noinline)) void rows(float* kv, const float* k, const float* q, const float* alpha,
                                                         const float* keep, float* red, int nrows, int tokens) {
  for (int r = 0; r < nrows; ++r) {
    float* row = kv + r * 64;
    __m256 x[8];
    for (int j = 0; j < 8; ++j) x[j] = _mm256_loadu_ps(row + 8 * j);
    for (int t = 0; t < tokens; ++t) {
      const __m256 va = _mm256_set1_ps(alpha[t * 8 + (r & 7)]);
      const float *kt = k + t * 64, *qt = q + t * 64;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      const __m256 vb = _mm256_set1_ps(keep[t]);
      for (int j = 0; j < 8; ++j) {
        x[j] = _mm256_fmadd_ps(_mm256_load_ps(kt + 8 * j), va, EXACT ? _mm256_mul_ps(x[j], vb) : x[j]);
        acc[j & 3] = _mm256_fmadd_ps(_mm256_load_ps(qt + 8 * j), x[j], acc[j & 3]);
      }
      _mm256_store_ps(red + t * 64 + (r & 7) * 8, _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3])));
    }
    for (int j = 0; j < 8; ++j) _mm256_storeu_ps(row + 8 * j, x[j]);
  }
}

}  // namespace

int main() {
  if (!harness::avx2_fma()) return 1;
  constexpr int tokens = 16, nrows = 128, reps = 200, rounds = 41;
  constexpr long probe_n = 200000;
  alignas(64) static float k[tokens * 64], q[tokens * 64], alpha[tokens * 8], keep[tokens], red[tokens * 64];
  std::vector<float> kv(nrows * 64, 0.0f);
  for (int i = 0; i < tokens * 64; ++i) {
    k[i] = 0.01f * static_cast<float>(i % 7);
    q[i] = 0.02f * static_cast<float>(i % 5);
  }
  for (int t = 0; t < tokens; ++t) {
    keep[t] = 0.97f;
    for (int r = 0; r < 8; ++r) alpha[t * 8 + r] = 0.1f;
  }
  std::vector<double> c3, c2;
  float sink = 0.0f;
  for (int round = 0; round < rounds; ++round) {
    double t0 = cpu_ns();
    sink += fma_probe(probe_n);
    const double ns_per_cycle = (cpu_ns() - t0) / (probe_n * 5.0);  // 10 FMAs per iteration, two per cycle
    const double per = ns_per_cycle * reps * nrows * tokens;
    t0 = cpu_ns();
    for (int i = 0; i < reps; ++i) rows<true>(kv.data(), k, q, alpha, keep, red, nrows, tokens);
    c3.push_back((cpu_ns() - t0) / per);
    std::fill(kv.begin(), kv.end(), 0.0f);
    t0 = cpu_ns();
    for (int i = 0; i < reps; ++i) rows<false>(kv.data(), k, q, alpha, keep, red, nrows, tokens);
    c2.push_back((cpu_ns() - t0) / per);
    std::fill(kv.begin(), kv.end(), 0.0f);
  }
  std::sort(c3.begin(), c3.end());
  std::sort(c2.begin(), c2.end());
  std::printf("cycles per (token, row of 64): exact (3 instructions) best %.2f median %.2f; running product (2) best "
              "%.2f median %.2f   [%g %g]\n",
              c3[0], c3[rounds / 2], c2[0], c2[rounds / 2], static_cast<double>(sink), static_cast<double>(red[5]));
  return 0;
}
