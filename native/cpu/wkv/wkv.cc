#include "wkv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "../../core/dispatch.h"
#include "../../core/threadpool.h"
#include "wkv_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_wkv_scalar(Kernels& k) { fill_wkv<simd::Scalar>(k); }

namespace cpu {
namespace {

// w = -exp(time_decay) in float, as upstream computes it (an overflow to -inf is handled: e^-inf = 0), kept per
// calling thread for the last time_decay it saw: a generation loop passes the same parameters every token, and for
// one token of C 2048 the C scalar exps (about 9 us) cost more than the rest of the kernel. Recomputed whenever the
// contents differ (compared bit for bit), so the values are always those of time_decay.
const float* decay_weights(const float* time_decay, int64_t C) {
  thread_local std::vector<float> key, w;
  const size_t n = static_cast<size_t>(C);
  if (key.size() != n || std::memcmp(key.data(), time_decay, n * sizeof(float)) != 0) {
    key.assign(time_decay, time_decay + n);
    w.resize(n);
    for (size_t c = 0; c < n; ++c) w[c] = -std::exp(time_decay[c]);
  }
  return w.data();
}

}  // namespace

void wkv_f32(const float* time_decay, const float* time_first, const float* k, const float* v, float* out,
             int64_t batch, int64_t T, int64_t C, float* num, float* den, float* max) {
  if (batch == 0 || C == 0) return;
  const float* wp = decay_weights(time_decay, C);
  auto fn = kernels().wkv_f32;
  // Channel blocks (multiples of 16, every vector width), as few and as wide as the thread count allows: a block
  // narrower than C reads each token's k and v as a run of its own at a stride of C floats, and on the build VM
  // (C 2048, data in DRAM) one block of all C channels took ~25% less time per channel-step than two of 1024 and
  // half as much as four of 512. So batch x parts = lcm(batch, threads) items: an equal number per thread (one
  // thread: one block per sequence, whose rows are contiguous across the tokens). Each channel's arithmetic is
  // the same whatever the split, so the results do not depend on it (nor on the thread count).
  const int64_t threads = num_threads();
  const int64_t parts = threads / std::gcd(batch, threads);
  const int64_t kBlock = std::max<int64_t>(16, ((C + parts - 1) / parts + 15) / 16 * 16);
  const int64_t nblocks = (C + kBlock - 1) / kBlock;
  parallel_for(0, batch * nblocks, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const int64_t b = i / nblocks, c0 = (i % nblocks) * kBlock, nc = std::min(kBlock, C - c0);
      const int64_t off = b * T * C + c0, soff = b * C + c0;
      fn(wp + c0, time_first + c0, k + off, v + off, out + off, T, C, nc, num + soff, den + soff, max + soff);
    }
  });
}

void token_shift_f32(const float* x, const float* state, const float* const* mixes, int nmix, float* const* outs,
                     int64_t batch, int64_t T, int64_t C, float* state_out) {
  if (batch > 0 && T > 0 && C > 0 && nmix > 0) {
    // 1 - mix of every mix, once per call (the worker threads read the caller's scratch)
    ScratchFrame frame;
    float* const om = frame.floats(checked_count(nmix, C));
    for (int i = 0; i < nmix; ++i)
      for (int64_t c = 0; c < C; ++c) om[i * C + c] = 1.0f - mixes[i][c];
    const int64_t grain = std::max<int64_t>(1, 16384 / (C * nmix));  // ~16k outputs a chunk at least
    parallel_for(0, batch * T, grain, [&](int64_t s, int64_t e) {
      for (int64_t row = s; row < e; ++row) {
        const int64_t t = row % T;
        const float* xr = x + row * C;
        const float* pr = t > 0 ? xr - C : state ? state + (row / T) * C : nullptr;
        for (int i = 0; i < nmix; ++i) {
          const float *m = mixes[i], *o = om + i * C;
          float* out = outs[i] + row * C;
          if (pr)
            for (int64_t c = 0; c < C; ++c) out[c] = xr[c] * m[c] + pr[c] * o[c];
          else  // upstream's zero padding, computed as such (0 * (1 - mix): NaN for an infinite mix, as in torch)
            for (int64_t c = 0; c < C; ++c) out[c] = xr[c] * m[c] + 0.0f * o[c];
        }
      }
    });
  }
  if (!state_out) return;
  for (int64_t b = 0; b < batch; ++b) {
    float* dst = state_out + b * C;
    const float* src = T > 0 ? x + (b * T + T - 1) * C : state ? state + b * C : nullptr;
    if (!src)
      std::fill(dst, dst + C, 0.0f);
    else if (src != dst)
      std::memmove(dst, src, static_cast<size_t>(C) * sizeof(float));
  }
}

}  // namespace cpu
}  // namespace tf
