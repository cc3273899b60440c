// What the hand-built kernel harnesses in bench/native share: the CPU check, this thread's CPU time and a
// best / median line.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <vector>

namespace harness {
// The harnesses run AVX2 + FMA kernels: false (after saying so) on a CPU without them.
inline bool avx2_fma() {
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return true;
  std::printf("needs AVX2 and FMA\n");
  return false;
}
// CPU time of the calling thread in microseconds (another process's time on the core is not counted)
inline double cpu_us() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}
// "name  best X unit  median Y unit" over the rounds v (best: the smallest, or the largest when larger_better)
inline void report(const char* name, std::vector<double> v, const char* unit, bool larger_better = false) {
  std::sort(v.begin(), v.end());
  std::printf("%-34s best %8.3f %s  median %8.3f %s\n", name, larger_better ? v.back() : v[0], unit, v[v.size() / 2],
              unit);
}
// The FMA peak probe of the retention harnesses: n x 10 FMAs of 8 lanes (16 flops each), 10 independent chains in
// named registers (latency 4, two pipes: 8 keep them busy)
__attribute__((target("avx2,fma"), noinline)) inline float fma_probe(long n) {
  __m256 a0 = _mm256_set1_ps(0.1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (long i = 0; i < n; ++i) {
#define TF_PROBE_FMA(x) x = _mm256_fmadd_ps(x, m, c);
    TF_PROBE_FMA(a0) TF_PROBE_FMA(a1) TF_PROBE_FMA(a2) TF_PROBE_FMA(a3) TF_PROBE_FMA(a4)
    TF_PROBE_FMA(a5) TF_PROBE_FMA(a6) TF_PROBE_FMA(a7) TF_PROBE_FMA(a8) TF_PROBE_FMA(a9)
#undef TF_PROBE_FMA
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9));
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                 _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)),
                                               _mm256_add_ps(a8, a9)));
  return _mm256_cvtss_f32(s);
}
}  // namespace harness
