// State-space kernels of Mamba (native/cpu/ssm): the selective scan with exactly the semantics of mamba_ssm's
// `selective_scan_ref` (channel-first layouts), its one-token step (the same scan with L = 1 and the state
// updated in place), and the causal depthwise conv1d that Mamba runs before the scan, with a rolling state.
//
// Selective scan, per batch b, channel d and step l, with dt = softplus(delta + deltaBias) (or delta + deltaBias):
//   x_l = exp(dt_l A_d) * x_{l-1} + dt_l u_l B_l        (x: the state, N values per (b, d))
//   y_l = <x_l, C_l> (+ D_d u_l) (* silu(z_l))
// SIMD runs over the state dimension N (B and C are first laid out [L, N], zero-padded to a multiple of 16),
// the thread pool over (batch, channel) rows. Every row is computed by one thread in one fixed order: results do
// not depend on the thread count, and a run split through the returned state equals one run bit for bit.
#pragma once
#include <cstdint>

namespace tf::cpu {

struct SelectiveScanArgs {
  const float* u = nullptr;      // [batch, dim, L]
  const float* delta = nullptr;  // [batch, dim, L]
  const float* A = nullptr;      // [dim, N]
  // B and C: groups == 0: time-invariant [dim, N]; groups G >= 1: [batch, G, N, L], group g serving channels
  // g*dim/G .. (g+1)*dim/G - 1 (a 3-D [batch, N, L] is G = 1).
  const float* B = nullptr;
  int64_t b_groups = 1;
  const float* C = nullptr;
  int64_t c_groups = 1;
  const float* D = nullptr;           // [dim] or null
  const float* z = nullptr;           // [batch, dim, L] or null
  const float* delta_bias = nullptr;  // [dim] or null
  bool delta_softplus = false;
  const float* state_in = nullptr;  // [batch, dim, N] initial state, or null for zeros
  float* out = nullptr;             // [batch, dim, L]
  float* last_state = nullptr;      // [batch, dim, N] or null; may equal state_in (updated in place)
  int64_t batch = 0, dim = 0, L = 0, N = 0;
};

void selective_scan_f32(const SelectiveScanArgs& a);

// Causal depthwise conv1d: out[b, d, l] = bias[d] + sum_i w[d, i] xp[b, d, l + i], i < k, where xp is the
// sequence x [batch, dim, L] preceded by the k - 1 previous inputs (state_in [batch, dim, k-1], or zeros);
// optional silu. state_out [batch, dim, k-1] (may be null) receives the last k - 1 values of xp; it may be state_in
// itself (updated in place: each row is read before it is written), but must not overlap it otherwise.
void causal_conv1d_f32(const float* x, const float* w, const float* bias, const float* state_in, bool silu, float* out,
                       float* state_out, int64_t batch, int64_t dim, int64_t L, int64_t k);

// Seconds for `passes` sweeps of the active level's fastest exp (e^x as simd::exp2 of x log2e, ssm_exp_probe) over an
// L1-resident buffer of n floats (one thread).
double exp_probe_f32(int64_t n, int64_t passes);

}  // namespace tf::cpu
