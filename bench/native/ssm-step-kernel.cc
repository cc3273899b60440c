// The Mamba step kernel alone (no N-API, no argument checks, no thread pool): ssm_step_fused of the AVX2 level over
// Mamba-130m's 1536 channels (N 16, softplus, D, z, deltaBias, B and C shared), called in blocks of 256 channels as
// native/cpu/ssm/ssm.cc does, against the exp probe (ssm_exp_probe: e^x as simd::exp2 of x log2e over an L1-resident
// buffer) for the step's dim (N + 2) = 27648 exponentials. Each round times both in CPU time of this thread
// (CLOCK_THREAD_CPUTIME_ID) and their ratio; best and median of the rounds. On a shared machine the ratio is the
// steadier figure: another VM's load on the core slows both alike. Built by hand, not by the package build:
//
//   g++ -O3 -fno-math-errno -std=gnu++17 -I. bench/native/ssm-step-kernel.cc -o /tmp/ssm-step-kernel
//   /tmp/ssm-step-kernel [rounds = 21] [softplus = 1] [D and z = 1]
//
// Run from the repository root (the includes are relative to it). Compare two checkouts by building it in each.
#include "bench/native/harness.h"
#include "native/core/simd.h"
#include "native/core/dispatch.h"
#include "native/cpu/ssm/ssm.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

TF_SIMD_BEGIN_AVX2
#include "native/cpu/ssm/ssm_impl.h"
TF_SIMD_END

namespace {
using harness::cpu_us;
using harness::report;
}  // namespace

int main(int argc, char** argv) {
  if (!harness::avx2_fma()) return 1;
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 21;
  const bool softplus = argc > 2 ? std::atoi(argv[2]) != 0 : true;
  const bool gate = argc > 3 ? std::atoi(argv[3]) != 0 : true;
  constexpr int64_t dim = 1536, N = 16, kBlock = 256;
  constexpr int reps = 500;
  std::mt19937 g(1);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  std::vector<float> A(dim * N), B(N), C(N), D(dim), u(dim), delta(dim), z(dim), bias(dim), x(dim * N, 0.0f), out(dim);
  for (auto& v : A) v = -0.05f - 0.975f * (U(g) + 1.0f);  // as bench/recurrent-ab.bench.mjs: [-2, -0.05]
  for (auto* p : {&B, &C, &D, &u, &delta, &z})
    for (auto& v : *p) v = U(g);
  for (auto& v : bias) v = -3.0f + U(g);  // [-4, -2]
  alignas(64) float probe[1024];  // as exp_probe_f32 (ssm.cc): the map x -> e^x - 1.5 diverges from x > ~0.86
  for (int i = 0; i < 1024; ++i) probe[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
  // both called through volatile pointers, as the library calls them through its Kernels table: with the probe's
  // arguments known, GCC interchanged its loops into one dependent chain per vector (~60% slower)
  auto* volatile step = tf::ssm_step_fused<tf::simd::Avx2>;
  auto* volatile exp_probe = tf::ssm_exp_probe<tf::simd::Avx2>;
  std::vector<double> ts, tp, ratio;
  for (int r = 0; r < rounds; ++r) {
    double t0 = cpu_us();
    for (int i = 0; i < reps; ++i)
      for (int64_t d0 = 0; d0 < dim; d0 += kBlock)
        step(delta.data() + d0, bias.data() + d0, softplus, u.data() + d0, A.data() + d0 * N, B.data(), dim, C.data(), dim,
             gate ? D.data() + d0 : nullptr, gate ? z.data() + d0 : nullptr, x.data() + d0 * N, out.data() + d0, d0,
             std::min(kBlock, dim - d0), N);
    ts.push_back((cpu_us() - t0) / reps);
    t0 = cpu_us();
    for (int i = 0; i < reps; ++i) exp_probe(probe, 1024, 27);  // 27648 exps
    tp.push_back((cpu_us() - t0) / reps);
    ratio.push_back(ts.back() / tp.back());
  }
  std::printf("%d rounds x %d calls, CPU time; softplus %d, D and z %d\n", rounds, reps, softplus, gate);
  report("step kernel, dim 1536 N 16", ts, "us");
  report("exp probe, 27648 exps", tp, "us");
  report("step / probe (per round)", ratio, "x ");
  std::printf("(checksum %g)\n", static_cast<double>(out[5] + x[77]));
  return 0;
}
