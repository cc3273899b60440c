#include "ssm.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "ssm_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_ssm_scalar(Kernels& k) { fill_ssm<simd::Scalar>(k); }

namespace cpu {
namespace {

// The state dimension padded to a multiple of the widest vector (16 floats): every level loads full vectors.
constexpr int64_t kPad = 16;
inline int64_t padded(int64_t n) { return (n + kPad - 1) / kPad * kPad; }

// B or C as the scan reads it: row l of channel d at base(b, d) + l * step, Np floats each (zero-padded).
struct ScanOperand {
  const float* p = nullptr;
  int64_t step = 0;       // floats between steps l (0: time-invariant)
  int64_t per_group = 0;  // floats between groups (variable) or channels (invariant)
  int64_t groups = 0;     // 0: invariant
  int64_t ch_per_group = 1;
  const float* row(int64_t b, int64_t d) const {
    if (groups == 0) return p + d * per_group;
    return p + (b * groups + d / ch_per_group) * per_group;
  }
};

// A repacked copy goes into `frame` (scratch: every float of it written here, the padding with zeros).
ScanOperand prepare(ScratchFrame& frame, const float* src, int64_t groups, int64_t batch, int64_t dim, int64_t L,
                    int64_t N, int64_t Np) {
  ScanOperand op;
  op.groups = groups;
  if (groups == 0) {  // [dim, N]
    op.step = 0;
    op.per_group = Np;
    if (Np == N) {
      op.p = src;
    } else {
      float* buf = frame.floats(checked_count(dim, Np));
      for (int64_t d = 0; d < dim; ++d) {
        std::memcpy(buf + d * Np, src + d * N, N * sizeof(float));
        std::fill(buf + d * Np + N, buf + (d + 1) * Np, 0.0f);
      }
      op.p = buf;
    }
    return op;
  }
  op.ch_per_group = dim / groups;
  op.step = Np;
  op.per_group = L * Np;
  if (L == 1 && Np == N) {  // [batch, G, N, 1] is already [batch, G, 1, N]
    op.p = src;
    return op;
  }
  // [batch, G, N, L] -> [batch, G, L, Np], in blocks of 64 steps (both sides stay in cache)
  float* dst = frame.floats(checked_count(batch, groups, L, Np));
  constexpr int64_t kB = 64;
  const int64_t lblocks = (L + kB - 1) / kB;
  parallel_for(0, batch * groups * lblocks, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const int64_t bg = i / lblocks, l0 = (i % lblocks) * kB, l1 = std::min(L, l0 + kB);
      const float* in = src + bg * N * L;
      float* o = dst + bg * L * Np;
      for (int64_t l = l0; l < l1; ++l)
        for (int64_t n = N; n < Np; ++n) o[l * Np + n] = 0.0f;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t l = l0; l < l1; ++l) o[l * Np + n] = in[n * L + l];
    }
  });
  op.p = dst;
  return op;
}

}  // namespace

// One token (L = 1) with time-varying B and C, N a multiple of 16 and the state updated in place: blocks of
// consecutive channels, one fused kernel call each (delta, the rows' updates and the gate; the per-token cost of
// generation). The same arithmetic per element as the general path: the same bits. Blocks of 256 channels: a call
// with one block stays on the calling thread; Mamba-130m's 1536 channels make 6 (2 threads: 3 each).
static void selective_step_blocks(const SelectiveScanArgs& a) {
  const Kernels& k = kernels();
  const int64_t dim = a.dim, N = a.N;
  constexpr int64_t kBlock = 256;
  const int64_t nblocks = (dim + kBlock - 1) / kBlock;
  const int64_t bdiv = dim / a.b_groups, cdiv = dim / a.c_groups;
  parallel_for(0, a.batch * nblocks, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const int64_t b = i / nblocks, d0 = (i % nblocks) * kBlock, n = std::min(kBlock, dim - d0);
      const int64_t off = b * dim + d0;
      k.ssm_step_fused_f32(a.delta + off, a.delta_bias ? a.delta_bias + d0 : nullptr, a.delta_softplus, a.u + off,
                           a.A + d0 * N, a.B + b * a.b_groups * N, bdiv, a.C + b * a.c_groups * N, cdiv,
                           a.D ? a.D + d0 : nullptr, a.z ? a.z + off : nullptr, a.last_state + off * N, a.out + off, d0,
                           n, N);
    }
  });
}

