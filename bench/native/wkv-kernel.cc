// The WKV kernel alone (no N-API, no argument checks, no thread pool): wkv_channels of the AVX2 level over one
// sequence of C channels (the one-thread call of native/cpu/wkv/wkv.cc: one block of all C channels, the data
// repacked per call), against the exp probe (ssm_exp_probe: e^x as simd::exp2 of x log2e over an L1-resident buffer)
// for the kernel's 2 exponentials per (token, channel): the floor of bench/recurrent.bench.mjs. Each round times both in CPU
// time of this thread (CLOCK_THREAD_CPUTIME_ID); "of floor" = probe / kernel per round, best and median of the rounds.
// On a shared machine that ratio is the steadier figure: another VM's load on the core slows both alike. The default
// shape (C 2048, T 128, k, v and out 1 MiB each) stays in cache; T 4096 puts them in DRAM. Built by hand, not by the
// package build:
//
//   g++ -O3 -fno-math-errno -std=gnu++17 -I. bench/native/wkv-kernel.cc -o /tmp/wkv-kernel
//   /tmp/wkv-kernel [rounds = 21] [C = 2048] [T = 128] [calls per round = 100]
//
// Run from the repository root (the includes are relative to it). Compare two checkouts by building it in each.
#include "bench/native/harness.h"
#include "native/core/simd.h"
#include "native/core/dispatch.h"
#include "native/cpu/ssm/ssm.h"
#include "native/cpu/wkv/wkv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

#include "native/core/scratch.cc"  // the scratch arena the kernel takes its repacked data from, compiled in here

TF_SIMD_BEGIN_AVX2
#include "native/cpu/ssm/ssm_impl.h"
#include "native/cpu/wkv/wkv_impl.h"
TF_SIMD_END

namespace {
using harness::cpu_us;
using harness::report;
float* aligned(size_t n) { return static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64)); }
}  // namespace

int main(int argc, char** argv) {
  if (!harness::avx2_fma()) return 1;
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  const int64_t C = argc > 2 ? std::max(16, std::atoi(argv[2])) / 16 * 16 : 2048;
  const int64_t T = argc > 3 ? std::max(4, std::atoi(argv[3])) : 128;
  const int reps = argc > 4 ? std::max(1, std::atoi(argv[4])) : 100;
  std::mt19937 g(1);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  // as bench/recurrent.bench.mjs: k in [-3, 3], v and time_first in [-1, 1], time_decay in [-3, 1]
  const size_t n = static_cast<size_t>(T * C);
  float *k = aligned(n), *v = aligned(n), *out = aligned(n);
  std::vector<float> w(C), u(C), num(C, 0.0f), den(C, 0.0f), mx(C, tf::cpu::kWkvInitialMax);
  for (auto& x : w) x = -std::exp(2.0f * U(g) - 1.0f);
  for (auto& x : u) x = U(g);
  for (size_t i = 0; i < n; ++i) {
    k[i] = 3.0f * U(g);
    v[i] = U(g);
  }
  alignas(64) float probe[1024];  // as exp_probe_f32 (ssm.cc): the map x -> e^x - 1.5 diverges from x > ~0.86
  for (int i = 0; i < 1024; ++i) probe[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
  // both called through volatile pointers, as the library calls them through its Kernels table (see
  // ssm-step-kernel.cc: with the probe's arguments known, GCC restructured its loops)
  auto* volatile kernel = tf::wkv_channels<tf::simd::Avx2>;
  auto* volatile exp_probe = tf::ssm_exp_probe<tf::simd::Avx2>;
  const int64_t passes = std::max<int64_t>(1, 2 * T * C / 1024);  // 2 exps per (token, channel)
  std::vector<double> tk, tp, of;
  for (int r = 0; r < rounds; ++r) {
    double t0 = cpu_us();
    for (int i = 0; i < reps; ++i) kernel(w.data(), u.data(), k, v, out, T, C, C, num.data(), den.data(), mx.data());
    const double a = (cpu_us() - t0) / reps;
    t0 = cpu_us();
    for (int i = 0; i < reps; ++i) exp_probe(probe, 1024, passes);
    const double b = (cpu_us() - t0) / reps * (2.0 * T * C) / (1024.0 * passes);
    tk.push_back(a * 1e3 / (T * C / 8.0));
    tp.push_back(b * 1e3 / (T * C / 8.0));
    of.push_back(100.0 * b / a);
  }
  std::printf("%d rounds x %d calls, CPU time; C %ld, T %ld (the state carried from call to call)\n", rounds, reps,
              static_cast<long>(C), static_cast<long>(T));
  report("kernel, per 8 channels x 1 token", tk, "ns");
  report("exp probe, per 16 exps", tp, "ns");
  report("of floor (probe / kernel, per round)", of, "% ", true);
  std::printf("(checksum %g)\n", static_cast<double>(out[5] + num[77] + den[3]));
  return 0;
}
