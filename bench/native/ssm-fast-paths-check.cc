// Exhaustive check of the SSM step's AVX2 fast paths (native/cpu/ssm/ssm_impl.h) against the simd_math functions
// they must equal bit for bit, over every float bit pattern (2^32, in vectors of 8 consecutive patterns, so vectors
// that straddle a range boundary take the fallback): step_exps (K = 2) and simd::exp2_ordinary (the scan's rows)
// against simd::exp2, silu_small against simd::silu, softplus_ordinary against simd::softplus. Two NaNs count as equal. About 75 s on one core of the build VM.
// Built by hand, from the repository root:
//
//   g++ -O3 -fno-math-errno -std=gnu++17 -Wno-psabi -I. bench/native/ssm-fast-paths-check.cc -o /tmp/ssm-fast-paths-check
//   /tmp/ssm-fast-paths-check          (prints the mismatches of each; exit status 1 if any)
#include "native/core/simd.h"
#include "native/core/dispatch.h"
#include "native/cpu/ssm/ssm.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

TF_SIMD_BEGIN_AVX2
#include "native/cpu/ssm/ssm_impl.h"

namespace {
using V = tf::simd::Avx2;

// fast(x) against ref(x) for every pattern; returns the number of mismatching lanes
template <class Fast, class Ref>
uint64_t check(const char* name, Fast fast, Ref ref) {
  uint64_t bad = 0;
  alignas(32) uint32_t b[16];
  alignas(32) float o1[16], o2[16];
  for (uint64_t base = 0; base < (uint64_t{1} << 32); base += 16) {
    for (int i = 0; i < 16; ++i) b[i] = static_cast<uint32_t>(base + i);
    V::reg x[2] = {_mm256_load_ps(reinterpret_cast<float*>(b)), _mm256_load_ps(reinterpret_cast<float*>(b + 8))}, y[2];
    fast(x, y);
    _mm256_store_ps(o1, y[0]);
    _mm256_store_ps(o1 + 8, y[1]);
    _mm256_store_ps(o2, ref(x[0]));
    _mm256_store_ps(o2 + 8, ref(x[1]));
    for (int i = 0; i < 16; ++i)
      if (std::memcmp(o1 + i, o2 + i, 4) != 0 && !(o1[i] != o1[i] && o2[i] != o2[i]) && bad++ < 5)
        std::printf("  %s differs at 0x%08x\n", name, b[i]);
  }
  std::printf("%-18s mismatches: %llu\n", name, static_cast<unsigned long long>(bad));
  return bad;
}

int run() {
  uint64_t bad = 0;
  bad += check("step_exps", [](const V::reg* x, V::reg* y) { tf::step_exps<V, 2>(x, y); },
               [](V::reg x) { return tf::simd::exp2<V>(x); });
  bad += check("exp2_ordinary",
               [](const V::reg* x, V::reg* y) { y[0] = tf::simd::exp2_ordinary<V>(x[0]), y[1] = tf::simd::exp2_ordinary<V>(x[1]); },
               [](V::reg x) { return tf::simd::exp2<V>(x); });
  bad += check("silu_small", [](const V::reg* x, V::reg* y) { y[0] = tf::silu_small<V>(x[0]), y[1] = tf::silu_small<V>(x[1]); },
               [](V::reg x) { return tf::simd::silu<V>(x); });
  bad += check("softplus_ordinary",
               [](const V::reg* x, V::reg* y) { y[0] = tf::softplus_ordinary<V>(x[0]), y[1] = tf::softplus_ordinary<V>(x[1]); },
               [](V::reg x) { return tf::simd::softplus<V>(x); });
  return bad ? 1 : 0;
}
}  // namespace
TF_SIMD_END

int main() {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("needs AVX2 and FMA\n");
    return 1;
  }
  return run();
}