void selective_scan_f32(const SelectiveScanArgs& a) {
  const int64_t rows = a.batch * a.dim, L = a.L, N = a.N, Np = padded(N);
  if (rows == 0) return;
  if (L == 1 && N == Np && a.b_groups > 0 && a.c_groups > 0 && a.state_in && a.state_in == a.last_state) {
    selective_step_blocks(a);
    return;
  }
  ScratchFrame frame;
  const float* A = a.A;
  if (Np != N) {  // A padded with zeros
    float* abuf = frame.floats(checked_count(a.dim, Np));
    for (int64_t d = 0; d < a.dim; ++d) {
      std::memcpy(abuf + d * Np, a.A + d * N, N * sizeof(float));
      std::fill(abuf + d * Np + N, abuf + (d + 1) * Np, 0.0f);
    }
    A = abuf;
  }
  const ScanOperand B = prepare(frame, a.B, a.b_groups, a.batch, a.dim, L, N, Np);
  const ScanOperand C = prepare(frame, a.C, a.c_groups, a.batch, a.dim, L, N, Np);
  const Kernels& k = kernels();
  auto delta_fn = k.ssm_delta_f32;
  auto scan_fn = k.ssm_scan_f32;
  auto gate_fn = k.ssm_gate_f32;
  const int64_t grain = std::max<int64_t>(1, 256 / std::max<int64_t>(L, 1));
  parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
    ScratchFrame task;
    float* x = task.floats(checked_count(Np));  // the state, written whole for each row
    for (int64_t r = s; r < e; ++r) {
      const int64_t b = r / a.dim, d = r % a.dim;
      const int64_t off = r * L;
      float* o = a.out + off;
      // the scan reads dt from `o` and writes y over it, step by step; then the gate runs in place
      delta_fn(a.delta + off, a.delta_bias ? a.delta_bias + d : nullptr, 0, a.delta_softplus, o, static_cast<size_t>(L));
      if (a.state_in)
        std::memcpy(x, a.state_in + r * N, N * sizeof(float));
      else
        std::fill(x, x + N, 0.0f);
      std::fill(x + N, x + Np, 0.0f);
      const float* Ar = A + d * Np;
      scan_fn(o, a.u + off, Ar, B.row(b, d), B.step, C.row(b, d), C.step, x, o, L, N);
      if (a.D || a.z)
        gate_fn(o, a.u + off, a.D ? a.D + d : nullptr, 0, a.z ? a.z + off : nullptr, o, static_cast<size_t>(L));
      if (a.last_state) std::memcpy(a.last_state + r * N, x, N * sizeof(float));
    }
  });
}

void causal_conv1d_f32(const float* x, const float* w, const float* bias, const float* state_in, bool silu, float* out,
                       float* state_out, int64_t batch, int64_t dim, int64_t L, int64_t k) {
  const int64_t rows = batch * dim, h = k - 1;
  if (rows == 0) return;
  if (L == 1) {  // one token (generation): each channel's taps in its own rows, then silu over the channels
    auto step = kernels().ssm_conv_step_f32;
    parallel_for(0, batch, 1, [&](int64_t s, int64_t e) {
      for (int64_t b = s; b < e; ++b)
        step(x + b * dim, w, k, bias, state_in ? state_in + b * dim * h : nullptr,
             state_out ? state_out + b * dim * h : nullptr, silu, out + b * dim, dim);
    });
    return;
  }
  // Per row: the first min(h, L) outputs (they read the state) from a small buffer [state, x[0 .. min(h, L))], the
  // rest straight from x (output l >= h reads x[l - h .. l]); the same operations per output as one pass over
  // [state, x] (the silu is elementwise), without copying the row.
  auto fn = kernels().ssm_conv_row_f32;
  const int64_t grain = std::max<int64_t>(1, 1024 / std::max<int64_t>(L + h, 1));  // L + h = 0: k = 1, empty x
  const int64_t nh = std::min(h, L);  // outputs that read the state
  parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
    ScratchFrame task;
    float* const xp = task.floats(checked_count(h + nh));  // written whole for each row
    for (int64_t r = s; r < e; ++r) {
      const int64_t d = r % dim;
      const float* xr = x + r * L;
      const float* wr = w + d * k;
      const float b = bias ? bias[d] : 0.0f;
      if (h > 0) {
        if (state_in)
          std::memcpy(xp, state_in + r * h, h * sizeof(float));
        else
          std::fill(xp, xp + h, 0.0f);
        if (nh > 0) std::memcpy(xp + h, xr, nh * sizeof(float));
        fn(xp, wr, k, b, silu, out + r * L, nh);
      }
      if (L > nh) fn(xr, wr, k, b, silu, out + r * L + nh, L - nh);
      if (state_out && h > 0) {  // the last h values of [state, x]
        float* so = state_out + r * h;
        if (L >= h) {
          std::memcpy(so, xr + L - h, h * sizeof(float));
        } else {  // xp holds [state, x[0 .. L)]: its last h
          std::memmove(so, xp + L, h * sizeof(float));
        }
      }
    }
  });
}

double exp_probe_f32(int64_t n, int64_t passes) {
  ScratchFrame frame;
  float* const x = frame.floats(checked_count(n));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
  auto fn = kernels().ssm_exp_probe_f32;
  fn(x, static_cast<size_t>(n), 1);  // warm up
  const auto t0 = std::chrono::steady_clock::now();
  fn(x, static_cast<size_t>(n), passes);
  const auto t1 = std::chrono::steady_clock::now();
  volatile float sink = x[0];
  (void)sink;
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace cpu
}  // namespace tf
