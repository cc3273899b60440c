#include "linformer.h"

#include <cstddef>

#include "../../core/scratch.h"
#include "../attention/flash.h"
#include "../gemm/gemm.h"

namespace tf::cpu {

void linformer_attention_f32(const LinformerParams& p) {
  const int64_t heads = p.B * p.Hkv, Nk = p.Nk, D = p.D, Kp = p.Kp;
  if (p.B * p.H * p.Nq == 0) return;
  // scratch for K' and V': written whole by the products below; zero-filled only for an empty sequence, which skips
  // them
  ScratchFrame frame;
  const size_t n = checked_count(2, heads, Kp, D);
  float* kp = Nk > 0 ? frame.floats(n) : frame.zeros<float>(n);
  float* vp = kp + heads * Kp * D;
  // K'[bh] = E[:Nk]ᵀ K[bh]: one product per (batch, key/value head), E broadcast (stride 0)
  // (an empty sequence leaves K' = V' = 0: uniform attention over zero values)
  if (Nk > 0 && heads > 0) {
    sgemm_batched(true, false, Kp, D, Nk, 1.0f, p.proj_k, Kp, 0, p.k, D, Nk * D, 0.0f, kp, D, Kp * D, heads);
    sgemm_batched(true, false, Kp, D, Nk, 1.0f, p.proj_v ? p.proj_v : p.proj_k, Kp, 0, p.v, D, Nk * D, 0.0f, vp, D,
                  Kp * D, heads);
  }
  FlashParams f;
  f.q = p.q;
  f.k = kp;
  f.v = vp;
  f.out = p.out;
  f.B = p.B;
  f.Hq = p.H;
  f.Hkv = p.Hkv;
  f.Nq = p.Nq;
  f.Nk = Kp;
  f.D = D;
  f.q_sb = p.H * p.Nq * D, f.q_sh = p.Nq * D, f.q_sn = D;
  f.k_sb = p.Hkv * Kp * D, f.k_sh = Kp * D, f.k_sn = D;
  f.v_sb = f.k_sb, f.v_sh = f.k_sh, f.v_sn = D;
  f.o_sb = f.q_sb, f.o_sh = f.q_sh, f.o_sn = D;
  f.scale = p.scale;
  flash_attention_f32(f);
}

}  // namespace tf::cpu
