// The recurrent retention kernel alone (no N-API, no argument checks, no thread pool): retention_rec_group of the AVX2
// level over the heads h = 0..H-1 as one group (the one-thread op; batch 1, RetNet decays), a sequence of T tokens from a fresh state, then one-token steps
// on the final state (in place), against an FMA probe (10 independent chains of 8-lane FMAs: the level's peak, 32
// flops per cycle on the build VM). Every round times the probe, the sequence and the steps in CPU time of this thread
// (CLOCK_THREAD_CPUTIME_ID); "of floor" = (4 dk dv flops per token and head at the probe's rate) / time, from the
// round's own probe, so another VM's load on the core slows both sides alike; best and median of the rounds. The
// sequence's q, k, v and out stay in L2/L3 between rounds (T 256: 1.5 MB of out), so this is the kernel's hot figure;
// bench/recurrent.bench.mjs measures the op through N-API over longer sequences. Built by hand, not by the package
// build:
//
//   g++ -O3 -fno-math-errno -std=gnu++17 -I. bench/native/retention-rec-kernel.cc -o /tmp/retention-rec-kernel
//   /tmp/retention-rec-kernel [T = 256] [rounds = 31] [dk = 64] [dv = 128] [heads = 12]
//
// Run from the repository root (the includes are relative to it). Compare two checkouts by building it in each and
// running the binaries alternately (or, for a steadier A/B, both kernels in one process).
#include "bench/native/harness.h"
#include "native/core/simd.h"
#include "native/core/dispatch.h"
#include "native/cpu/retention/retention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <vector>

TF_SIMD_BEGIN_AVX2
#include "native/cpu/retention/retention_impl.h"
TF_SIMD_END

namespace {
using harness::cpu_us;
using harness::fma_probe;


double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
}  // namespace

int main(int argc, char** argv) {
  if (!harness::avx2_fma()) return 1;
  const int64_t T = argc > 1 ? std::atoll(argv[1]) : 256;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 31;
  const int64_t dk = argc > 3 ? std::atoll(argv[3]) : 64, dv = argc > 4 ? std::atoll(argv[4]) : 128;
  const int64_t H = argc > 5 ? std::atoll(argv[5]) : 12;
  if (T < 2 || rounds < 1 || dk < 1 || dv < 1 || H < 1) {
    std::printf("usage: retention-rec-kernel [T >= 2] [rounds] [dk] [dv] [heads]\n");
    return 1;
  }
  std::mt19937 gen(1);
  std::normal_distribution<float> nd;
  std::vector<float> q(H * T * dk), k(H * T * dk), v(T * H * dv), out(T * H * dv), kv(H * dv * dk), scale(H), decay(H);
  const float kscale = 1.0f / std::sqrt(static_cast<float>(dk));
  for (auto& x : q) x = nd(gen);
  for (auto& x : k) x = nd(gen) * kscale;
  for (auto& x : v) x = nd(gen);
  for (int64_t h = 0; h < H; ++h) decay[h] = static_cast<float>(std::log(1.0 - std::pow(2.0, -5.0 - static_cast<double>(h))));

  tf::cpu::RetentionArgs seq;
  seq.q = q.data();
  seq.k = k.data();
  seq.v = v.data();
  seq.decay = decay.data();
  seq.out = out.data();
  seq.kv_out = kv.data();
  seq.scale_out = scale.data();
  seq.batch = 1;
  seq.heads = H;
  seq.T = T;
  seq.dk = dk;
  seq.dv = dv;
  seq.form = tf::cpu::RetentionForm::Recurrent;
  // the steps: the first token's q, k, v on the sequence's final state, updated in place
  std::vector<float> step_out(H * dv), step_scale(H);
  tf::cpu::RetentionArgs step = seq;
  step.T = 1;
  step.out = step_out.data();
  step.kv_in = kv.data();
  step.scale_in = scale.data();
  step.scale_out = step_scale.data();
  std::vector<float> qs(H * dk), ks(H * dk);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t d = 0; d < dk; ++d) {
      qs[h * dk + d] = q[h * T * dk + d];
      ks[h * dk + d] = k[h * T * dk + d];
    }
  step.q = qs.data();
  step.k = ks.data();

  // the scratch native/cpu/retention/retention.cc gives a group of H heads
  std::vector<float> scratch(static_cast<size_t>(tf::cpu::retention_rec_group_floats(dk, H)));

  const long probe_n = 400000;
  const double flops = 4.0 * static_cast<double>(dk * dv * T * H);
  const int steps = 200;
  std::vector<double> t_seq, t_step, f_seq;
  float sink = 0.0f;
  for (int r = 0; r < rounds; ++r) {
    double t0 = cpu_us();
    sink += fma_probe(probe_n);
    const double probe_us = cpu_us() - t0;
    const double peak = probe_n * 10.0 * 16.0 / probe_us;  // flops per µs
    t0 = cpu_us();
    tf::retention_rec_group<tf::simd::Avx2>(seq, 0, 0, H, scratch.data());
    t_seq.push_back(cpu_us() - t0);
    f_seq.push_back(flops / peak / t_seq.back());
    t0 = cpu_us();
    for (int i = 0; i < steps; ++i)
      tf::retention_rec_group<tf::simd::Avx2>(step, 0, 0, H, scratch.data());
    t_step.push_back((cpu_us() - t0) / steps);
  }
  double checksum = 0.0;
  for (float x : out) checksum += x;
  std::printf("retention recurrent h%lld %lldx%lld T %lld: %.0f µs best, %.0f median; of floor %.1f%% best, %.1f%% median "
              "(flops at the round's FMA probe)\n",
              static_cast<long long>(H), static_cast<long long>(dk), static_cast<long long>(dv), static_cast<long long>(T),
              best(t_seq), median(t_seq), 100.0 * *std::max_element(f_seq.begin(), f_seq.end()), 100.0 * median(f_seq));
  std::printf("one-token step (all heads, kernel only): %.2f µs best, %.2f median   [checksums %.6g, probe %.4g]\n",
              best(t_step), median(t_step), checksum, static_cast<double>(sink));
  return 0;
}
